"""Saving and loading fitted methods as ``.npz`` files of plain arrays.

A model file holds the method kind, its settings (as JSON), a format version
and the arrays of :meth:`~bgsub.base.BackgroundMethod.get_state`. It is read
with ``allow_pickle=False``, so loading never runs code.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgsub.base import BackgroundMethod
from bgsub.errors import InputError
from bgsub.io import atomic_write
from bgsub.methods import make_method

__all__ = ["FORMAT_VERSION", "save_model", "load_model", "pixel_axis", "slice_state"]

#: 2: GMM files leave out ``precisions_cholesky_`` (recomputed from the covariances on loading) and
#: ``gmm_background`` files hold only its background; version-1 files are refused, so they are refitted.
FORMAT_VERSION = 2
_META = "__bgsub_meta__"


def save_model(path: Path, method: BackgroundMethod, *, extra: dict[str, Any] | None = None) -> None:
    """Write a fitted method to ``path`` atomically.

    Parameters
    ----------
    path : Path
        Destination ``.npz`` file.
    method : BackgroundMethod
        A fitted method.
    extra : dict, optional
        JSON-serialisable facts stored beside the model (e.g. frame size, training frames),
        checked again by :func:`load_model`.
    """
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": method.kind,
        "params": method.get_params(),
        "extra": extra or {},
    }
    state = {k: np.asarray(v) for k, v in method.get_state().items() if v is not None}
    for name, array in state.items():
        if array.dtype == object:
            raise TypeError(f"state array {name!r} of {method.kind} has dtype object; only plain arrays are saved")
    with atomic_write(Path(path)) as tmp, open(tmp, "wb") as fh:
        # compressed: a mixture's float32 arrays shrink to ~60 %, and models are most of a run's results
        np.savez_compressed(fh, **{_META: np.array(json.dumps(meta, sort_keys=True))}, **state)


def load_model(
    path: Path, *, expect_kind: str | None = None, expect_params: dict[str, Any] | None = None,
    expect_extra: dict[str, Any] | None = None,
) -> BackgroundMethod:
    """Load a method saved by :func:`save_model`.

    Parameters
    ----------
    path : Path
    expect_kind, expect_params, expect_extra : optional
        When given, the file must match them, else the model was fitted with another
        configuration and is refused.

    Raises
    ------
    InputError
        When the file is unreadable, of another format version, or from another configuration.
    """
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:  # fh closed even on junk
            meta = json.loads(str(data[_META]))
            state = {k: data[k] for k in data.files if k != _META}
    except FileNotFoundError:
        raise InputError(f"{path}: model file not found") from None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:  # what np.load raises on junk
        raise InputError(f"{path}: not a bgsub model file ({exc})".splitlines()[0]) from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: model format version {meta.get('format_version')} is not {FORMAT_VERSION}; refit it"
        )
    for what, want, have in (
        ("kind", expect_kind, meta["kind"]),
        ("settings", expect_params, meta["params"]),
        ("data", expect_extra, meta["extra"]),
    ):
        if want is not None and json.loads(json.dumps(want, sort_keys=True)) != have:
            raise InputError(f"{path}: model was fitted with other {what} ({have} != {want}); refit it")
    method = make_method(meta["kind"], **meta["params"])
    return method.set_state(state)


def pixel_axis(shape: tuple[int, ...], height: int, width: int) -> int | None:
    """Axis ``p`` of a state array such that ``shape[p:p + 2] == (height, width)``; None if none.

    State arrays keep the pixel grid as two consecutive axes, in front
    (``means_ (H, W, K, C)``) or behind other axes (``weights (K, H, W)``).

    Raises
    ------
    ValueError
        When two positions match (the layout is ambiguous for this frame size).

    Examples
    --------
    >>> pixel_axis((5, 3, 24, 32), 24, 32), pixel_axis((24, 32, 3), 24, 32), pixel_axis((), 24, 32)
    (2, 0, None)
    """
    hits = [p for p in range(len(shape) - 1) if shape[p] == height and shape[p + 1] == width]
    if len(hits) > 1:
        raise ValueError(f"state array of shape {shape}: pixel grid ({height}, {width}) found at axes {hits}")
    return hits[0] if hits else None


def slice_state(state: dict[str, NDArray], height: int, width: int, rows: tuple[int, int]) -> dict[str, NDArray]:
    """Rows ``[r0, r1)`` of every per-pixel array of a fitted state; other arrays unchanged."""
    out = {}
    for key, array in state.items():
        p = pixel_axis(np.shape(array), height, width)
        out[key] = array if p is None else np.ascontiguousarray(np.take(array, range(*rows), axis=p))
    return out
