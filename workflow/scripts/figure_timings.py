from bgsub.pipeline import run_step
from bgsub.plots import plot_timings

run_step(plot_timings, snakemake.input[0], snakemake.output[0], dpi=snakemake.params.dpi, log=snakemake.log[0])
