import sys
from pathlib import Path

from bgsub.config import dataset_has_ground_truth, expand_runs, validate_config
from bgsub.synth import generator_digest as scene_generator_digest
from bgsub.errors import InputError

try:
    CFG = validate_config(config)
    RUNS = {run.name: run for run in expand_runs(CFG["methods"])}
    for _name, _spec in CFG["datasets"].items():
        if "path" in _spec and not Path(_spec["path"]).exists():
            raise InputError(f"{_spec['path']}: no such file or folder (config key datasets.{_name}.path)")
except InputError as exc:
    sys.exit(f"bgsub: error: {exc}")

DATASETS = CFG["datasets"]
GT_DATASETS = [name for name, spec in DATASETS.items() if dataset_has_ground_truth(spec)]


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",
    run="[A-Za-z0-9_-]+",


def model_output(path):
    """A run's model.npz: kept, or (keep_models: false) deleted by Snakemake once every job that reads it is done."""
    return path if CFG["keep_models"] else temp(path)


def dataset_spec(name):
    """The dataset entry with synthetic scenes resolved to the folder the pipeline generates."""
    spec = dict(DATASETS[name])
    if "synthetic" in spec:
        spec["path"] = f"resources/synthetic/{name}"
    return spec


def dataset_input(wildcards):
    return dataset_spec(wildcards.dataset)["path"]


def run_for_fit(wildcards):
    """The run as plain data for a fit (kind and settings only: a new threshold never refits)."""
    return RUNS[wildcards.run].to_dict(fit=True)


def run_for_score(wildcards):
    """The run as plain data for scoring (Snakemake reruns the job when it changes)."""
    return RUNS[wildcards.run].to_dict()


def run_table():
    """What evaluate needs to know of each run, in a stable order."""
    return [
        {"name": r.name, "method": r.method, "n_components": r.n_components, "threshold": r.threshold}
        for r in RUNS.values()
    ]


def all_figures():
    figures = []
    for name in DATASETS:
        figures += [f"results/{name}/figures/backgrounds.png", f"results/{name}/figures/masks.png"]
        if name in GT_DATASETS:
            figures += [f"results/{name}/figures/f_threshold.png"]
    return figures
