from bgsub.aggregate import write_categories
from bgsub.pipeline import run_step

run_step(write_categories, snakemake.input[0], dict(snakemake.params.categories), snakemake.output[0],
         log=snakemake.log[0])
