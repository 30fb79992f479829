from bgsub.config import Dataset, Run
from bgsub.pipeline import fit, run_step

p, out = snakemake.params, snakemake.output
run_step(fit, Dataset(snakemake.wildcards.dataset, p.spec), Run.from_dict(p.run), snakemake.input.split, out.model,
         out.background, log=snakemake.log[0])
