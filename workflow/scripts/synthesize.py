from bgsub.pipeline import run_step, synthesize

run_step(synthesize, snakemake.output[0], **snakemake.params.options, log=snakemake.log[0])
