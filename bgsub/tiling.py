"""Pixel tiling: fit and score one sequence as bands of rows, each its own job, then gather.

Every method of this project models each pixel on its own, so fitting and
scoring a band of rows ``[r0, r1)`` gives exactly the rows of the untiled
result. A tiled run is four steps (Snakemake rules in ``workflow/rules/tiles.smk``):

1. :func:`fit_tile` fits rows ``[r0, r1)`` of the training frames -> tile model;
2. :func:`gather_models` stitches tile models into the ``model.npz`` and
   ``background.png`` an untiled :func:`bgsub.pipeline.fit` writes;
3. :func:`score_tile` scores rows ``[r0, r1)`` of the test frames with the rows of
   ``model.npz`` -> a strip of masks (bit-packed ``.npy``), the strip's sweep
   histograms and per-frame confusion counts;
4. :func:`gather_scores` stitches the strips into ``masks/bin%06d.png`` and sums
   histograms and counts into the ``counts.npz`` an untiled :func:`bgsub.pipeline.score` writes.

Steps that look across pixels (mask post-processing filters) must run after the
gather. Kinds that cannot be tiled (OpenCV peers keep their model inside OpenCV)
set the class attribute ``tileable = False`` or are listed in :data:`UNTILEABLE_KINDS`;
the workflow runs them untiled.

The module also estimates the memory and run time of each rule from the frame
size, frame counts and the method (:func:`estimate_resources`), for cluster profiles.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Sequence as SequenceABC
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgsub.config import Dataset, Run
from bgsub.datasets import FrameSource
from bgsub.errors import InputError
from bgsub.io import replace_folder, write_mask
from bgsub.methods import method_class
from bgsub.models import load_model, pixel_axis, save_model, slice_state
from bgsub.pipeline import fit, read_frames, score, write_background
from bgsub.tally import ScoreTally

__all__ = [
    "UNTILEABLE_KINDS",
    "is_tileable",
    "tile_bounds",
    "read_rows",
    "pixel_axis",
    "slice_state",
    "stitch_states",
    "fit_tile",
    "gather_models",
    "score_tile",
    "gather_scores",
    "estimate_resources",
]

logger = logging.getLogger(__name__)

UNTILEABLE_KINDS = frozenset({"opencv_mog2", "opencv_knn"})  # their state lives inside OpenCV objects


def is_tileable(kind: str, params: dict | None = None, postprocess: dict | None = None) -> bool:
    """Whether a run may be split into row tiles with the result of an untiled run.

    False for kinds in :data:`UNTILEABLE_KINDS`, for methods whose ``tileable``
    attribute is False with these ``params`` (settings that look across pixels,
    such as a per-frame global gain or a spatial neighbourhood), and for runs with
    score post-processing (filters look across tile borders); True otherwise.

    Examples
    --------
    >>> is_tileable("mean"), is_tileable("opencv_mog2"), is_tileable("median", {}, {"median": 3})
    (True, False, False)
    """
    if kind in UNTILEABLE_KINDS or postprocess:
        return False
    return bool(getattr(method_class(kind)(**(params or {})), "tileable", True))


def tile_bounds(height: int, tiles: int) -> list[tuple[int, int]]:
    """Split ``height`` rows into ``tiles`` bands ``[r0, r1)`` of nearly equal height.

    The first ``height % tiles`` bands have one row more (like ``numpy.array_split``).

    Raises
    ------
    InputError
        When there are more tiles than rows.

    Examples
    --------
    >>> tile_bounds(10, 3)
    [(0, 4), (4, 7), (7, 10)]
    """
    if tiles < 1:
        raise InputError(f"config key tiles: must be at least 1, got {tiles}")
    if tiles > height:
        raise InputError(f"config key tiles: {tiles} tiles for frames {height} rows high; use at most {height}")
    size, extra = divmod(height, tiles)
    edges = [0]
    for i in range(tiles):
        edges.append(edges[-1] + size + (1 if i < extra else 0))
    return list(zip(edges[:-1], edges[1:]))


def read_rows(
    source: FrameSource, numbers: SequenceABC[int], rows: tuple[int, int], block_size: int = 64
) -> NDArray[np.uint8]:
    """Read rows ``[r0, r1)`` of the given frames, streaming (:func:`bgsub.pipeline.read_frames`)."""
    return read_frames(source, numbers, rows=rows, block_size=block_size)


def stitch_states(
    states: SequenceABC[dict[str, NDArray]], bounds: SequenceABC[tuple[int, int]], width: int
) -> dict[str, NDArray]:
    """Stitch the states of row tiles into the state of the whole frame.

    Per-pixel arrays are concatenated along their row axis; arrays without a
    pixel grid (counters, scalars) must be equal in every tile.

    Raises
    ------
    ValueError
        When tiles disagree on keys or layout, or a non-pixel array differs between tiles.
    """
    keys = list(states[0])
    for state in states[1:]:
        if list(state) != keys:
            raise ValueError(f"tile states have different arrays: {keys} and {list(state)}")
    out = {}
    for key in keys:
        arrays = [np.asarray(state[key]) for state in states]
        axes = {pixel_axis(a.shape, r1 - r0, width) for a, (r0, r1) in zip(arrays, bounds)}
        if len(axes) != 1:
            raise ValueError(f"state array {key!r} has its pixel grid at different axes in different tiles")
        axis = axes.pop()
        if axis is None:
            if any(not np.array_equal(a, arrays[0]) for a in arrays[1:]):
                raise ValueError(f"state array {key!r} is not per-pixel and differs between tiles")
            out[key] = arrays[0]
        else:
            out[key] = np.concatenate(arrays, axis=axis)
    return out


def _frame_shape(info: dict[str, Any]) -> list[int]:
    return [info["height"], info["width"], info["channels"]]


def _tile_rows(split_path: Path, tile: int, tiles: int) -> tuple[int, int]:
    return tile_bounds(json.loads(Path(split_path).read_text())["height"], tiles)[tile]


def fit_tile(
    dataset: Dataset, run: Run, split_path: Path, *, tile: int, tiles: int, model_path: Path, block_size: int = 64,
) -> None:
    """Fit rows of tile ``tile`` (of ``tiles``) on the training frames; write the tile model.

    This is :func:`bgsub.pipeline.fit` on the tile's band of rows.
    """
    fit(dataset, run, split_path, model_path, band=_tile_rows(split_path, tile, tiles), block_size=block_size)


def gather_models(
    split_path: Path, model_paths: SequenceABC[Path], *, run: Run, model_path: Path, background_path: Path,
) -> None:
    """Stitch tile models into ``model.npz`` and ``background.png``, as an untiled fit writes them."""
    info = json.loads(Path(split_path).read_text())
    bounds = tile_bounds(info["height"], len(model_paths))
    expect_params = run.model_params
    states = []
    for path, rows in zip(model_paths, bounds):
        tile_method = load_model(
            path, expect_kind=run.kind, expect_params=expect_params,
            expect_extra={"frame_shape": _frame_shape(info), "rows": list(rows)},
        )
        states.append(tile_method.get_state())
    method = run.new_method().set_state(stitch_states(states, bounds, info["width"]))
    save_model(model_path, method, extra={"frame_shape": _frame_shape(info)})
    write_background(background_path, method, tuple(_frame_shape(info)))


def score_tile(
    dataset: Dataset, run: Run, split_path: Path, model_path: Path, *, tile: int, tiles: int, strip_path: Path,
    counts_path: Path, block_size: int = 64,
) -> None:
    """Score rows of tile ``tile`` of the test frames with those rows of ``model.npz``.

    This is :func:`bgsub.pipeline.score` on the tile's band of rows. Writes ``strip_path``: the
    strip's masks, ``(T_test, r1 - r0, ceil(W / 8))`` uint8, bit-packed along the width
    (``numpy.packbits``), one row per test frame in order; and ``counts_path``: the strip's sweep
    histograms and per-frame confusion counts (the layout of ``counts.npz``, plus ``rows``).
    """
    score(dataset, run, split_path, model_path, strip_path, counts_path, band=_tile_rows(split_path, tile, tiles),
          block_size=block_size)


def gather_scores(
    split_path: Path, strip_paths: SequenceABC[Path], counts_paths: SequenceABC[Path], *, masks_dir: Path,
    counts_path: Path,
) -> None:
    """Stitch mask strips into ``masks/bin%06d.png`` and sum the strips' counts into ``counts.npz``.

    The outputs are those of an untiled :func:`bgsub.pipeline.score`: the same
    PNG bytes, the same histograms and per-frame counts.
    """
    info = json.loads(Path(split_path).read_text())
    h, w = info["height"], info["width"]
    bounds = tile_bounds(h, len(strip_paths))
    tally: ScoreTally | None = None
    for path, rows in zip(counts_paths, bounds):
        part, part_rows = ScoreTally.load(path)
        if part_rows != rows:
            raise ValueError(f"{path} holds rows {list(part_rows or ())}, expected {list(rows)}")
        if tally is None:
            tally = part
        else:
            try:
                tally.merge_band(part)
            except ValueError as exc:
                raise ValueError(f"{path}: {exc}") from None
    assert tally is not None
    strips = [np.load(p, mmap_mode="r") for p in strip_paths]
    first, last = info["test"]
    masks_dir = Path(masks_dir)
    tmp_dir = masks_dir.with_name(f".{masks_dir.name}.tmp")
    shutil.rmtree(tmp_dir, ignore_errors=True)
    tmp_dir.mkdir(parents=True)
    for t, number in enumerate(range(first, last + 1)):
        packed = np.concatenate([strip[t] for strip in strips], axis=0)
        mask = np.unpackbits(packed, axis=-1, count=w).astype(bool)
        write_mask(tmp_dir / f"bin{number:06d}.png", mask)
    del strips
    replace_folder(tmp_dir, masks_dir)
    tally.save(Path(counts_path))


# Measured cost of reading a frame, one core (the methods' own costs: BackgroundMethod.resource_cost; README
# "Scale-out"). Seconds per pixel of the whole frame.
_DECODE_PER_PIXEL = 2.5e-7  # reading a frame (PNG/JPEG decode, labels), per pixel of the whole frame


def estimate_resources(
    step: str, *, height: int, width: int, channels: int = 3, n_train: int, n_test: int, kind: str,
    n_components: int | None = None, fit_components: int | None = None, tiles: int = 1, block_size: int = 64,
    attempt: int = 1,
) -> dict[str, int]:
    """Memory (MB) and run time (minutes) a rule's job asks a cluster for.

    Parameters
    ----------
    step : {"fit", "score", "gather"}
        ``fit`` and ``score`` are per tile when ``tiles > 1`` (the whole frame otherwise);
        ``gather`` stitches the tiles of one run.
    height, width, channels : int
        Frame size (from ``split.json``).
    n_train, n_test : int
        Training frames used (after ``max_train_frames``) and test frames.
    kind, n_components :
        The method, whose declared :meth:`~bgsub.base.BackgroundMethod.resource_cost` gives its state,
        working memory and time per pixel; GMM state and time grow with ``n_components``.
    fit_components : int or None
        The method's ``fit_components`` setting: a fit with EM on more components than ``n_components``
        is costed at that many (scoring at ``n_components``).
    tiles, block_size : int
    attempt : int
        Snakemake's attempt number; memory and time double on each retry.

    Returns
    -------
    dict
        ``{"mem_mb": int, "runtime": int}``, with a 500 MB floor for the Python
        process and 5 minutes for start-up and queueing slack.

    Examples
    --------
    >>> estimate_resources("fit", height=240, width=320, n_train=500, n_test=1000, kind="mean")
    {'mem_mb': 833, 'runtime': 6}
    """
    k = n_components or 1
    if step == "fit" and fit_components is not None:
        k = max(k, fit_components)  # EM fits them all before each pixel keeps n_components
    rows = math.ceil(height / tiles) if step in ("fit", "score") else height
    pixels = rows * width
    cost = method_class(kind).resource_cost(k, channels)
    per_pixel_state = cost.state_bytes
    state_mb = pixels * per_pixel_state / 2**20
    full_frame_mb = height * width * channels / 2**20
    if step == "fit":
        frames_mb = n_train * pixels * channels / 2**20
        work_mb = frames_mb * cost.fit_memory
        seconds = n_train * height * width * _DECODE_PER_PIXEL + n_train * pixels * cost.fit_seconds
    elif step == "score":
        frames_mb = block_size * full_frame_mb  # a block of whole frames is decoded, then cut to the band
        work_mb = block_size * pixels * (4 * 4 * max(k, 1)) / 2**20  # float32 scores and per-component terms
        seconds = n_test * height * width * _DECODE_PER_PIXEL + n_test * pixels * cost.score_seconds
    elif step == "gather":
        frames_mb = full_frame_mb * 2
        work_mb = 2 * state_mb * (1 + 1 / max(tiles, 1))
        seconds = n_test * height * width * 3e-8  # PNG encoding of every mask
    else:
        raise ValueError(f"step must be fit, score or gather, got {step!r}")
    mem_mb = 500 + frames_mb + work_mb + 3 * state_mb
    runtime = 5 + 2 * seconds / 60
    return {"mem_mb": int(math.ceil(mem_mb)) * attempt, "runtime": int(math.ceil(runtime)) * attempt}
