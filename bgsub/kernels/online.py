"""Numba kernel of the adaptive (MOG2) per-frame update of :class:`bgsub.online.AdaptiveGaussianMixture`.

The numpy reference vectorises over pixels and loops over components; this kernel loops over
pixels and runs each pixel's component loop, then its shadow test and its mask value, as scalar
float32 code in the same order and with the same float32 roundings as the reference (no
fast-math), so the two give the same bytes.

What made it fast (measured at 240x320, 50 frames of MOG2's defaults, one thread, against MOG2's
``apply`` in the same run; ``benchmarks/bench_online.py``): 0.64x MOG2 before, ~1.2x after.

- the channel count is a compile-time constant (one specialisation each for 1 and 3 channels, a
  generic one otherwise): LLVM unrolls the channel loops; with a runtime count they stay loops.
  This alone took the update from ~1.2 to ~0.8 ms a frame;
- the frame is read as it comes, ``(N, C)`` uint8 (a view of the ``(H, W, C)`` frame: no
  per-frame float conversion or transpose), and once per pixel into registers (``_sample``);
- the state is pixel-major, each pixel's K components contiguous (``weights (N, K)``,
  ``means (N, K, C)``), as MOG2 keeps it: one stream of memory per array instead of K (or K * C)
  rows N floats apart; measured 1.2x faster than the component-major layout. (One array of
  ``(N, K, 2 + C)`` structs, MOG2's exact layout, measured no faster than three arrays.)
- the mask is written by the kernel (no ``np.where`` pass over the scores afterwards).

Tried and not kept (same harness, interleaved with MOG2): ``fastmath`` (no gain, and no longer the
reference's bytes); the mixture size K as a compile-time constant (no gain); a mask-only variant
for ``apply`` deciding ``float32(d2 / var) <= Tb`` without the division, exactly (a float64
product against the rounding midpoint; or a 1e-5 band with the division inside it): slower than
dividing, although an inexact ``d2 < Tb * var`` was ~10 % faster.

Threads: ``numba.get_num_threads()`` of them (``bgsub.kernels.set_num_threads``), the calling
thread included, take contiguous chunks of pixels in turn (``_Chunks``: a few per thread, so the
load balances when a thread starts late, as on a busy machine); the others are a persistent pool
of Python threads, woken per frame (~45 us), as the kernel releases the GIL. A
numba ``prange`` launch per frame measured worse: its idle workers take ~0.5 ms to wake, half of
a 240x320 frame's update. Frames under ``2 * _MIN_PIXELS_PER_THREAD`` pixels stay on one thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numpy.typing import NDArray

__all__ = ["update", "N_CONSTANTS"]

#: Fewest pixels worth handing to another thread: a hand-off to a waiting pool thread measured
#: 45 us (median; 60 us at the 90th percentile), the update of 16384 pixels ~0.15-0.2 ms.
_MIN_PIXELS_PER_THREAD = 16384
#: Chunks per thread a threaded frame is cut into, so a thread that starts late takes fewer of them;
#: each costs a kernel call (~5 us).
_CHUNKS_PER_THREAD = 3
#: Fewest pixels of a chunk.
_MIN_PIXELS_PER_CHUNK = 8192
#: Length of the ``constants`` vector of :func:`update`.
N_CONSTANTS = 14


@numba.njit(cache=True, inline="always")
def _rotate_up(weights: NDArray, variances: NDArray, means: NDArray, n: int, src: int, dst: int) -> None:
    """Move component ``src`` of pixel ``n`` to position ``dst < src``, shifting ``dst..src-1`` down."""
    w = weights[n, src]
    v = variances[n, src]
    for k in range(src, dst, -1):
        weights[n, k] = weights[n, k - 1]
        variances[n, k] = variances[n, k - 1]
    weights[n, dst] = w
    variances[n, dst] = v
    for c in range(means.shape[2]):
        m = means[n, src, c]
        for k in range(src, dst, -1):
            means[n, k, c] = means[n, k - 1, c]
        means[n, dst, c] = m


@numba.njit(cache=True, inline="always")
def _sample(c: int, n: int, data: NDArray, x0: float, x1: float, x2: float) -> float:
    """Channel ``c`` of pixel ``n`` as float32: from the registers ``x0 .. x2`` loaded once per pixel
    (with ``c`` a constant after unrolling this folds away), from ``data`` beyond channel 2. Without
    them every use reloads ``data``, as a store to the state might have changed it (measured ~4 %)."""
    if c == 0:
        return x0
    if c == 1:
        return x1
    if c == 2:
        return x2
    return np.float32(data[n, c])


@numba.njit(cache=True, inline="always")
def _is_shadow(
    n_channels: int,
    n: int,
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    nm: int,
    tb: float,
    big_tb: float,
    tau: float,
) -> bool:
    """MOG2's shadow test of pixel ``n`` against its updated model (``AdaptiveGaussianMixture._shadow_test``)."""
    zero = np.float32(0.0)
    t_weight = zero
    for k in range(nm):
        num = zero
        den = zero
        for c in range(n_channels):
            m = means[n, k, c]
            num += np.float32(data[n, c]) * m
            den += m * m
        if den == 0:
            return False
        if num <= den and num >= tau * den:
            a = num / den
            dist2a = zero
            for c in range(n_channels):
                d = a * means[n, k, c] - np.float32(data[n, c])
                dist2a += d * d
            if dist2a < big_tb * variances[n, k] * a * a:
                return True
        t_weight = t_weight + weights[n, k]
        if t_weight > tb:
            return False
    return False


@numba.njit(cache=True, inline="always")
def _update_pixels(
    n_channels: int,
    data: NDArray,
    weights: NDArray,
    variances: NDArray,
    means: NDArray,
    n_modes: NDArray,
    f32: NDArray,
    scores: NDArray,
    mask: NDArray,
    shadow: NDArray,
) -> None:
    """MOG2 update of every pixel of ``data`` (the reference's operations in its order), then the
    shadow test and mask value of each.

    Sums of squares start from 0 and add every channel: ``0 + d0 * d0`` is exactly ``d0 * d0``, so
    this is the reference's channel-by-channel sum, bit for bit.
    """
    alpha_t, alpha1, prune, tb, tg, var_min, var_max, var_init, eps, no_model = (
        f32[0], f32[1], f32[2], f32[3], f32[4], f32[5], f32[6], f32[7], f32[8], f32[9],
    )  # fmt: skip
    tau, big_tb, detect = f32[10], f32[11], f32[12] != 0
    shadow_value = np.uint8(f32[13])
    k_max = weights.shape[1]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for n in range(data.shape[0]):
        x0 = np.float32(data[n, 0])
        x1 = np.float32(data[n, 1]) if n_channels > 1 else zero
        x2 = np.float32(data[n, 2]) if n_channels > 2 else zero
        nm = np.int64(n_modes[n])
        total = zero
        fitted = False
        match_pos = -1
        score = no_model
        for k in range(k_max):
            if nm <= k:
                break
            wk = weights[n, k] * alpha1
            wk = wk + prune
            if not fitted:
                dist2 = zero
                for c in range(n_channels):
                    d = means[n, k, c] - _sample(c, n, data, x0, x1, x2)
                    dist2 += d * d
                var = variances[n, k]
                if total < tb:
                    ratio = dist2 / var
                    score = ratio if ratio < score else score
                if dist2 < tg * var:
                    wk = wk + alpha_t
                    rate = alpha_t / wk
                    for c in range(n_channels):
                        d = means[n, k, c] - _sample(c, n, data, x0, x1, x2)
                        means[n, k, c] = means[n, k, c] - rate * d
                    var_new = var + rate * (dist2 - var)
                    var_new = min(max(var_new, var_min), var_max)
                    variances[n, k] = var_new
                    fitted = True
                    match_pos = k
            if wk < -prune:
                wk = zero
                nm -= 1
            total = total + wk
            weights[n, k] = wk
        if match_pos > 0:
            w_src = weights[n, match_pos]
            dst = 0
            for k in range(match_pos):
                if weights[n, k] > w_src:
                    dst += 1
            if dst < match_pos:
                _rotate_up(weights, variances, means, n, match_pos, dst)
        inv = one / total if abs(total) > eps else zero
        for k in range(nm):
            weights[n, k] = weights[n, k] * inv
        if not fitted and alpha_t > 0:
            if nm < k_max:
                nm += 1
            pos = nm - 1
            dst = 0
            for k in range(pos):
                weights[n, k] = weights[n, k] * alpha1
                if weights[n, k] > alpha_t:
                    dst += 1
            weights[n, pos] = one if nm == 1 else alpha_t
            variances[n, pos] = var_init
            for c in range(n_channels):
                means[n, pos, c] = _sample(c, n, data, x0, x1, x2)
            if dst < pos:
                _rotate_up(weights, variances, means, n, pos, dst)
        n_modes[n] = nm
        scores[n] = score
        foreground = score > big_tb
        is_shadow = (
            detect and foreground
            and _is_shadow(n_channels, n, data, weights, variances, means, nm, tb, big_tb, tau)
        )  # fmt: skip
        shadow[n] = is_shadow
        mask[n] = shadow_value if is_shadow else (np.uint8(255) if foreground else np.uint8(0))


def _specialise(n_channels: int) -> Callable[..., None]:
    """The update compiled for ``n_channels`` channels (0: any, read from the data).

    A constant channel count lets LLVM unroll the channel loops. The kernel releases the GIL, so
    threads can update disjoint slices of pixels at once. A thread gets views of its slice rather
    than a start index: a loop index not known to be >= 0 costs a negative-index check on every
    array access (measured 20 % slower).
    """

    @numba.njit(cache=True, nogil=True, error_model="numpy")
    def kernel(data, weights, variances, means, n_modes, f32, scores, mask, shadow):  # noqa: ANN001, ANN202
        c = n_channels if n_channels > 0 else data.shape[1]
        _update_pixels(c, data, weights, variances, means, n_modes, f32, scores, mask, shadow)

    return kernel


#: ``n_channels -> kernel``; channel count 0 is the generic kernel.
_KERNELS = {c: _specialise(c) for c in (0, 1, 3)}

_pool: tuple[ThreadPoolExecutor, int] | None = None
_pool_lock = threading.Lock()


def _workers(n_workers: int) -> ThreadPoolExecutor:
    """A persistent pool of at least ``n_workers`` threads (created on first use, grown on demand).

    A smaller pool it replaces is not shut down (another thread may be submitting to it): it is
    left to the garbage collector, and its idle threads then exit."""
    global _pool
    with _pool_lock:
        if _pool is None or _pool[1] < n_workers:
            _pool = (ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="bgsub-online"), n_workers)
        return _pool[0]


def _n_threads(n_pixels: int) -> int:
    """Threads to update ``n_pixels`` over: ``numba.get_num_threads()``, each with at least
    ``_MIN_PIXELS_PER_THREAD`` pixels (handing a range to a thread costs tens of microseconds)."""
    return max(1, min(numba.get_num_threads(), n_pixels // _MIN_PIXELS_PER_THREAD))


class _Chunks:
    """The pixels of one frame cut in contiguous chunks that threads take in turn until none is left.

    The calling thread works too, and waits only for chunks in progress, not for threads that have
    not started: on a loaded machine a thread that is not scheduled in time takes no chunk and
    costs nothing (as OpenCV's ``parallel_for_`` balances its stripes).
    """

    def __init__(self, run_chunk: Callable[[int, int], None], n_pixels: int, n_chunks: int) -> None:
        self._run_chunk = run_chunk
        self._bounds = [n_pixels * i // n_chunks for i in range(n_chunks + 1)]
        self._next = iter(range(n_chunks))  # next() on it is atomic under the GIL
        self._left = n_chunks
        self._done = threading.Condition()
        self._error: BaseException | None = None

    def work(self) -> None:
        """Update chunks until none is left."""
        for part in self._next:
            try:
                self._run_chunk(self._bounds[part], self._bounds[part + 1])
            except BaseException as exc:  # handed to the waiting caller, never lost in a pool thread
                self._error = exc
            with self._done:
                self._left -= 1
                if self._left == 0:
                    self._done.notify_all()

    def wait(self) -> None:
        """Block until every chunk is done; re-raise the error of a chunk that failed."""
        with self._done:
            self._done.wait_for(lambda: self._left == 0)
        if self._error is not None:
            raise self._error


def _run_in_chunks(
    kernel: Callable[..., None],
    n_threads: int,
    per_pixel: tuple[NDArray, ...],
    constants: NDArray,
    outputs: tuple[NDArray, ...],
) -> None:
    """Run ``kernel`` over chunks of the pixels (slices along axis 0 of every per-pixel array and
    output) on this thread and ``n_threads - 1`` pool threads; pixels are independent: same bytes."""
    n_pixels = per_pixel[0].shape[0]

    def run_chunk(start: int, stop: int) -> None:
        kernel(*(a[start:stop] for a in per_pixel), constants, *(a[start:stop] for a in outputs))

    n_chunks = min(_CHUNKS_PER_THREAD * n_threads, max(n_threads, n_pixels // _MIN_PIXELS_PER_CHUNK))
    chunks = _Chunks(run_chunk, n_pixels, n_chunks)
    pool = _workers(n_threads - 1)
    for _ in range(n_threads - 1):
        pool.submit(chunks.work)
    chunks.work()
    chunks.wait()


def update(
    data: NDArray[np.uint8] | NDArray[np.float32],
    weights: NDArray[np.float32],
    variances: NDArray[np.float32],
    means: NDArray[np.float32],
    n_modes: NDArray[np.uint8],
    constants: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.uint8], NDArray[np.bool_]]:
    """One MOG2 update of every pixel, in place, with the shadow test of its foreground pixels.

    Parameters
    ----------
    data : ndarray of shape (N, C), uint8 or float32
        The frame, pixel-major (a ``(H, W, C)`` frame reshaped, no copy); values on 0-255.
    weights, variances : ndarray of shape (N, K), float32
    means : ndarray of shape (N, K, C), float32
    n_modes : ndarray of shape (N,), uint8
    constants : ndarray of shape (14,), float32
        ``alpha, 1 - alpha, prune, background_ratio, var_threshold_gen, var_min, var_max,
        var_init, FLT_EPSILON, score of a pixel without model, shadow_threshold, var_threshold,
        detect_shadows (1 or 0), shadow_value`` as the reference computes them.

    Returns
    -------
    scores : ndarray of shape (N,), float32
    mask : ndarray of shape (N,), uint8
        255 where ``score > var_threshold``, ``shadow_value`` where that pixel is a shadow, else 0.
    shadow : ndarray of shape (N,), bool
        Pixels with ``score > var_threshold`` that pass the shadow test (all False without it).
    """
    if constants.shape != (N_CONSTANTS,):
        raise ValueError(f"constants must have shape ({N_CONSTANTS},); got {constants.shape}")
    n_pixels, n_channels = data.shape
    scores = np.empty(n_pixels, dtype=np.float32)
    mask = np.empty(n_pixels, dtype=np.uint8)
    shadow = np.empty(n_pixels, dtype=np.bool_)
    kernel = _KERNELS.get(n_channels, _KERNELS[0])
    n_threads = _n_threads(n_pixels)
    if n_threads == 1:
        kernel(data, weights, variances, means, n_modes, constants, scores, mask, shadow)
        return scores, mask, shadow
    _run_in_chunks(kernel, n_threads, (data, weights, variances, means, n_modes), constants, (scores, mask, shadow))
    return scores, mask, shadow
