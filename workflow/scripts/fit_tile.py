from bgsub.config import Dataset, Run
from bgsub.pipeline import run_step
from bgsub.tiling import fit_tile

p = snakemake.params
run_step(fit_tile, Dataset(snakemake.wildcards.dataset, p.spec), Run.from_dict(p.run), snakemake.input.split,
         tile=int(snakemake.wildcards.tile), tiles=p.tiles, model_path=snakemake.output[0], block_size=p.block_size,
         log=snakemake.log[0])
