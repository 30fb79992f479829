from bgsub.pipeline import run_step
from bgsub.tables import write_summary_html

run_step(write_summary_html, snakemake.input.summary, list(snakemake.input.sweeps), snakemake.output[0],
         log=snakemake.log[0])
