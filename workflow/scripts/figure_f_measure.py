from bgsub.pipeline import run_step
from bgsub.plots import plot_f_measures

run_step(plot_f_measures, snakemake.input.summary, list(snakemake.input.sweeps), snakemake.output[0],
         dpi=snakemake.params.dpi, log=snakemake.log[0])
