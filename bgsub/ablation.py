"""Ablation of the ``gmm`` method's levers on CDnet highway, WavingTrees and the synthetic scenes.

The variants are ordinary runs of the workflow: ``config/ablation.yaml`` lists them as methods
``ablation_<variant>``, each the ``default`` preset (:mod:`bgsub.presets`) with one lever changed,
and names the real sequences; the synthetic scenes are ``config.yaml``'s. ``python -m bgsub.ablation``
(``make ablation``) asks Snakemake for the variants' ``counts.npz`` (fitted and scored by the
pipeline's own rules, through the one scoring loop, so they are cached and resume like every run),
then assembles ``results/ablation.csv``, one row per variant and slice:

=================  ===========================================================================
slice              frames counted (from each run's per-frame confusion counts)
=================  ===========================================================================
``validation``     highway 470-899 (the slice the defaults were chosen on, with the synthetic scenes)
``test``           highway 900-1700 (only reported)
``full``           highway 470-1700 (CDnet's temporal ROI, for the published figures)
``wavingtrees``    WavingTrees frame 248 (only reported)
``synthetic``      the synthetic scenes of ``config.yaml``, counts summed over scenes (and one
                   ``synthetic_<scene>`` row per scene)
=================  ===========================================================================

While choosing defaults, run ``python -m bgsub.ablation --slices choosing`` (= ``validation,synthetic``):
the validation slice then comes from the dataset ``highway_validation``, whose test frames stop at
899, and WavingTrees is not asked for, so nothing of the reported slices is computed.

Protocol: every variant is fitted on the training frames and runs through *all* test frames in
order (adaptive variants learn as in the pipeline); each slice counts only its own frames, at the
preset's threshold, never one chosen on the frames it reports.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from bgsub.config import Run, expand_runs, overlay_config, validate_config
from bgsub.datasets import open_sequence
from bgsub.io import atomic_write, read_labels
from bgsub.metrics import COUNT_NAMES, compute_metrics
from bgsub.tally import ScoreTally

__all__ = ["PREFIX", "OVERLAY", "HIGHWAY_SLICES", "ALL_SLICES", "CHOOSING_SLICES", "Plan", "load_config", "variants",
           "plan", "slice_counts", "assemble", "error_breakdown", "main"]

logger = logging.getLogger(__name__)

#: Methods of the ablation overlay are named ``PREFIX + variant``.
PREFIX = "ablation_"
#: The overlay with the variants and the real sequences, relative to the project root.
OVERLAY = Path("config/ablation.yaml")
#: Highway slices: inclusive frame ranges counted.
HIGHWAY_SLICES = {"validation": (470, 899), "test": (900, 1700), "full": (470, 1700)}
#: Datasets of the overlay: the whole highway run, the run stopped after the validation slice, WavingTrees.
HIGHWAY, HIGHWAY_VALIDATION, WAVINGTREES = "highway", "highway_validation", "wavingtrees"
#: Every slice name, in table order.
ALL_SLICES = (*HIGHWAY_SLICES, "wavingtrees", "synthetic")
#: The slices the defaults may be chosen on (the protocol of README "Accuracy").
CHOOSING_SLICES = ("validation", "synthetic")


def load_config(root: Path = Path("."), overlay: Path = OVERLAY) -> dict[str, Any]:
    """``config.yaml`` with the ablation overlay merged in (as Snakemake merges a ``--configfile``), validated."""
    base = yaml.safe_load((root / "config.yaml").read_text())
    return validate_config(overlay_config(base, yaml.safe_load((root / overlay).read_text())))


def variants(config: dict[str, Any]) -> dict[str, Run]:
    """Variant name -> its run, for the methods named ``ablation_<variant>`` (in config order)."""
    methods = {name: entry for name, entry in config["methods"].items() if name.startswith(PREFIX)}
    runs = expand_runs(methods)
    if len(runs) != len(methods):
        raise ValueError("an ablation variant must be one run (a single n_components)")
    return {run.method[len(PREFIX):]: run for run in runs}


@dataclass(frozen=True)
class Plan:
    """What the ablation asks the workflow for: the datasets of each slice and the ``counts.npz`` targets."""

    slices: tuple[str, ...]
    datasets: dict[str, list[str]]  # slice -> datasets whose counts it sums
    targets: list[str]


def plan(config: dict[str, Any], names: list[str], slices: tuple[str, ...] = ALL_SLICES) -> Plan:
    """The datasets and targets for variants ``names`` on ``slices``.

    Raises
    ------
    ValueError
        On an unknown slice or variant, or a dataset of the protocol missing from the config.
    """
    unknown = [s for s in slices if s not in ALL_SLICES]
    if unknown:
        raise ValueError(f"unknown slices {unknown}; known: {list(ALL_SLICES)}")
    runs = variants(config)
    unknown = [v for v in names if v not in runs]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; known: {list(runs)}")
    highway = [s for s in slices if s in HIGHWAY_SLICES]
    # choosing: the run that stops at the validation slice's last frame, so no later frame is computed
    highway_dataset = HIGHWAY_VALIDATION if highway == ["validation"] else HIGHWAY
    datasets: dict[str, list[str]] = {s: [highway_dataset] for s in highway}
    if "wavingtrees" in slices:
        datasets["wavingtrees"] = [WAVINGTREES]
    if "synthetic" in slices:
        datasets["synthetic"] = [name for name, spec in config["datasets"].items() if "synthetic" in spec]
    needed = list(dict.fromkeys(d for ds in datasets.values() for d in ds))
    missing = [d for d in needed if d not in config["datasets"]]
    if missing:
        raise ValueError(f"datasets {missing} are not in the config ({OVERLAY} names them)")
    targets = [f"results/{d}/{runs[v].name}/counts.npz" for v in names for d in needed]
    return Plan(tuple(slices), datasets, targets)


def slice_counts(frames: np.ndarray, first: int | None = None, last: int | None = None) -> dict[str, int]:
    """Sum per-frame counts ``(number, tp, fp, fn, tn)`` rows over frames ``first..last`` (None = all)."""
    keep = np.ones(len(frames), bool)
    if first is not None:
        keep &= frames[:, 0] >= first
    if last is not None:
        keep &= frames[:, 0] <= last
    return {k: int(frames[keep, i + 1].sum()) for i, k in enumerate(COUNT_NAMES)}


def _seconds(results: Path, dataset: str, run: str) -> float:
    """Fit plus score time of a run (Snakemake benchmark files; NaN when absent, e.g. a tiled run)."""
    total = 0.0
    for step in ("fit", "score"):
        path = results / "benchmarks" / step / dataset / f"{run}.tsv"
        if not path.exists():
            return float("nan")
        total += float(pd.read_csv(path, sep="\t")["s"].iloc[-1])
    return total


def _row(variant: str, slice_name: str, counts: dict[str, int], seconds: float) -> dict[str, Any]:
    return {"variant": variant, "slice": slice_name, **counts, **compute_metrics(**counts), "seconds": seconds}


def assemble(config: dict[str, Any], names: list[str], the_plan: Plan, results: Path = Path("results")
             ) -> pd.DataFrame:
    """The ablation table from the runs' ``counts.npz``: one row per variant and slice."""
    runs = variants(config)
    rows = []
    for variant in names:
        run = runs[variant].name
        frames = {d: ScoreTally.load(results / d / run / "counts.npz")[0].frame_counts()
                  for ds in the_plan.datasets.values() for d in ds}
        for slice_name in the_plan.slices:
            datasets = the_plan.datasets[slice_name]
            seconds = sum(_seconds(results, d, run) for d in datasets)
            if slice_name in HIGHWAY_SLICES:
                counts = slice_counts(frames[datasets[0]], *HIGHWAY_SLICES[slice_name])
            else:
                counts = dict.fromkeys(COUNT_NAMES, 0)
                for d in datasets:
                    part = slice_counts(frames[d])
                    if len(datasets) > 1:
                        rows.append(_row(variant, f"{slice_name}_{d}", part, _seconds(results, d, run)))
                    counts = {k: counts[k] + part[k] for k in COUNT_NAMES}
            rows.append(_row(variant, slice_name, counts, seconds))
            logger.info("%s %s: F=%s", variant, slice_name, rows[-1]["f_measure"])
    return pd.DataFrame(rows)


def error_breakdown(config: dict[str, Any], masks_dir: Path, *, first: int = 900, last: int = 1700, grid: int = 4,
                    size_bins: tuple[int, ...] = (0, 50, 200, 1000, 5000), root: Path = Path(".")) -> pd.DataFrame:
    """Where a run's errors are on highway frames ``first..last``, from its masks in ``masks_dir``.

    Returns rows of three kinds: ``kind="fp_region"`` (false positives and true negatives of each
    cell of a ``grid x grid`` split of the image, ``region="r{row}c{col}"``), ``kind="fn_size"``
    (ground-truth objects, i.e. 8-connected components of label 255 in a frame, binned by area
    in pixels: their pixel count and how many of those pixels were missed), and ``kind="fp_label"``
    (false positives on shadow pixels, label 50; on background within 3 pixels of an object,
    ``boundary``; and elsewhere, ``other``).
    """
    import scipy.ndimage as ndi


    sequence = open_sequence(HIGHWAY, config["datasets"][HIGHWAY], root=root)
    h, w, _ = sequence.frame_shape
    rows_edges = np.linspace(0, h, grid + 1).astype(int)
    cols_edges = np.linspace(0, w, grid + 1).astype(int)
    fp = np.zeros((grid, grid), np.int64)
    negatives = np.zeros((grid, grid), np.int64)
    n_bins = len(size_bins)
    objects = np.zeros(n_bins, np.int64)
    pixels = np.zeros(n_bins, np.int64)
    missed = np.zeros(n_bins, np.int64)
    fp_label = dict.fromkeys(("shadow", "boundary", "other"), 0)
    for number in range(first, last + 1):
        if number not in sequence.ground_truth:
            continue
        labels = sequence.labels(number)
        mask = read_labels(Path(masks_dir) / f"bin{number:06d}.png") > 0
        negative = (labels == 0) | (labels == 50)
        near = ndi.binary_dilation(labels == 255, structure=np.ones((7, 7), bool))
        fp_label["shadow"] += int((mask & (labels == 50)).sum())
        fp_label["boundary"] += int((mask & (labels == 0) & near).sum())
        fp_label["other"] += int((mask & (labels == 0) & ~near).sum())
        for i in range(grid):
            for j in range(grid):
                cell = (slice(rows_edges[i], rows_edges[i + 1]), slice(cols_edges[j], cols_edges[j + 1]))
                fp[i, j] += int((mask[cell] & negative[cell]).sum())
                negatives[i, j] += int(negative[cell].sum())
        components, n = ndi.label(labels == 255, structure=np.ones((3, 3), bool))
        if n == 0:
            continue
        areas = np.bincount(components.ravel())[1:]
        misses = np.bincount(components.ravel(), weights=~mask.ravel(), minlength=n + 1)[1:].astype(np.int64)
        which = np.searchsorted(size_bins, areas, side="right") - 1
        np.add.at(objects, which, 1)
        np.add.at(pixels, which, areas)
        np.add.at(missed, which, misses)
    out = []
    for i in range(grid):
        for j in range(grid):
            out.append({"kind": "fp_region", "region": f"r{i}c{j}", "rows": f"{rows_edges[i]}-{rows_edges[i + 1]}",
                        "cols": f"{cols_edges[j]}-{cols_edges[j + 1]}", "fp": int(fp[i, j]),
                        "negatives": int(negatives[i, j]), "share_of_fp": fp[i, j] / max(fp.sum(), 1)})
    for name, count in fp_label.items():
        out.append({"kind": "fp_label", "region": name, "fp": count, "share_of_fp": count / max(fp.sum(), 1)})
    for b in range(n_bins):
        upper = size_bins[b + 1] if b + 1 < n_bins else None
        out.append({"kind": "fn_size", "region": f"area {size_bins[b]}-{upper or 'inf'}", "objects": int(objects[b]),
                    "pixels": int(pixels[b]), "fn": int(missed[b]),
                    "recall": 1 - missed[b] / pixels[b] if pixels[b] else None,
                    "share_of_fn": missed[b] / max(missed.sum(), 1)})
    return pd.DataFrame(out)


def _snakemake(targets: list[str], overlay: Path, cores: str, extra: list[str]) -> int:
    exe = Path(sys.executable).parent / "snakemake"
    # targets first: --configfile (and some other options) take several values and would swallow them
    command = [str(exe) if exe.exists() else (shutil.which("snakemake") or "snakemake"), *targets, "--cores", cores,
               "--rerun-incomplete", *extra, "--configfile", str(overlay)]
    logger.info("running snakemake on %d targets with --configfile %s", len(targets), overlay)
    return subprocess.run(command, env=os.environ.copy()).returncode


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bgsub.ablation [--out CSV] [--variants a,b] [--slices a,b] [--errors CSV]``."""
    parser = argparse.ArgumentParser(prog="python -m bgsub.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/ablation.csv"))
    parser.add_argument("--overlay", type=Path, default=OVERLAY, help="the config overlay with the variants")
    parser.add_argument("--variants", default="", help="comma-separated variant names (default: all of the overlay)")
    parser.add_argument("--slices", default=",".join(ALL_SLICES),
                        help=f"comma-separated slices of {list(ALL_SLICES)}; 'choosing' = {','.join(CHOOSING_SLICES)}")
    parser.add_argument("--errors", type=Path, default=None,
                        help="also write the default's error breakdown on the test slice to this CSV")
    parser.add_argument("--cores", default="all", help="Snakemake's --cores")
    parser.add_argument("--snakemake-args", default="", help="more Snakemake arguments (e.g. '--dry-run')")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    slices = CHOOSING_SLICES if args.slices == "choosing" else tuple(s for s in args.slices.split(",") if s)
    if args.errors is not None and "test" not in slices:
        parser.error("--errors reports on the test slice; it needs 'test' among --slices")
    config = load_config(overlay=args.overlay)
    names = [v for v in args.variants.split(",") if v] or list(variants(config))
    try:
        the_plan = plan(config, names, slices)
    except ValueError as exc:
        parser.error(str(exc))
    if "default" not in names and args.errors is not None:
        parser.error("--errors reports on the 'default' variant; include it in --variants")
    status = _snakemake(the_plan.targets, args.overlay, args.cores, args.snakemake_args.split())
    if status != 0 or "--dry-run" in args.snakemake_args.split() or "-n" in args.snakemake_args.split():
        return status
    table = assemble(config, names, the_plan)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    wide = table.pivot(index="variant", columns="slice", values="f_measure").reindex(names)
    wide = wide[[c for c in ALL_SLICES if c in wide.columns]]
    print(wide.to_string(float_format=lambda x: f"{x:.3f}"))
    if args.errors is not None:
        masks = Path("results") / HIGHWAY / variants(config)["default"].name / "masks"
        errors = error_breakdown(config, masks)
        args.errors.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(args.errors) as tmp:
            errors.to_csv(tmp, index=False, float_format="%.4f")
        print(errors.to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
