include: "tiles.smk"


rule fit:
    input:
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        model=model_output("results/{dataset}/{run}/model.npz"),
        background="results/{dataset}/{run}/background.png",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        run=run_for_fit,
    wildcard_constraints:
        run=run_pattern(UNTILED_RUNS),
    threads: 1
    resources:
        mem_mb=FIT_MEM,
        runtime=FIT_TIME,
    log:
        "results/logs/fit/{dataset}/{run}.log",
    benchmark:
        "results/benchmarks/fit/{dataset}/{run}.tsv"
    script:
        "../scripts/fit.py"


rule score:
    input:
        data=dataset_input,
        split="results/{dataset}/split.json",
        model="results/{dataset}/{run}/model.npz",
    output:
        masks=directory("results/{dataset}/{run}/masks"),
        counts="results/{dataset}/{run}/counts.npz",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        run=run_for_score,
        block_size=CFG["block_size"],
    wildcard_constraints:
        run=run_pattern(UNTILED_RUNS),
    threads: 1
    resources:
        mem_mb=SCORE_MEM,
        runtime=SCORE_TIME,
    log:
        "results/logs/score/{dataset}/{run}.log",
    benchmark:
        "results/benchmarks/score/{dataset}/{run}.tsv"
    script:
        "../scripts/score.py"
