from bgsub.pipeline import run_step, score

p, out = snakemake.params, snakemake.output
run_step(score, snakemake.wildcards.dataset, p.spec, snakemake.input.split, snakemake.input.model, kind=p.kind,
         params=dict(p.params), threshold=p.threshold, thresholds=p.thresholds, masks_dir=out.masks,
         counts_path=out.counts, block_size=p.block_size, postprocess=dict(p.postprocess), log=snakemake.log[0])
