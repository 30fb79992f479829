# Tables of the report: CDnet category averages, a results page and the time of every job. The report itself is
# `snakemake --report results/report.html` after a run (`make report`); its front page is workflow/report/workflow.rst.


rule report_categories:
    input:
        "results/summary.csv",
    output:
        report("results/categories.csv", caption="../report/categories.rst", category="Overview",
               subcategory="tables", labels={"table": "CDnet categories"}),
    params:
        categories=CATEGORIES,
    log:
        "results/logs/report/categories.log",
    script:
        "../scripts/report_categories.py"


rule report_summary:
    input:
        summary="results/summary.csv",
        sweeps=expand("results/{dataset}/sweep.csv", dataset=GT_DATASETS),
    output:
        report("results/summary.html", caption="../report/summary.rst", category="Overview",
               subcategory="tables", labels={"table": "summary"}),
    log:
        "results/logs/report/summary.log",
    script:
        "../scripts/report_summary.py"


rule report_timings:
    input:
        # after every fit and score job (their benchmark files are read from results/benchmarks/)
        counts=expand("results/{dataset}/{run}/counts.npz", dataset=DATASETS, run=RUNS),
        splits=expand("results/{dataset}/split.json", dataset=DATASETS),
    output:
        report("results/timings.csv", caption="../report/timings_table.rst", category="Overview",
               subcategory="timings", labels={"table": "timings"}),
    params:
        datasets=list(DATASETS),
        runs=list(RUNS),
    log:
        "results/logs/report/timings.log",
    script:
        "../scripts/report_timings.py"
