from bgsub.pipeline import run_step
from bgsub.plots import plot_backgrounds

p = snakemake.params
run_step(plot_backgrounds, snakemake.wildcards.dataset, p.spec, snakemake.input.split, p.runs,
         snakemake.input.backgrounds, snakemake.output[0], dpi=p.dpi, log=snakemake.log[0])
