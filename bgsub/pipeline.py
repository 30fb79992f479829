"""The steps of the experiment, one function per Snakemake rule.

Rule scripts in ``workflow/scripts/`` only read ``snakemake.input``/``params``
and call these functions, so every step can be run and tested without
Snakemake. Every file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bgsub.base import BackgroundMethod
from bgsub.datasets import Sequence, open_sequence
from bgsub.errors import InputError
from bgsub.io import atomic_path, write_image, write_mask
from bgsub.kernels import set_num_threads
from bgsub.methods import make_method
from bgsub.metrics import COUNT_NAMES, METRIC_NAMES, compute_metrics
from bgsub.models import load_model, save_model
from bgsub.postprocess import check_postprocess
from bgsub.scoring import score_blocks
from bgsub.synth import make_scene, write_cdnet
from bgsub.tally import ScoreTally

__all__ = [
    "SUMMARY_COLUMNS",
    "run_step",
    "synthesize",
    "split",
    "open_split",
    "fit",
    "write_background",
    "score",
    "evaluate",
    "summarize",
    "write_csv",
]

logger = logging.getLogger(__name__)

SUMMARY_COLUMNS = ["dataset", "method", "n_components", "run", "threshold", *COUNT_NAMES, *METRIC_NAMES]


def run_step(step: Callable[..., Any], *args: Any, log: str | Path | None = None, **kwargs: Any) -> None:
    """Run a pipeline step from a rule script.

    Progress goes to ``log`` (and warnings to stderr); a bad input becomes the
    single line ``bgsub: error: <message>`` on stderr and in the log, and exit status 1.
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    handlers[0].setLevel(logging.WARNING)
    if log is not None:
        handlers.append(logging.FileHandler(log, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", handlers=handlers, force=True)
    # compiled kernels use the rule's `threads:` (Snakemake puts `snakemake` in the script's globals)
    set_num_threads(getattr(getattr(sys.modules.get("__main__"), "snakemake", None), "threads", None))
    try:
        step(*args, **kwargs)
    except InputError as exc:
        message = f"bgsub: error: {exc}"
        sys.stderr.write(message + "\n")  # one write, so parallel jobs' lines do not interleave
        sys.stderr.flush()
        if log is not None:
            with open(log, "a") as fh:
                fh.write(message + "\n")
        sys.exit(1)


def _replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The temporary file is removed when writing fails, so nothing that looks finished is left.
    """
    tmp = atomic_path(Path(path))
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically."""
    _replace_atomically(path, lambda tmp: tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n"))


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    """Write a CSV atomically, with a fixed float format so bytes do not depend on the platform."""
    _replace_atomically(path, lambda tmp: frame.to_csv(tmp, index=False, float_format="%.6f", lineterminator="\n"))


def synthesize(folder: Path, scene: str, **options: Any) -> None:
    """Generate a synthetic scene into ``folder`` in CDnet layout (atomically: built beside, then renamed)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_cdnet(make_scene(scene, **options), tmp)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)


def split(name: str, spec: dict[str, Any], output: Path, *, max_train_frames: int, root: Path = Path(".")) -> None:
    """Open and check a dataset, and write its split (``split.json``).

    The split file records the frame size, the training frames (subsampled to
    ``max_train_frames``), the test frames and the scored frames.
    """
    sequence = open_sequence(name, spec, root=root)
    sequence.validate()
    h, w, c = sequence.frame_shape
    write_json(
        output,
        {
            "dataset": name,
            "n_frames": sequence.source.n_frames,
            "height": h,
            "width": w,
            "channels": c,
            "train": list(sequence.train),
            "test": list(sequence.test),
            "train_frames": sequence.train_numbers(max_train_frames),
            "scored_frames": sequence.scored_numbers(),
            "score": list(sequence.score) if sequence.score is not None else None,
            "has_ground_truth": sequence.has_ground_truth,
        },
    )


def open_split(name: str, spec: dict[str, Any], split_path: Path, root: Path = Path(".")) -> tuple[Sequence, dict]:
    """Reopen a dataset with the split written by :func:`split`.

    The frame count and size recorded in the split are passed on, so a video is
    not decoded once more just to count its frames.
    """
    try:
        info = json.loads(Path(split_path).read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{split_path}: cannot read the split ({exc}); rerun the split step".splitlines()[0]) from None
    known = info if all(k in info for k in ("n_frames", "height", "width", "channels")) else None
    return open_sequence(name, spec, root=root, known=known), info


def fit(
    name: str, spec: dict[str, Any], split_path: Path, kind: str, params: dict[str, Any],
    model_path: Path, background_path: Path, *, root: Path = Path("."),
) -> None:
    """Fit one run on the training frames; write ``model.npz`` and ``background.png``."""
    sequence, info = open_split(name, spec, split_path, root)
    frames = sequence.source.read(info["train_frames"])
    method = make_method(kind, **params)
    logger.info("%s: fitting %s on %d frames of %dx%d", name, kind, len(frames), info["width"], info["height"])
    method.fit(frames)
    save_model(model_path, method, extra={"frame_shape": [info["height"], info["width"], info["channels"]]})
    write_background(background_path, method, (info["height"], info["width"], info["channels"]))


def write_background(path: Path, method: BackgroundMethod, frame_shape: tuple[int, int, int]) -> None:
    """Write a fitted method's background image; a method without one shows grey (every run has one)."""
    background = method.background_image()
    if background is None:
        background = np.full(frame_shape, 127, np.uint8)
    write_image(path, background.squeeze(-1) if background.shape[-1] == 1 else background)


def score(
    name: str, spec: dict[str, Any], split_path: Path, model_path: Path, *, kind: str, params: dict[str, Any],
    threshold: float, thresholds: np.ndarray, masks_dir: Path, counts_path: Path, block_size: int = 64,
    root: Path = Path("."), postprocess: dict[str, Any] | None = None,
) -> None:
    """Score the test frames of one run, write its masks and its sweep histograms.

    Test frames are read and scored ``block_size`` at a time, so memory does not
    grow with the length of the video. Masks (``bin%06d.png``, 0/255) are
    written for every test frame into a temporary folder renamed onto
    ``masks_dir`` at the end. ``counts.npz`` holds the sweep histograms over
    ``thresholds`` and the confusion counts of each scored frame at ``threshold``.
    ``postprocess`` (a method's ``postprocess:`` config) filters the score maps before
    thresholding (:func:`bgsub.postprocess.postprocess_scores`; the filters commute with
    thresholding, so the sweep stays exact).
    """
    if not np.isfinite(threshold) or not np.all(np.isfinite(thresholds)):
        raise InputError(f"{Path(masks_dir).parent.name}: threshold and sweep must be finite numbers, got {threshold}")
    try:
        check_postprocess(postprocess)
    except ValueError as exc:
        raise InputError(f"{Path(masks_dir).parent.name}: {exc}") from None
    sequence, info = open_split(name, spec, split_path, root)
    method = load_model(
        model_path, expect_kind=kind, expect_params=make_method(kind, **params).get_params(),
        expect_extra={"frame_shape": [info["height"], info["width"], info["channels"]]},
    )
    tally = ScoreTally(thresholds, threshold, info["scored_frames"])
    masks_dir = Path(masks_dir)
    tmp_dir = masks_dir.with_name(f".{masks_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    blocks = sequence.source.iter_blocks(sequence.test_numbers(), block_size)
    for numbers, scores, masks in score_blocks(method, blocks, threshold=tally.threshold, postprocess=postprocess):
        for number, mask in zip(numbers, masks):
            write_mask(tmp_dir / f"bin{number:06d}.png", mask)  # issue 16: PNG level 1, no per-file rename
        tally.add(numbers, scores, masks, sequence.labels, sequence.roi)
    shutil.rmtree(masks_dir, ignore_errors=True)
    os.replace(tmp_dir, masks_dir)
    tally.save(Path(counts_path))


def _rows(dataset: str, run: dict[str, Any], thresholds: np.ndarray, counts: dict[str, np.ndarray]) -> list[dict]:
    rows = []
    for i, t in enumerate(thresholds):
        c = {k: int(counts[k][i]) for k in COUNT_NAMES}
        rows.append(
            {
                "dataset": dataset,
                "method": run["method"],
                "n_components": run["n_components"],
                "run": run["name"],
                "threshold": float(t),
                **c,
                **compute_metrics(**c),
            }
        )
    return rows


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    frame["n_components"] = frame["n_components"].astype("Int64")
    return frame


def evaluate(dataset: str, runs: list[dict[str, Any]], counts_paths: list[Path], sweep_path: Path,
             summary_path: Path, frames_path: Path) -> None:
    """Gather the runs of one dataset into ``sweep.csv``, its ``summary.csv`` rows and per-frame counts.

    The summary row of a run is at its configured threshold, counted directly on
    its masks; the sweep row at the same threshold must agree, which is checked.
    """
    sweep_rows, summary_rows, frame_rows = [], [], []
    for run, path in zip(runs, counts_paths):
        tally, _ = ScoreTally.load(path)
        sweep, frames, threshold = tally.sweep, tally.frame_counts(), tally.threshold
        sweep_rows += _rows(dataset, run, sweep.thresholds, sweep.counts())
        direct = {k: frames[:, i + 1].sum(dtype=np.int64) for i, k in enumerate(COUNT_NAMES)}
        at = int(np.searchsorted(sweep.thresholds, threshold))
        from_sweep = {k: v[at] for k, v in sweep.counts().items()}
        if any(int(direct[k]) != int(from_sweep[k]) for k in COUNT_NAMES):
            raise RuntimeError(f"{dataset}/{run['name']}: sweep and masks disagree at the threshold")
        summary_rows += _rows(dataset, run, np.array([threshold]), {k: np.array([v]) for k, v in direct.items()})
        for number, *c in frames.tolist():
            frame_rows.append({"dataset": dataset, "run": run["name"], "frame": number,
                               **dict(zip(COUNT_NAMES, c)), **compute_metrics(*c)})
    write_csv(sweep_path, _frame(sweep_rows))
    write_csv(summary_path, _frame(summary_rows))
    write_csv(frames_path, pd.DataFrame(frame_rows, columns=["dataset", "run", "frame", *COUNT_NAMES, *METRIC_NAMES]))


def summarize(summary_paths: list[Path], output: Path) -> None:
    """Concatenate the per-dataset summaries into ``results/summary.csv``."""
    frames = [pd.read_csv(p, dtype={"n_components": "Int64"}) for p in summary_paths]
    frames = [f for f in frames if len(f)]
    summary = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SUMMARY_COLUMNS)
    write_csv(output, summary[SUMMARY_COLUMNS])
