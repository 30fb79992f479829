from bgsub.config import Dataset, Run
from bgsub.pipeline import run_step
from bgsub.tiling import score_tile

p, out = snakemake.params, snakemake.output
run_step(score_tile, Dataset(snakemake.wildcards.dataset, p.spec), Run.from_dict(p.run), snakemake.input.split,
         snakemake.input.model, tile=int(snakemake.wildcards.tile), tiles=p.tiles, strip_path=out.strip,
         counts_path=out.counts, block_size=p.block_size, log=snakemake.log[0])
