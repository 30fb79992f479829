"""Ablation of the ``gmm`` method's levers on CDnet highway, WavingTrees and the synthetic scenes.

``python -m bgsub.ablation --out results/ablation.csv`` (``make ablation``) scores the default
configuration (:data:`DEFAULTS`) and one variant per lever with that lever switched off or
changed (:data:`VARIANTS`), and writes one row per variant and slice:

=================  ===========================================================================
slice              frames
=================  ===========================================================================
``validation``     highway 470-899 (the slice the defaults were chosen on, with the synthetic scenes)
``test``           highway 900-1700 (only reported)
``full``           highway 470-1700 (CDnet's temporal ROI, for the published figures)
``wavingtrees``    WavingTrees frame 248 (only reported)
``synthetic``      the seven synthetic scenes of ``config.yaml`` (counts summed over scenes)
=================  ===========================================================================

While choosing defaults, run ``python -m bgsub.ablation --slices choosing`` (= ``validation,synthetic``):
highway is then read and run only up to frame 899 and WavingTrees is not read, so nothing of the
reported slices is computed.

Protocol: models are fitted on the training frames (highway 1-469, WavingTrees 1-200,
synthetic: their training frames); every variant then scores *all* frames from the first test
frame in order (highway 470-1700, WavingTrees 201-248), so adaptive variants learn as in the
pipeline, and each slice counts only its own frames. Every slice uses the same threshold
(the default's), never one chosen on the frames it reports. Fitted models are cached under
``--cache`` (one per dataset and fit setting), so a rerun only scores.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bgsub.datasets import Sequence, open_sequence
from bgsub.gmm import GMMMethod
from bgsub.io import atomic_write
from bgsub.metrics import COUNT_NAMES, compute_metrics, confusion_counts
from bgsub.postprocess import postprocess_scores
from bgsub.synth import make_scene

__all__ = ["DEFAULTS", "VARIANTS", "FIT_KEYS", "ALL_SLICES", "CHOOSING_SLICES", "slice_counts", "run_ablation",
           "error_breakdown", "main"]

logger = logging.getLogger(__name__)

#: Settings of the ``gmm`` method that the fit depends on (a fitted model is cached per value).
FIT_KEYS = ("n_components", "covariance_type", "reg_covar")

#: The default configuration (method settings, ``postprocess`` and ``threshold``), chosen on the
#: synthetic scenes and highway's validation slice 470-899 only (see README "Ablation").
DEFAULTS: dict[str, Any] = {
    "n_components": 3,
    "covariance_type": "full",
    "reg_covar": 4.0,
    "rank_by": "weight_over_sigma",
    "background_ratio": 0.7,
    "var_min": 16.0,
    "var_max": 75.0,
    "spatial_radius": 1,
    "spatial_gate": 0.2,  # neighbours only where 1 training frame in 5 needed them (swaying leaves)
    "gain_compensation": True,
    "shadow_tau": 0.5,  # MOG2's shadowThreshold ...
    "shadow_texture": 1.0,  # ... and the shadow must keep the background's texture (residual <= 1 variance)
    "shadow_max": 1.0,
    "adaptive_threshold": None,
    "adaptive_quantile": 0.9,
    "learning_rate": 0.01,
    "postprocess": {"median": 5, "min_area": 30},
    "threshold": 7.81,  # chi2_threshold(3, 0.95)
}

#: Variant name -> changes to :data:`DEFAULTS`: each lever switched off (``no_*``), added
#: (``plus_*``) or set to its usual alternative.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "plain_gmm": {
        "background_ratio": 0.9, "var_min": None, "var_max": None, "gain_compensation": False,
        "learning_rate": 0.0, "postprocess": {}, "spatial_radius": 0, "shadow_tau": None,
    },
    "previous_default": {"spatial_radius": 0, "shadow_tau": None},  # the defaults before the issue-9 levers
    "rank_by_weight": {"rank_by": "weight"},
    "no_var_bounds": {"var_min": None, "var_max": None},
    "background_ratio_0.9": {"background_ratio": 0.9},
    "no_gain": {"gain_compensation": False},
    "no_adaptation": {"learning_rate": 0.0},
    "no_postprocess": {"postprocess": {}},
    "no_min_area": {"postprocess": {"median": 5}},
    "no_shadow": {"shadow_tau": None},
    "no_shadow_texture": {"shadow_texture": None},  # MOG2's shadow test alone
    "plus_deep_shadow": {"shadow_tau": 0.05},  # the textured test down to 5 % of the background's brightness
    "no_spatial": {"spatial_radius": 0},
    "no_spatial_gate": {"spatial_gate": None},  # neighbours' models at every pixel
    "plus_adaptive_threshold": {"adaptive_threshold": 2.0},  # per-pixel factor from the 0.9 training quantile
    "plus_adaptive_threshold_q50": {"adaptive_threshold": 4.0, "adaptive_quantile": 0.5},
}

SLICES = {"validation": (470, 899), "test": (900, 1700), "full": (470, 1700)}
SYNTHETIC = {"static": 0, "dynamic": 1, "illumination": 2, "parked": 3, "departed": 4, "shadows": 5, "foliage": 6}


def slice_counts(masks: dict[int, np.ndarray], sequence_labels: Any, roi: np.ndarray | None,
                 first: int, last: int) -> dict[str, int]:
    """Sum CDnet confusion counts of the masks of frames ``first..last`` that have labels.

    Parameters
    ----------
    masks : dict of int to ndarray of shape (H, W), bool
    sequence_labels : callable
        ``labels(n)`` -> ground-truth labels ``(H, W)`` uint8, or None when frame ``n`` has none.
    roi : ndarray of shape (H, W), bool, or None
    first, last : int
        Inclusive frame numbers.
    """
    total = dict.fromkeys(COUNT_NAMES, 0)
    for number in range(first, last + 1):
        labels = sequence_labels(number) if number in masks else None
        if labels is None:
            continue
        for key, value in zip(COUNT_NAMES, confusion_counts(masks[number], labels, roi)):
            total[key] += int(value)
    return total


class _Data:
    """Frames of one sequence held in memory, with its labels and its fitted models."""

    def __init__(self, name: str, frames: np.ndarray, train: tuple[int, int], run: tuple[int, int],
                 labels: Any, roi: np.ndarray | None) -> None:
        self.name, self.frames, self.train, self.run, self.labels, self.roi = name, frames, train, run, labels, roi

    def clip(self, first: int, last: int) -> np.ndarray:
        return self.frames[first - 1:last]


def _open_real(name: str, spec: dict[str, Any], run: tuple[int, int], last: int | None = None) -> _Data:
    """Read frames ``1..last`` (default: all) of a real sequence into memory."""
    sequence: Sequence = open_sequence(name, spec, root=Path("."))
    n = sequence.source.n_frames if last is None else min(last, sequence.source.n_frames)
    frames = sequence.source.read(list(range(1, n + 1)))

    def labels(number: int) -> np.ndarray | None:
        return sequence.labels(number) if number in sequence.ground_truth else None

    return _Data(name, frames, tuple(sequence.train), run, labels, sequence.roi)  # type: ignore[arg-type]


def _open_synthetic(scene: str, seed: int) -> _Data:
    s = make_scene(scene, seed=seed)
    return _Data(f"synthetic_{scene}", s.frames, (1, s.n_train), (s.n_train + 1, len(s.frames)),
                 lambda n: s.labels[n - 1], None)


def _fitted_state(data: _Data, settings: dict[str, Any], cache: Path) -> dict[str, np.ndarray]:
    fit_params = {k: settings[k] for k in FIT_KEYS}
    tag = "_".join(f"{k}{v}" for k, v in fit_params.items())
    frames = data.clip(*data.train)
    # the training frames' digest is in the name, so a changed scene or sequence is refitted, never reused
    digest = hashlib.blake2b(np.ascontiguousarray(frames).data, digest_size=8).hexdigest()
    path = cache / f"{data.name}_{tag}_{digest}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as stored:
            return dict(stored)
    start = time.perf_counter()
    method = GMMMethod(**fit_params).fit(frames)
    logger.info("fitted %s %s in %.0f s", data.name, tag, time.perf_counter() - start)
    state = method.get_state()
    cache.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **state)
    return state


def _masks(data: _Data, settings: dict[str, Any], cache: Path, block: int = 64) -> dict[int, np.ndarray]:
    """Run a variant over ``data.run`` in order; return the masks at its threshold by frame number."""
    params = {k: v for k, v in settings.items() if k not in ("postprocess", "threshold")}
    method = GMMMethod(**params).set_state(_fitted_state(data, settings, cache))
    if method.needs_dynamics:  # measured on the training frames, as fit() does
        method.calibrate(data.clip(*data.train))
    threshold = np.float32(settings["threshold"])
    masks = {}
    first, last = data.run
    for start in range(first, last + 1, block):
        stop = min(start + block - 1, last)
        scores = postprocess_scores(method.foreground_scores(data.clip(start, stop)), settings["postprocess"])
        for offset, frame_scores in enumerate(scores):
            masks[start + offset] = frame_scores > threshold
    return masks


def _row(variant: str, slice_name: str, counts: dict[str, int], seconds: float) -> dict[str, Any]:
    return {"variant": variant, "slice": slice_name, **counts, **compute_metrics(**counts), "seconds": seconds}


#: Every slice name :func:`run_ablation` knows, in table order.
ALL_SLICES = (*SLICES, "wavingtrees", "synthetic")
#: The slices the defaults may be chosen on (the protocol of README "Accuracy").
CHOOSING_SLICES = ("validation", "synthetic")


def run_ablation(variants: dict[str, dict[str, Any]], cache: Path, *,
                 slices: tuple[str, ...] = ALL_SLICES) -> pd.DataFrame:
    """Score every variant on the given slices; return the rows (one per variant and slice).

    Only the data the slices need are read: with ``slices=("validation", "synthetic")`` highway
    is run up to frame 899 and WavingTrees is not touched, so nothing of the test frames is seen.
    """
    unknown = [s for s in slices if s not in ALL_SLICES]
    if unknown:
        raise ValueError(f"unknown slices {unknown}; known: {list(ALL_SLICES)}")
    highway_slices = {name: SLICES[name] for name in SLICES if name in slices}
    loaded: dict[str, list[_Data]] = {}
    if highway_slices:
        run = (min(a for a, _ in highway_slices.values()), max(b for _, b in highway_slices.values()))
        loaded["highway"] = [_open_real("highway", {"path": "../shared/data/highway"}, run, last=run[1])]
    if "wavingtrees" in slices:
        loaded["wavingtrees"] = [_open_real(
            "wavingtrees", {"path": "../shared/data/wavingtrees", "train": [1, 200], "test": [201, 248]}, (201, 248))]
    if "synthetic" in slices:
        loaded["synthetic"] = [_open_synthetic(scene, seed) for scene, seed in SYNTHETIC.items()]
    rows = []
    for variant, changes in variants.items():
        settings = {**DEFAULTS, **changes}
        for group, items in loaded.items():
            start = time.perf_counter()
            all_masks = [_masks(data, settings, cache) for data in items]
            seconds = time.perf_counter() - start
            if group == "highway":
                data, masks = items[0], all_masks[0]
                for slice_name, (first, last) in highway_slices.items():
                    rows.append(_row(variant, slice_name, slice_counts(masks, data.labels, data.roi, first, last),
                                     seconds))
            else:
                total = dict.fromkeys(COUNT_NAMES, 0)
                for data, masks in zip(items, all_masks):
                    counts = slice_counts(masks, data.labels, data.roi, *data.run)
                    if len(items) > 1:
                        rows.append(_row(variant, data.name, counts, seconds))
                    for key, value in counts.items():
                        total[key] += value
                rows.append(_row(variant, group, total, seconds))
            logger.info("%s %s: F=%s (%.0f s)", variant, group, rows[-1]["f_measure"], seconds)
    return pd.DataFrame(rows)


def error_breakdown(settings: dict[str, Any], cache: Path, *, first: int = 900, last: int = 1700,
                    grid: int = 4, size_bins: tuple[int, ...] = (0, 50, 200, 1000, 5000)) -> pd.DataFrame:
    """Where a configuration's errors are on highway frames ``first..last``.

    Returns rows of two kinds: ``kind="fp_region"`` (false positives and true negatives of each
    cell of a ``grid x grid`` split of the image, ``region="r{row}c{col}"``) and ``kind="fn_size"``
    (ground-truth objects, i.e. 8-connected components of label 255 in a frame, binned by area
    in pixels: their pixel count and how many of those pixels were missed), and ``kind="fp_label"``
    (false positives on shadow pixels, label 50; on background within 3 pixels of an object,
    ``boundary``; and elsewhere, ``other``).
    """
    import scipy.ndimage as ndi

    data = _open_real("highway", {"path": "../shared/data/highway"}, (470, last), last=last)
    masks = _masks(data, settings, cache)
    h, w = data.frames.shape[1:3]
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
        labels = data.labels(number)
        if labels is None:
            continue
        mask = masks[number]
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


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bgsub.ablation [--out CSV] [--variants a,b] [--slices a,b] [--errors CSV]``."""
    parser = argparse.ArgumentParser(prog="python -m bgsub.ablation", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("results/ablation.csv"))
    parser.add_argument("--cache", type=Path, default=Path("results/ablation_models"))
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    parser.add_argument("--slices", default=",".join(ALL_SLICES),
                        help=f"comma-separated slices of {list(ALL_SLICES)}; 'choosing' = {','.join(CHOOSING_SLICES)}")
    parser.add_argument("--errors", type=Path, default=None,
                        help="also write the default's error breakdown on the test slice to this CSV")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    slices = CHOOSING_SLICES if args.slices == "choosing" else tuple(s for s in args.slices.split(",") if s)
    unknown = [s for s in slices if s not in ALL_SLICES]
    if unknown:
        parser.error(f"unknown slices {unknown}; known: {list(ALL_SLICES)}")
    if args.errors is not None and "test" not in slices:
        parser.error("--errors reports on the test slice; it needs 'test' among --slices")
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {list(VARIANTS)}")
    table = run_ablation({v: VARIANTS[v] for v in names}, args.cache, slices=slices)
    with atomic_write(args.out) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    wide = table.pivot(index="variant", columns="slice", values="f_measure").reindex(names)
    wide = wide[[c for c in ALL_SLICES if c in wide.columns]]
    print(wide.to_string(float_format=lambda x: f"{x:.3f}"))
    if args.errors is not None:
        errors = error_breakdown(DEFAULTS, args.cache)
        with atomic_write(args.errors) as tmp:
            errors.to_csv(tmp, index=False, float_format="%.4f")
        print(errors.to_string(float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
