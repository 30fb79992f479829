from bgsub.pipeline import run_step
from bgsub.tiling import gather_scores

out = snakemake.output
run_step(gather_scores, snakemake.input.split, list(snakemake.input.strips), list(snakemake.input.counts),
         masks_dir=out.masks, counts_path=out.counts, log=snakemake.log[0])
