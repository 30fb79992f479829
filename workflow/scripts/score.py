from bgsub.config import Dataset, Run
from bgsub.pipeline import run_step, score

p, out = snakemake.params, snakemake.output
run_step(score, Dataset(snakemake.wildcards.dataset, p.spec), Run.from_dict(p.run), snakemake.input.split,
         snakemake.input.model, out.masks, out.counts, block_size=p.block_size, log=snakemake.log[0])
