# Pixel tiling (config key `tiles`) and the cluster resources of the fit/score rules.
# With tiles: 1 (default) every run uses rules fit and score of methods.smk. With tiles: N > 1, a run whose
# kind can be tiled (bgsub.tiling.is_tileable) is fitted and scored as N bands of rows, each its own job, and
# gathered into the same model.npz, background.png, masks/ and counts.npz an untiled run writes.
include: "tiles_common.smk"


# cheap steps run on the submitting host, not as cluster jobs: generating a synthetic scene (a few MB) and
# gathering small CSV files
localrules:
    synthesize,
    evaluate,
    summary,


rule fit_tile:
    input:
        data=dataset_input,
        split="results/{dataset}/split.json",
    output:
        temp(f"{TILE_DIR}/model.npz"),
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        run=run_for_fit,
        tiles=TILES,
        block_size=CFG["block_size"],
    wildcard_constraints:
        tile=r"\d+",
    threads: 1
    resources:
        mem_mb=FIT_TILE_MEM,
        runtime=FIT_TILE_TIME,
    log:
        f"results/logs/fit_tile/{{dataset}}/{{run}}/tiles{TILES}/{{tile}}.log",
    benchmark:
        f"results/benchmarks/fit_tile/{{dataset}}/{{run}}/tiles{TILES}/{{tile}}.tsv"
    script:
        "../scripts/fit_tile.py"


rule gather_models:
    input:
        split="results/{dataset}/split.json",
        models=tile_files("model.npz"),
    output:
        model=model_output("results/{dataset}/{run}/model.npz"),
        background="results/{dataset}/{run}/background.png",
    params:
        run=run_for_fit,
    wildcard_constraints:
        run=run_pattern(TILED_RUNS),
    threads: 1
    resources:
        mem_mb=GATHER_MEM,
        runtime=GATHER_TIME,
    log:
        "results/logs/gather_models/{dataset}/{run}.log",
    script:
        "../scripts/gather_tile_models.py"


rule score_tile:
    input:
        data=dataset_input,
        split="results/{dataset}/split.json",
        model="results/{dataset}/{run}/model.npz",
    output:
        strip=temp(f"{TILE_DIR}/masks.npy"),
        counts=temp(f"{TILE_DIR}/counts.npz"),
    params:
        spec=lambda wc: dataset_spec(wc.dataset),
        run=run_for_score,
        tiles=TILES,
        block_size=CFG["block_size"],
    wildcard_constraints:
        tile=r"\d+",
    threads: 1
    resources:
        mem_mb=SCORE_TILE_MEM,
        runtime=SCORE_TILE_TIME,
    log:
        f"results/logs/score_tile/{{dataset}}/{{run}}/tiles{TILES}/{{tile}}.log",
    benchmark:
        f"results/benchmarks/score_tile/{{dataset}}/{{run}}/tiles{TILES}/{{tile}}.tsv"
    script:
        "../scripts/score_tile.py"


rule gather_scores:
    input:
        split="results/{dataset}/split.json",
        strips=tile_files("masks.npy"),
        counts=tile_files("counts.npz"),
    output:
        masks=directory("results/{dataset}/{run}/masks"),
        counts="results/{dataset}/{run}/counts.npz",
    wildcard_constraints:
        run=run_pattern(TILED_RUNS),
    threads: 1
    resources:
        mem_mb=GATHER_MEM,
        runtime=GATHER_TIME,
    log:
        "results/logs/gather_scores/{dataset}/{run}.log",
    benchmark:
        "results/benchmarks/gather_scores/{dataset}/{run}.tsv"
    script:
        "../scripts/gather_tile_scores.py"
