"""Compiled kernels of the scoring levers (:mod:`bgsub.spatial`): one frame against a per-pixel mixture.

:func:`score_frame` gives every pixel its smallest squared Mahalanobis distance to the background
components of its ``(2r+1) x (2r+1)`` neighbourhood (or its own only, where the gate is off), its own
nearest background component and distance, and MOG2's shadow test (:mod:`bgsub.kernels.shadow`);
:func:`adapt_means` moves the matched background means towards the frame. Threads over image rows (``numba.prange``).
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from bgsub.kernels.shadow import is_shadow

__all__ = ["adapt_means", "score_frame"]


@numba.njit(parallel=True, cache=True)
def score_frame(
    frame: NDArray[np.float32], means: NDArray[np.float32], whiten: NDArray[np.float32],
    mean_var: NDArray[np.float32], is_bg: NDArray[np.bool_], radius: int, gate: NDArray[np.bool_],
    shadow_tau: float, shadow_max: float, shadow_var_threshold: float, scale_distortion: bool,
    out: NDArray[np.float32], own_d2: NDArray[np.float32], own_k: NDArray[np.int64],
    shadow: NDArray[np.bool_],
) -> None:
    height, width, n_comp, n_ch = means.shape
    for y in numba.prange(height):
        diff = np.empty(n_ch, np.float32)
        for x in range(width):
            best = np.inf
            own_best = np.inf
            own_idx = -1
            r = radius if gate[y, x] else 0
            for dy in range(-r, r + 1):
                ny = y + dy
                if ny < 0 or ny >= height:
                    continue
                for dx in range(-r, r + 1):
                    nx = x + dx
                    if nx < 0 or nx >= width:
                        continue
                    for k in range(n_comp):
                        if not is_bg[ny, nx, k]:
                            continue
                        for c in range(n_ch):
                            diff[c] = frame[y, x, c] - means[ny, nx, k, c]
                        d2 = 0.0
                        for i in range(n_ch):
                            z = 0.0
                            for c in range(n_ch):
                                z += whiten[ny, nx, k, i, c] * diff[c]
                            d2 += z * z
                        if d2 < best:
                            best = d2
                        if dy == 0 and dx == 0 and d2 < own_best:
                            own_best = d2
                            own_idx = k
            shadow[y, x] = (shadow_tau > 0.0 and best > 0.0
                            and is_shadow(frame[y, x], means, mean_var, is_bg, y, x, shadow_tau, shadow_max,
                                          shadow_var_threshold, scale_distortion))
            out[y, x] = best
            own_d2[y, x] = own_best
            own_k[y, x] = own_idx


@numba.njit(parallel=True, cache=True)
def adapt_means(
    frame: NDArray[np.float32], means: NDArray[np.float32], own_d2: NDArray[np.float32],
    own_k: NDArray[np.int64], update_threshold: float, rate: float,
) -> None:
    height, width, _, n_ch = means.shape
    for y in numba.prange(height):
        for x in range(width):
            k = own_k[y, x]
            if k >= 0 and own_d2[y, x] < update_threshold:
                for c in range(n_ch):
                    means[y, x, k, c] += rate * (frame[y, x, c] - means[y, x, k, c])
