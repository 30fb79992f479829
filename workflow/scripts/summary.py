from bgsub.pipeline import run_step, summarize

run_step(summarize, list(snakemake.input), snakemake.output[0], log=snakemake.log[0])
