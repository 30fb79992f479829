from bgsub.pipeline import fit, run_step

p, out = snakemake.params, snakemake.output
run_step(fit, snakemake.wildcards.dataset, p.spec, snakemake.input.split, p.kind, dict(p.params), out.model,
         out.background, log=snakemake.log[0])
