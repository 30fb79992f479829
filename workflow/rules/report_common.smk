# Helpers of figures.smk and report.smk (kept apart from rules, as `snakemake --lint` asks).
FIG = CFG["figures"]
CATEGORIES = {name: spec["category"] for name, spec in DATASETS.items() if "category" in spec and name in GT_DATASETS}


def many_k_methods():
    """Methods run at more than one number of components (they get an F-against-K figure)."""
    ks = {}
    for run in RUNS.values():
        if run.n_components is not None:
            ks.setdefault(run.method, set()).add(run.n_components)
    return [method for method, values in ks.items() if len(values) > 1]


def report_targets():
    """Everything the report shows, for `rule all`."""
    targets = ["results/summary.html", "results/categories.csv", "results/timings.csv", "results/figures/timings.png"]
    if GT_DATASETS:
        targets.append("results/figures/f_measure.png")
    if many_k_methods():
        targets.append("results/figures/f_k.png")
    for name in DATASETS:
        targets.append(f"results/{name}/figures/overlays.html")
        if name in GT_DATASETS:
            targets += [f"results/{name}/figures/pr.png", f"results/{name}/figures/f_frames.png"]
    return targets


def fig_report(path, caption, category, subcategory, **labels):
    """An output shown in Snakemake's report (snakemake --report results/report.html)."""
    return report(path, caption=f"../report/{caption}.rst", category=category, subcategory=subcategory,
                  labels=labels or None)
