# Pixel tiling (config key `tiles`) and the cluster resources of the fit/score rules.
# With tiles: 1 (default) every run uses rules fit and score of methods.smk. With tiles: N > 1, a run whose
# kind can be tiled (bgsub.tiling.is_tileable) is fitted and scored as N bands of rows, each its own job, and
# gathered into the same model.npz, background.png, masks/ and counts.npz an untiled run writes.
import json
import re

from bgsub.tiling import estimate_resources, is_tileable

TILES = CFG["tiles"]

# cheap steps run on the submitting host, not as cluster jobs: generating a synthetic scene (a few MB) and
# gathering small CSV files
localrules:
    synthesize,
    evaluate,
    summary,

TILED_RUNS = [
    name for name, run in RUNS.items() if TILES > 1 and is_tileable(run.kind, run.params, run.postprocess)
]
UNTILED_RUNS = [name for name in RUNS if name not in TILED_RUNS]
TILE_DIR = f"results/{{dataset}}/{{run}}/tiles{TILES}/{{tile}}"


def run_pattern(names):
    """A wildcard constraint matching exactly these run names (nothing when empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


def _dims(dataset, split_path):
    """Frame size and frame counts of a dataset: from split.json once written, else a guess from the config."""
    if split_path and Path(split_path).exists():
        info = json.loads(Path(split_path).read_text())
        return {"height": info["height"], "width": info["width"], "channels": info["channels"],
                "n_train": len(info["train_frames"]), "n_test": info["test"][1] - info["test"][0] + 1}
    synthetic = DATASETS[dataset].get("synthetic")
    if synthetic is not None:
        return {"height": synthetic.get("height", 120), "width": synthetic.get("width", 160), "channels": 3,
                "n_train": min(synthetic.get("n_train", 100), CFG["max_train_frames"]),
                "n_test": synthetic.get("n_test", 100)}
    # before split.json exists: a large CDnet video (720x576, 7000 frames), so requests are never too small
    return {"height": 576, "width": 720, "channels": 3, "n_train": CFG["max_train_frames"], "n_test": 7000}


def job_resources(step, tiles=1):
    """Callables (mem_mb, runtime) for a rule's `resources:`, from the frame size, the method and K."""

    def estimate(wildcards, input, attempt):
        run = RUNS[wildcards.run]
        return estimate_resources(
            step, **_dims(wildcards.dataset, input.get("split")), kind=run.kind, n_components=run.n_components,
            fit_components=run.params.get("fit_components"), tiles=tiles, block_size=CFG["block_size"],
            attempt=attempt,
        )

    return (lambda wildcards, input, attempt: estimate(wildcards, input, attempt)["mem_mb"],
            lambda wildcards, input, attempt: estimate(wildcards, input, attempt)["runtime"])


FIT_MEM, FIT_TIME = job_resources("fit")
SCORE_MEM, SCORE_TIME = job_resources("score")
FIT_TILE_MEM, FIT_TILE_TIME = job_resources("fit", TILES)
SCORE_TILE_MEM, SCORE_TILE_TIME = job_resources("score", TILES)
GATHER_MEM, GATHER_TIME = job_resources("gather", TILES)


def tile_files(name):
    return lambda wc: expand(f"results/{wc.dataset}/{wc.run}/tiles{TILES}/{{tile}}/{name}", tile=range(TILES))


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
        "results/logs/fit_tile/{dataset}/{run}/" + f"tiles{TILES}" + "/{tile}.log",
    benchmark:
        "results/benchmarks/fit_tile/{dataset}/{run}/" + f"tiles{TILES}" + "/{tile}.tsv"
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
        "results/logs/score_tile/{dataset}/{run}/" + f"tiles{TILES}" + "/{tile}.log",
    benchmark:
        "results/benchmarks/score_tile/{dataset}/{run}/" + f"tiles{TILES}" + "/{tile}.tsv"
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
