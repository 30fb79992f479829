from bgsub.pipeline import run_step, split

p = snakemake.params
run_step(split, snakemake.wildcards.dataset, p.spec, snakemake.output[0], max_train_frames=p.max_train_frames,
         log=snakemake.log[0])
