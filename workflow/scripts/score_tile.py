from bgsub.pipeline import run_step
from bgsub.tiling import score_tile

p, out = snakemake.params, snakemake.output
run_step(score_tile, snakemake.wildcards.dataset, p.spec, snakemake.input.split, snakemake.input.model, kind=p.kind,
         params=dict(p.params), tile=int(snakemake.wildcards.tile), tiles=p.tiles, threshold=p.threshold,
         thresholds=p.thresholds, strip_path=out.strip, counts_path=out.counts, block_size=p.block_size,
         log=snakemake.log[0])
