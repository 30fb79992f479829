from bgsub.aggregate import collect_timings
from bgsub.pipeline import run_step

p = snakemake.params
splits = dict(zip(p.datasets, snakemake.input.splits))
run_step(collect_timings, "results/benchmarks", splits, list(p.runs), snakemake.output[0], log=snakemake.log[0])
