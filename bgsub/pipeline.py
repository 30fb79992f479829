"""The steps of the experiment, one function per Snakemake rule.

Rule scripts in ``workflow/scripts/`` only read ``snakemake.input``/``params``
and call these functions, so every step can be run and tested without
Snakemake. A fit or score step takes ``(dataset, run, inputs, outputs)``: the
:class:`~bgsub.config.Dataset` and the :class:`~bgsub.config.Run` the rule hands it,
checked when the config was read. Every file is written atomically (temporary
file, then rename).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod
from bgsub.config import Dataset, Run
from bgsub.datasets import FrameSource, Sequence, open_sequence
from bgsub.errors import InputError
from bgsub.io import atomic_path, replace_file, replace_folder, write_csv, write_image, write_json, write_mask
from bgsub.kernels import set_num_threads
from bgsub.metrics import COUNT_NAMES, METRIC_NAMES, compute_metrics
from bgsub.models import load_model, save_model, slice_state
from bgsub.progress import Progress
from bgsub.scoring import score_blocks
from bgsub.synth import make_scene, write_cdnet
from bgsub.tally import ScoreTally

__all__ = [
    "SUMMARY_COLUMNS",
    "run_step",
    "synthesize",
    "split",
    "open_split",
    "read_frames",
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


def synthesize(folder: Path, scene: str, **options: Any) -> None:
    """Generate a synthetic scene into ``folder`` in CDnet layout (atomically: built beside, then renamed)."""
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    write_cdnet(make_scene(scene, **options), tmp)
    replace_folder(tmp, folder)


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


def _frame_shape(info: dict[str, Any]) -> list[int]:
    return [info["height"], info["width"], info["channels"]]


def read_frames(
    source: FrameSource, numbers: SequenceABC[int], *, rows: tuple[int, int] | None = None, block_size: int = 64,
    progress: Progress | None = None,
) -> NDArray[np.uint8]:
    """Read the given frames (rows ``[r0, r1)`` of them, or whole), a block at a time.

    Only the band is kept, so memory holds ``len(numbers)`` bands and one block of whole frames.

    Returns
    -------
    frames : ndarray of shape (len(numbers), r1 - r0, W, C), uint8
        In increasing frame order (``numbers`` must be increasing and unique).
    """
    numbers = list(numbers)
    if numbers != sorted(set(numbers)):
        raise ValueError("frame numbers must be increasing and unique")
    h, w, c = source.frame_shape
    r0, r1 = (0, h) if rows is None else rows
    out = np.empty((len(numbers), r1 - r0, w, c), np.uint8)
    at = 0
    for block_numbers, frames in source.iter_blocks(numbers, block_size):
        out[at : at + len(block_numbers)] = frames[:, r0:r1]
        at += len(block_numbers)
        if progress is not None:
            progress.update(len(block_numbers))
    return out


def fit(
    dataset: Dataset, run: Run, split_path: Path, model_path: Path, background_path: Path | None = None, *,
    band: tuple[int, int] | None = None, block_size: int = 64,
) -> None:
    """Fit ``run`` on the training frames of ``dataset``; write ``model.npz`` and ``background.png``.

    With ``band = (r0, r1)`` only those rows are fitted (a tile of :mod:`bgsub.tiling`): the model
    records its ``rows`` and no background image is written (the gather writes the whole one).
    """
    sequence, info = open_split(dataset.name, dataset.spec, split_path, dataset.root)
    numbers = info["train_frames"]
    where = "" if band is None else f" rows {band[0]}-{band[1]}"
    label = f"{dataset.name}/{run.name}"
    with Progress(len(numbers), f"{label}: reading training frames{where}", logger=logger, min_interval=5) as bar:
        frames = read_frames(sequence.source, numbers, rows=band, block_size=block_size, progress=bar)
    method = run.new_method()
    logger.info("%s: fitting %s%s on %d frames of %dx%d", label, run.kind, where, len(frames), info["width"],
                info["height"])
    start = time.perf_counter()
    method.fit(frames)
    seconds = time.perf_counter() - start
    logger.info("%s: fitted in %.1f s (%.1f frames/s)", label, seconds, len(frames) / max(seconds, 1e-9))
    extra: dict[str, Any] = {"frame_shape": _frame_shape(info)}
    if band is not None:
        extra["rows"] = list(band)
    save_model(model_path, method, extra=extra)
    if band is None and background_path is not None:
        write_background(background_path, method, tuple(_frame_shape(info)))  # type: ignore[arg-type]


def write_background(path: Path, method: BackgroundMethod, frame_shape: tuple[int, int, int]) -> None:
    """Write a fitted method's background image; a method without one shows grey (every run has one)."""
    background = method.background_image()
    if background is None:
        background = np.full(frame_shape, 127, np.uint8)
    write_image(path, background.squeeze(-1) if background.shape[-1] == 1 else background)


class _MaskFolder:
    """Masks as ``bin%06d.png`` (0/255) in a temporary folder renamed onto ``path`` when all are written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.tmp")
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True)

    def add(self, numbers: list[int], masks: NDArray[np.bool_]) -> None:
        for number, mask in zip(numbers, masks):
            write_mask(self.tmp / f"bin{number:06d}.png", mask)

    def commit(self) -> None:
        replace_folder(self.tmp, self.path)

    def abort(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


class _MaskStrip:
    """A band's masks as one ``.npy`` of shape ``(T, rows, ceil(W / 8))`` uint8, bit-packed along the width."""

    def __init__(self, path: Path, shape: tuple[int, int, int]) -> None:
        t, rows, w = shape
        self.path = Path(path)
        tmp = self.tmp = atomic_path(self.path)
        self.strips = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(t, rows, (w + 7) // 8))
        self.at = 0

    def add(self, numbers: list[int], masks: NDArray[np.bool_]) -> None:
        self.strips[self.at : self.at + len(numbers)] = np.packbits(masks, axis=-1)
        self.at += len(numbers)

    def commit(self) -> None:
        self.strips.flush()
        del self.strips
        replace_file(self.tmp, self.path)

    def abort(self) -> None:
        self.__dict__.pop("strips", None)
        if self.tmp.exists():
            self.tmp.unlink()


def score(
    dataset: Dataset, run: Run, split_path: Path, model_path: Path, masks_path: Path, counts_path: Path, *,
    band: tuple[int, int] | None = None, block_size: int = 64,
) -> None:
    """Score the test frames of ``run`` on ``dataset``; write its masks and its sweep histograms.

    Test frames are read and scored ``block_size`` at a time (:func:`bgsub.scoring.score_blocks`),
    so memory does not grow with the length of the video. ``counts.npz`` holds the sweep
    histograms over ``run.thresholds()`` and the confusion counts of each scored frame at
    ``run.threshold``; ``run.postprocess`` filters the score maps before thresholding (the
    filters commute with thresholding, so the sweep stays exact).

    Parameters
    ----------
    masks_path : Path
        Whole frames (``band=None``): the ``masks/`` folder, one ``bin%06d.png`` (0/255) per test
        frame, written into a temporary folder renamed onto it at the end. A band: the strip
        file, ``(T_test, r1 - r0, ceil(W / 8))`` uint8 bit-packed along the width
        (``numpy.packbits``), which :func:`bgsub.tiling.gather_scores` stitches.
    band : (int, int) or None
        Rows ``[r0, r1)`` only (a tile of :mod:`bgsub.tiling`), with those rows of ``model.npz``;
        ``counts.npz`` then counts the band's pixels and records its ``rows``.
    """
    sequence, info = open_split(dataset.name, dataset.spec, split_path, dataset.root)
    h, w = info["height"], info["width"]
    method = load_model(model_path, expect_kind=run.kind, expect_params=run.model_params,
                        expect_extra={"frame_shape": _frame_shape(info)})
    labels_of: Callable[[int], NDArray] = sequence.labels
    roi = sequence.roi
    test_numbers = sequence.test_numbers()
    if band is None:
        where, sink = "", _MaskFolder(masks_path)
    else:

        if run.postprocess:
            raise ValueError(f"{run.name}: score post-processing looks across rows; a band cannot be scored alone")
        r0, r1 = band
        method = run.new_method().set_state(slice_state(method.get_state(), h, w, band))
        labels_of = lambda n: sequence.labels(n)[r0:r1]  # noqa: E731
        roi = None if roi is None else roi[r0:r1]
        where, sink = f" rows {r0}-{r1}", _MaskStrip(masks_path, (len(test_numbers), r1 - r0, w))
    tally = ScoreTally(run.thresholds(), run.threshold, info["scored_frames"])
    blocks = sequence.source.iter_blocks(test_numbers, block_size)
    try:
        with Progress(len(test_numbers), f"{dataset.name}/{run.name}: scoring{where}", logger=logger,
                      min_interval=5) as progress:
            for numbers, scores, masks in score_blocks(method, blocks, threshold=tally.threshold,
                                                       postprocess=run.postprocess, band=band,
                                                       need_scores=bool(tally.scored),
                                                       cuts=tally.sweep.thresholds):
                sink.add(numbers, masks)
                tally.add(numbers, scores, masks, labels_of, roi)
                progress.update(len(numbers))
        sink.commit()
    finally:
        sink.abort()
    tally.save(Path(counts_path), rows=band)


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
