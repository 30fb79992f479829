rule synthesize:
    output:
        directory("resources/synthetic/{dataset}"),
    params:
        options=lambda wc: DATASETS[wc.dataset]["synthetic"],
        # a changed scene generator is a changed parameter, so Snakemake regenerates the scenes
        generator=scene_generator_digest(),
    log:
        "results/logs/synthesize/{dataset}.log",
    benchmark:
        "results/benchmarks/synthesize/{dataset}.tsv"
    script:
        "../scripts/synthesize.py"


rule split:
    input:
        dataset_input,
    output:
        "results/{dataset}/split.json",
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        max_train_frames=CFG["max_train_frames"],
    log:
        "results/logs/split/{dataset}.log",
    benchmark:
        "results/benchmarks/split/{dataset}.tsv"
    script:
        "../scripts/split.py"
