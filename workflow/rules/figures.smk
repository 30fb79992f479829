rule figure_backgrounds:
    input:
        backgrounds=expand("results/{{dataset}}/{run}/background.png", run=RUNS),
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        "results/{dataset}/figures/backgrounds.png",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        runs=list(RUNS),
        figures=CFG["figures"],
    log:
        "results/logs/figures/{dataset}_backgrounds.log",
    script:
        "../scripts/figure_backgrounds.py"


rule figure_masks:
    input:
        masks=expand("results/{{dataset}}/{run}/masks", run=RUNS),
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        "results/{dataset}/figures/masks.png",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        runs=list(RUNS),
        figures=CFG["figures"],
    log:
        "results/logs/figures/{dataset}_masks.log",
    script:
        "../scripts/figure_masks.py"


rule figure_f_threshold:
    input:
        sweep="results/{dataset}/sweep.csv",
        summary="results/{dataset}/summary.csv",
    output:
        "results/{dataset}/figures/f_threshold.png",
    params:
        figures=CFG["figures"],
    log:
        "results/logs/figures/{dataset}_f_threshold.log",
    script:
        "../scripts/figure_f_threshold.py"
