rule evaluate:
    input:
        counts=expand("results/{{dataset}}/{run}/counts.npz", run=RUNS),
    output:
        sweep="results/{dataset}/sweep.csv",
        summary="results/{dataset}/summary.csv",
        frames="results/{dataset}/frames.csv",
    params:
        runs=run_table(),
    log:
        "results/logs/evaluate/{dataset}.log",
    script:
        "../scripts/evaluate.py"


rule summary:
    input:
        expand("results/{dataset}/summary.csv", dataset=GT_DATASETS),
    output:
        "results/summary.csv",
    log:
        "results/logs/summary.log",
    script:
        "../scripts/summary.py"
