from bgsub.pipeline import evaluate, run_step

out = snakemake.output
run_step(evaluate, snakemake.wildcards.dataset, snakemake.params.runs, snakemake.input.counts, out.sweep,
         out.summary, out.frames, log=snakemake.log[0])
