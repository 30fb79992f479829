"""Lane layout of the struct-of-arrays slabs: pixels as SIMD lanes, rows of ``_LANES`` values."""

from __future__ import annotations

import numba
import numpy as np

__all__ = []

_LANES = 64

#: Row length of the sample slab: a lane's samples (one per row) are loaded one by one, and with rows
#: 256 bytes apart they fall into a quarter of the L1 sets and evict each other (loading took 2.5x as long).
_SAMPLE_ROW = _LANES + 16


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ix(row: int, lane: int) -> np.uint64:
    """Flat index of ``(row, lane)`` in a lane slab; unsigned, so numba adds no negative-index
    wrap-around and LLVM sees addresses affine in ``lane`` (the loops over lanes vectorise)."""
    return np.uint64(row * _LANES) + np.uint64(lane)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ixs(row: int, lane: int) -> np.uint64:
    """:func:`_ix` in the sample slab, whose rows are ``_SAMPLE_ROW`` values apart."""
    return np.uint64(row * _SAMPLE_ROW) + np.uint64(lane)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _ixn(row: int, lanes: int, lane: int) -> np.uint64:
    """:func:`_ix` for a slab of ``lanes`` lanes."""
    return np.uint64(row * lanes) + np.uint64(lane)
