"""Compiled EM of the batch per-pixel GMM (full covariances): which kernel fits which pixels.

Same mathematics as the numpy reference in :mod:`bgsub.mixture_em` (scikit-learn's EM per pixel, the
same deterministic k-means initialisation, the same convergence rule, Cholesky factors of the
precisions with the same pivot floor), but organised for the CPU. :func:`fit_full` is the entry
point; :func:`runs_in_lanes` says which kernel it will use:

* C = 3 (colour), the fast path, :mod:`bgsub.kernels.em_lanes` (one compiled kernel per K): pixels
  are the SIMD lanes of an engine (one per thread) that keeps its state as struct-of-arrays slabs
  (:mod:`bgsub.kernels.lanes`) and runs all EM iterations of its pixels; a pixel that converges
  (its own rule and iteration count) is written out and its lane takes the next pixel, so a pixel's
  result never depends on its lane, engine, thread count or chunk. One pass over the samples per
  iteration does the E-step and the M-step's sums in float32 (:mod:`bgsub.kernels.vecmath`'s
  ``expf``), added into float64; means, covariances, weights and Cholesky factors are float64, and
  the log-likelihood agrees with the float64 reference to about 1e-7 relative. The k-means
  initialisation (:mod:`bgsub.kernels.kmeans`) is float64 with pixels as lanes too, bit for bit the
  per-pixel k-means for integer samples. Results go straight into the model's float32 arrays, each
  pixel's components sorted by descending weight.
* Other channel counts, and fits that keep the lower bound of every iteration (``keep_history``):
  :mod:`bgsub.kernels.em_pixel`, one pixel at a time per thread in float64, the time axis as the
  SIMD axis.

Samples are not centred: scikit-learn's ``10 eps`` guard on the soft counts makes the mean of a
near-empty component shrink towards the origin, so centring would change it.

The classification (squared Mahalanobis distance to the nearest background component) is
:mod:`bgsub.kernels.classify`. Speed: the README's "Speed and memory" table, measured by
``benchmarks/bench_kernels.py`` and ``benchmarks/bench_gmm.py``.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import NDArray

from bgsub.kernels.em_lanes import _fit3_lanes
from bgsub.kernels.em_pixel import _fit_full_kernel

__all__ = ["fit_full", "runs_in_lanes"]

def runs_in_lanes(n_channels: int, dtype: np.dtype, keep_history: bool) -> bool:
    """Whether :func:`fit_full` runs the float32 lane kernel (reading the samples in place) for
    samples of ``n_channels`` and ``dtype``, rather than the per-pixel kernel on a float64 copy."""
    return n_channels == 3 and not keep_history and np.dtype(dtype) in (np.uint8, np.float32, np.float64)


def fit_full(
    samples: NDArray,
    n_components: int,
    *,
    tol: float,
    reg_covar: float,
    max_iter: int,
    init: tuple[NDArray, NDArray, NDArray] | None = None,
    keep_history: bool = False,
    out: dict[str, NDArray] | None = None,
) -> dict[str, NDArray]:
    """EM with full covariances of every pixel of ``samples (T, P, C)``; results sorted by weight.

    Parameters
    ----------
    samples : ndarray of shape (T, P, C)
        Samples on the 0-255 scale; uint8, float32 or float64 with C = 3 are read in their dtype (the
        float32 lane kernel), anything else as float64 (one pixel per thread); in C order either way.
    n_components : int
    tol, reg_covar, max_iter
        As :class:`bgsub.mixture.PixelGaussianMixture`.
    init : tuple of ndarray, optional
        ``(weights (P, K), means (P, K, C), precisions_cholesky (P, K, C, C))`` float64 initial
        parameters; None runs the deterministic k-means initialisation in the kernel.
    keep_history : bool
        Also fill ``history (P, max_iter)``.
    out : dict of ndarray, optional
        Arrays to fill (float32 or float64 parameters; views of larger arrays are fine), with the
        keys and shapes below; None allocates them (float32 parameters).

    Returns
    -------
    dict
        ``weights (P, K)``, ``means (P, K, C)``, ``covariances (P, K, C, C)``, ``precisions_cholesky
        (P, K, C, C)``, each pixel's components by descending weight (ties in component order, as
        ``np.argsort(-weights, kind="stable")``); ``converged (P,)`` bool, ``n_iter (P,)`` int32,
        ``lower_bound (P,)`` float64, ``history (P, max_iter)`` float64 or None.
    """
    samples = np.asarray(samples)
    lanes = runs_in_lanes(samples.shape[2], samples.dtype, keep_history)
    # C order either way: a strided view would compile a kernel of its own (~30 s) to save a small copy
    samples = np.ascontiguousarray(samples, dtype=None if lanes else np.float64)
    n_frames, n_pixels, n_channels = samples.shape
    k = n_components
    if out is None:
        out = {
            "weights": np.empty((n_pixels, k), dtype=np.float32),
            "means": np.empty((n_pixels, k, n_channels), dtype=np.float32),
            "covariances": np.empty((n_pixels, k, n_channels, n_channels), dtype=np.float32),
            "precisions_cholesky": np.empty((n_pixels, k, n_channels, n_channels), dtype=np.float32),
            "converged": np.empty(n_pixels, dtype=np.bool_),
            "n_iter": np.empty(n_pixels, dtype=np.int32),
            "lower_bound": np.empty(n_pixels),
            "history": np.empty((n_pixels, max_iter)) if keep_history else None,
        }
    history = out["history"] if keep_history else np.empty((1, max_iter))
    if init is None:
        w0, m0, p0 = np.empty((1, k)), np.empty((1, k, n_channels)), np.empty((1, k, n_channels, n_channels))
    else:
        w0, m0, p0 = (np.ascontiguousarray(a, dtype=np.float64) for a in init)
    if lanes:
        _fit3_lanes(samples, init, float(tol), float(reg_covar), int(max_iter), keep_history, w0, m0, p0,
                    out, history)  # fmt: skip
        return out
    previous = numba.set_parallel_chunksize(16)  # dynamic chunks: pixels differ in EM iterations
    try:
        _fit_full_kernel(
            samples, init is not None, w0, m0, p0,
            float(tol), float(reg_covar), int(max_iter), keep_history,
            out["weights"], out["means"], out["covariances"], out["precisions_cholesky"],
            out["converged"], out["n_iter"], out["lower_bound"], history,
        )  # fmt: skip
    finally:
        numba.set_parallel_chunksize(previous)
    return out
