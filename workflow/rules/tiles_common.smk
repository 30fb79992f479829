# Helpers of tiles.smk (kept apart from its rules, as `snakemake --lint` asks): the tile count, which runs are
# tiled, and each fit/score job's cluster resources.
import json
import re

from bgsub.tiling import estimate_resources, is_tileable

TILES = CFG["tiles"]

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
