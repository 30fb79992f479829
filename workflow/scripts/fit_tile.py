from bgsub.pipeline import run_step
from bgsub.tiling import fit_tile

p = snakemake.params
run_step(fit_tile, snakemake.wildcards.dataset, p.spec, snakemake.input.split, p.kind, dict(p.params),
         tile=int(snakemake.wildcards.tile), tiles=p.tiles, model_path=snakemake.output[0], block_size=p.block_size,
         log=snakemake.log[0])
