from bgsub.pipeline import run_step
from bgsub.plots import write_overlay_page

run_step(write_overlay_page, snakemake.wildcards.dataset, list(snakemake.params.runs), list(snakemake.input),
         snakemake.output[0], log=snakemake.log[0])
