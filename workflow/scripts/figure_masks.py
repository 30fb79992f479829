from bgsub.pipeline import run_step
from bgsub.plots import plot_mask_grid

p = snakemake.params
run_step(plot_mask_grid, snakemake.wildcards.dataset, p.spec, snakemake.input.split, p.runs, snakemake.input.masks,
         snakemake.output[0], n_frames=p.grid_frames, dpi=p.dpi, log=snakemake.log[0])
