from bgsub.pipeline import run_step
from bgsub.plots import write_mask_overlay

p = snakemake.params
run_step(write_mask_overlay, snakemake.wildcards.dataset, p.spec, snakemake.input.split, snakemake.input.masks,
         snakemake.output[0], max_frames=p.gif_frames, max_width=p.gif_width, log=snakemake.log[0])
