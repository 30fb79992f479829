from bgsub.pipeline import run_step
from bgsub.plots import plot_frame_f

run_step(plot_frame_f, snakemake.input[0], snakemake.output[0], dpi=snakemake.params.dpi, log=snakemake.log[0])
