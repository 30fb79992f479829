from bgsub.pipeline import run_step
from bgsub.plots import plot_f_threshold

run_step(plot_f_threshold, snakemake.input.sweep, snakemake.input.summary, snakemake.output[0],
         dpi=snakemake.params.dpi, log=snakemake.log[0])
