from bgsub.config import Run
from bgsub.pipeline import run_step
from bgsub.tiling import gather_models

p, out = snakemake.params, snakemake.output
run_step(gather_models, snakemake.input.split, list(snakemake.input.models), run=Run.from_dict(p.run),
         model_path=out.model, background_path=out.background, log=snakemake.log[0])
