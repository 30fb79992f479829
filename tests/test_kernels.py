"""The compiled kernels (bgsub.kernels) against the numpy reference paths (mixture_em, ranking, online_reference).

The numpy code is itself tested against scikit-learn and OpenCV (test_gmm.py, test_online.py);
here the compiled path must give the same fits (parameters and log-likelihoods within 1e-4
relative, same iteration counts), the same background distances and the same online updates
(byte for byte), and the backend choice must fall back to numpy when numba is missing.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from bgsub import kernels, precompile
from bgsub.mixture import ConvergenceWarning, PixelGaussianMixture
from bgsub.online import AdaptiveGaussianMixture
from bgsub.ranking import min_background_mahalanobis
from tests.conftest import mixture_clip

numba = pytest.importorskip("numba")

FITTED = ["weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_"]
RTOL = 1e-4




def degenerate_clip(n_frames: int, n_channels: int) -> np.ndarray:
    """Constant, saturated, two-colour, clipped and uniform-noise pixels, (T, 2, 3, C) uint8."""
    rng = np.random.default_rng(7)
    frames = np.zeros((n_frames, 2, 3, n_channels), dtype=np.uint8)
    frames[:, 0, 1] = 255
    frames[:, 0, 2] = 117
    frames[:, 1, 0] = np.where(np.arange(n_frames) % 2, 0, 255)[:, None]
    frames[:, 1, 1] = np.clip(rng.normal(250, 20, (n_frames, n_channels)), 0, 255)
    frames[:, 1, 2] = rng.integers(0, 256, (n_frames, n_channels))
    return frames


def fit_both(frames: np.ndarray, **settings) -> tuple[PixelGaussianMixture, PixelGaussianMixture]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = PixelGaussianMixture(backend="numpy", **settings).fit(frames)
        fast = PixelGaussianMixture(backend="numba", **settings).fit(frames)
    return ref, fast


def assert_same_fit(ref: PixelGaussianMixture, fast: PixelGaussianMixture) -> None:
    np.testing.assert_array_equal(fast.n_iter_, ref.n_iter_)
    np.testing.assert_array_equal(fast.converged_, ref.converged_)
    for name in FITTED:
        want = getattr(ref, name).astype(np.float64)
        got = getattr(fast, name).astype(np.float64)
        assert np.all(np.isfinite(got)), name
        # relative to each array's scale: weights of empty components are ~1e-16, not comparable alone
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * np.abs(want).max(), err_msg=name)


# 1. backend choice ------------------------------------------------------------------------------


def test_resolve_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    assert kernels.resolve_backend("auto") == "numba"
    assert kernels.resolve_backend("numpy") == "numpy"
    monkeypatch.setenv(kernels.ENV_VAR, "numpy")
    assert kernels.resolve_backend("auto") == "numpy"
    assert kernels.resolve_backend("numba") == "numba"  # an explicit choice wins over the variable
    monkeypatch.setenv(kernels.ENV_VAR, "fortran")
    with pytest.raises(ValueError, match=kernels.ENV_VAR):
        kernels.resolve_backend("auto")
    with pytest.raises(ValueError, match="backend"):
        kernels.resolve_backend("cuda")
    with pytest.raises(ValueError, match="backend"):
        AdaptiveGaussianMixture(backend="cuda")


def test_without_numba_falls_back_to_numpy_with_one_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba -> ImportError
    monkeypatch.setattr(kernels, "_available", None)
    with caplog.at_level(logging.INFO, logger="bgsub.kernels"):
        assert kernels.resolve_backend("auto") == "numpy"
        assert kernels.resolve_backend("auto") == "numpy"
        with pytest.raises(ImportError, match="numba"):
            kernels.resolve_backend("numba")
    assert len([r for r in caplog.records if "numba is not installed" in r.getMessage()]) == 1
    frames = mixture_clip(0, 20, (1, 2))
    ref = PixelGaussianMixture(2, backend="numpy").fit(frames)
    auto = PixelGaussianMixture(2).fit(frames)
    for name in FITTED:
        np.testing.assert_array_equal(getattr(auto, name), getattr(ref, name))


# 2. batch EM: compiled == numpy -------------------------------------------------------------------


def test_vectorised_exp_and_log_match_libm() -> None:
    import numba

    from bgsub.kernels import vecmath

    @numba.njit(error_model="numpy", fastmath=vecmath._FASTMATH)
    def both(x32: np.ndarray, x64: np.ndarray, e: np.ndarray, lg: np.ndarray) -> None:
        for i in range(x32.shape[0]):
            e[i] = vecmath._exp32_nonpositive(x32[i])
            lg[i] = vecmath._log_positive(x64[i])

    rng = np.random.default_rng(0)
    x32 = -np.concatenate([np.linspace(0, 100, 400_001), rng.exponential(5, 100_000)]).astype(np.float32)
    x64 = np.exp(rng.uniform(-700, 700, x32.size))
    e, lg = np.empty_like(x32), np.empty_like(x64)
    both(x32, x64, e, lg)
    normal = x32 > -87
    want = np.exp(x32[normal].astype(np.float64))
    np.testing.assert_allclose(e[normal], want, rtol=2e-7)  # about 1 ulp of float32
    assert np.all(e[~normal] == 0.0)
    np.testing.assert_allclose(lg, np.log(x64), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("init", ["kmeans", "random"])
@pytest.mark.parametrize("n_components", [1, 2, 3])
def test_em_agrees_on_random_mixtures(init: str, n_components: int) -> None:
    frames = mixture_clip(1, 120, (3, 5))
    ref, fast = fit_both(frames, n_components=n_components, init_params=init, random_state=4)
    assert_same_fit(ref, fast)


@pytest.mark.parametrize("n_channels", [1, 3])
@pytest.mark.parametrize(("n_frames", "k"), [(40, 3), (2, 5)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_em_agrees_on_degenerate_pixels(n_channels: int, n_frames: int, k: int, dtype: type) -> None:
    # constant, saturated, two-colour pixels; fewer colours than K; K > T; C = 1
    frames = degenerate_clip(n_frames, n_channels).astype(dtype)
    for init in ("kmeans", "random"):
        ref, fast = fit_both(frames, n_components=k, init_params=init, random_state=0)
        assert_same_fit(ref, fast)


def test_em_agrees_on_real_pixels(shared_data: Path) -> None:
    import imageio.v3 as iio

    names = sorted((shared_data / "highway" / "input").glob("in*.jpg"))[:60]
    frames = np.stack([iio.imread(name)[100:112, 150:166] for name in names])  # road, cars, shadows
    ref, fast = fit_both(frames, n_components=3)
    assert_same_fit(ref, fast)
    test = np.asarray(iio.imread(names[-1]))[None, 100:112, 150:166]
    np.testing.assert_allclose(
        min_background_mahalanobis(test, fast), min_background_mahalanobis(test, ref), rtol=RTOL, atol=1e-3
    )


def test_em_agrees_from_given_initial_parameters_and_keeps_history() -> None:
    frames = mixture_clip(3, 80, (2, 3))
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, (2, 3, 2, 3, 3)) * 0.2 + np.eye(3)
    settings = {
        "n_components": 2,
        "weights_init": rng.dirichlet(np.ones(2), (2, 3)),
        "means_init": rng.uniform(0, 255, (2, 3, 2, 3)),
        "precisions_init": (a @ np.swapaxes(a, -1, -2)) / 400.0,
        "keep_lower_bounds": True,
        "tol": 1e-6,
    }
    ref, fast = fit_both(frames, **settings)
    assert_same_fit(ref, fast)
    np.testing.assert_allclose(fast.lower_bounds_, ref.lower_bounds_, rtol=1e-9)


def test_em_lanes_agree_from_given_initial_parameters_at_small_tol() -> None:
    # without history the C = 3 fit runs in the float32 lane kernel; tol 1e-6 tests its lower bound
    frames = mixture_clip(3, 80, (3, 4))
    rng = np.random.default_rng(5)
    a = rng.normal(0, 1, (3, 4, 2, 3, 3)) * 0.2 + np.eye(3)
    settings = {
        "n_components": 2,
        "weights_init": rng.dirichlet(np.ones(2), (3, 4)),
        "means_init": rng.uniform(0, 255, (3, 4, 2, 3)),
        "precisions_init": (a @ np.swapaxes(a, -1, -2)) / 400.0,
        "tol": 1e-6,
    }
    ref, fast = fit_both(frames, **settings)
    assert_same_fit(ref, fast)


def test_em_lanes_lower_bound_with_many_components() -> None:
    # K >= 16 shortens the float32 blocks of the lane kernel's lower bound (a product of 32 totals in
    # [1, K] would overflow): 30 samples at K = 17, so T = 70 leaves a short last block. Many components
    # tie in weight, so their order (hence the sorted parameters) may differ: compare what does not
    # depend on it. (One K: compiling a lane kernel for a large K takes ~25 s.) float64 samples: the one test of the
    # lane kernel reading them (it casts each to float32) beside its k-means start (which reads them in float64).
    frames = mixture_clip(2, 70, (3, 4), dtype=np.float64)
    ref, fast = fit_both(frames, n_components=17, random_state=0, reg_covar=1.0)
    np.testing.assert_array_equal(fast.n_iter_, ref.n_iter_)
    assert np.all(np.isfinite(fast.lower_bound_))
    np.testing.assert_allclose(fast.lower_bound_, ref.lower_bound_, rtol=1e-6)


def test_compiled_fit_is_deterministic_and_free_of_threads_and_chunks() -> None:
    # 192 pixels: three lane batches whose lanes are refilled as pixels converge, one engine per thread
    import numba

    frames = mixture_clip(5, 50, (12, 16))
    fits = []
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            kernels.set_num_threads(threads)
            fits.append(PixelGaussianMixture(3, backend="numba").fit(frames))
    finally:
        kernels.set_num_threads(None)
    fits.append(PixelGaussianMixture(3, backend="numba").fit(frames))
    alone = PixelGaussianMixture(3, backend="numba").fit(frames[:, 7:8, 5:6])
    for name in [*FITTED, "n_iter_", "converged_"]:
        for other in fits[1:]:
            np.testing.assert_array_equal(getattr(other, name), getattr(fits[0], name))
        np.testing.assert_array_equal(getattr(alone, name)[0, 0], getattr(fits[0], name)[7, 5])
    # random initialisation: its parameters come from the numpy path, chunk by chunk, then the kernel
    a, b = (PixelGaussianMixture(2, backend="numba", init_params="random", random_state=3, chunk_size=chunk)
            .fit(frames) for chunk in (None, 5))  # fmt: skip
    for name in FITTED:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


# k-means initialisation of the lane kernel: pixels as lanes == _kmeans pixel by pixel -----------


@functools.cache
def lanes_kmeans(n_components: int):  # noqa: ANN201
    """A compiled ``pixels (P, 3, T) -> (centres (P, K, 3), labels (P, T))`` running ``_kmeans_lanes`` on
    batches of ``_LANES`` pixels (idle lanes zero, as in the fit), K a closure constant as in the fit."""
    from bgsub.kernels import kmeans
    from bgsub.kernels import lanes as lane_layout

    lanes = lane_layout._LANES
    k = n_components

    @numba.njit
    def run(pixels):  # noqa: ANN001, ANN202
        n_pixels, _, n_frames = pixels.shape
        X = np.empty(3 * n_frames * lanes)
        W = np.empty((3 * k + n_frames) * lanes)
        cen, near, pick = np.empty(3 * k * lanes), np.empty(n_frames * lanes), np.empty(4 * lanes)
        sums = np.empty(4 * k * lanes)
        centres = np.empty((n_pixels, k, 3))
        labels = np.empty((n_pixels, n_frames), dtype=np.int64)
        for start in range(0, n_pixels, lanes):
            X[:] = 0.0
            count = min(lanes, n_pixels - start)
            for i in range(count):
                for c in range(3):
                    for t in range(n_frames):
                        X[lane_layout._ix(c * n_frames + t, i)] = pixels[start + i, c, t]
            kmeans._kmeans_lanes(X, n_frames, k, W, cen, near, pick, sums)
            for i in range(count):
                for j in range(3 * k):
                    centres[start + i, j // 3, j % 3] = W[lane_layout._ix(j, i)]
                for t in range(n_frames):
                    labels[start + i, t] = np.int64(W[lane_layout._ix(3 * k + t, i)])
        return centres, labels

    return run


@functools.cache
def per_pixel_kmeans():  # noqa: ANN201
    """A compiled ``(pixels (P, 3, T), K) -> (centres (P, K, 3), labels (P, T))`` running ``_kmeans``
    (one pixel at a time, the time axis as SIMD axis, as the float64 kernel) on each pixel."""
    from bgsub.kernels.kmeans import _kmeans

    @numba.njit
    def run(pixels, n_components):  # noqa: ANN001, ANN202
        n_pixels, _, n_frames = pixels.shape
        centres = np.empty((n_pixels, n_components, 3))
        labels = np.empty((n_pixels, n_frames), dtype=np.int64)
        new_labels = np.empty(n_frames, dtype=np.int64)
        work = np.empty((2, n_frames))
        for p in range(n_pixels):
            _kmeans(pixels[p], centres[p], labels[p], new_labels, work)
        return centres, labels

    return run


def kmeans_per_pixel(pixels: np.ndarray, n_components: int) -> tuple[np.ndarray, np.ndarray]:
    return per_pixel_kmeans()(pixels, n_components)


def kmeans_pixels(rng: np.random.Generator, n_pixels: int, n_frames: int) -> np.ndarray:
    """``(P, 3, T)`` uint8-valued float64: uniform noise, noisy clusters, a constant and a two-colour pixel."""
    pixels = rng.integers(0, 256, (n_pixels, 3, n_frames)).astype(np.float64)
    half = n_pixels // 2
    centre = rng.integers(0, 256, (half, 3, 3))[..., rng.integers(0, 3, n_frames)]  # 3 colours over time
    pixels[:half] = np.clip(np.round(rng.normal(centre, 6.0)), 0, 255)
    pixels[0] = 17.0
    pixels[1] = np.where(rng.random(n_frames) < 0.3, 200.0, 40.0)
    return pixels


@pytest.mark.parametrize("n_components", [1, 2, 3, 5])
def test_lanes_kmeans_is_kmeans_pixel_by_pixel(n_components: int) -> None:
    rng = np.random.default_rng(n_components)
    run = lanes_kmeans(n_components)
    for n_frames in (7, 48, 65):
        pixels = kmeans_pixels(rng, 70, n_frames)  # a full batch and one with idle lanes
        centres, labels = run(pixels)
        want_centres, want_labels = kmeans_per_pixel(pixels, n_components)
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_array_equal(centres, want_centres)
        assert np.all(np.isfinite(centres))
    # float samples: sums in another order may differ in the last bit, labels only at exact ties
    pixels = rng.normal(128, 40, (70, 3, 48)).astype(np.float32).astype(np.float64)
    centres, labels = run(pixels)
    want_centres, want_labels = kmeans_per_pixel(pixels, n_components)
    np.testing.assert_array_equal(labels, want_labels)
    np.testing.assert_allclose(centres, want_centres, rtol=1e-13)


def test_lanes_kmeans_is_kmeans_pixel_by_pixel_on_real_pixels(shared_data: Path) -> None:
    from bgsub.io import iter_video

    path = shared_data / "traffic.gif"
    if not path.exists():
        pytest.skip(f"{path} not found")
    frames = np.stack([frame for _, frame in zip(range(48), iter_video(path), strict=False)])
    pixels = np.ascontiguousarray(frames[..., :3].reshape(48, -1, 3).transpose(1, 2, 0), dtype=np.float64)
    for n_components in (2, 3):
        centres, labels = lanes_kmeans(n_components)(pixels)
        want_centres, want_labels = kmeans_per_pixel(pixels, n_components)
        np.testing.assert_array_equal(labels, want_labels)
        np.testing.assert_array_equal(centres, want_centres)


# 3. classification ------------------------------------------------------------------------------


@pytest.mark.parametrize("rank_by", ["weight", "weight_over_sigma"])
@pytest.mark.parametrize("n_channels", [1, 3])
def test_min_background_mahalanobis_agrees(rank_by: str, n_channels: int) -> None:
    frames = mixture_clip(6, 60, (3, 4), n_channels)
    ref, _ = fit_both(frames, n_components=3)
    test = np.concatenate([frames[:10], 255.0 - frames[:5], np.zeros((1, 3, 4, n_channels))])
    fast = PixelGaussianMixture(3, backend="numba")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(fast, name, getattr(ref, name))
    for ratio in (0.5, 0.9, 1.0):
        want = min_background_mahalanobis(test, ref, background_ratio=ratio, rank_by=rank_by)
        got = min_background_mahalanobis(test, fast, background_ratio=ratio, rank_by=rank_by)
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-4)


@pytest.mark.parametrize("n_components", [2, 3])
@pytest.mark.parametrize("n_channels", [1, 3])
def test_classification_of_uint8_frames_agrees_over_blocks_and_threads(n_components: int, n_channels: int) -> None:
    # 17 x 19 = 323 pixels: two full blocks of the kernel's 128 lanes and a partial one; uint8 frames
    # read as they come; constant, saturated and two-colour pixels, and a pixel with a zero weight
    import numba

    frames = mixture_clip(8, 40, (17, 19), n_channels)
    frames[:, :2, :3] = degenerate_clip(40, n_channels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fast = PixelGaussianMixture(n_components, backend="numba").fit(frames)
    fast.weights_[9, 9] = 0.0
    fast.weights_[9, 9, 0] = 1.0
    ref = PixelGaussianMixture(n_components, backend="numpy")
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(ref, name, getattr(fast, name))
    test = np.concatenate([frames[:10], 255 - frames[:5], np.zeros((1, 17, 19, n_channels), np.uint8)])
    for rank_by, ratio in (("weight", 1.0), ("weight_over_sigma", 0.9)):
        want = min_background_mahalanobis(test, ref, background_ratio=ratio, rank_by=rank_by)
        runs = []
        try:
            for threads in (1, numba.config.NUMBA_NUM_THREADS):
                kernels.set_num_threads(threads)
                runs.append(min_background_mahalanobis(test, fast, background_ratio=ratio, rank_by=rank_by))
        finally:
            kernels.set_num_threads(None)
        assert np.all(np.isfinite(runs[0]))
        np.testing.assert_allclose(runs[0], want, rtol=RTOL, atol=1e-4)
        np.testing.assert_array_equal(runs[1], runs[0])


# 4. online update: same bytes -------------------------------------------------------------------


def moving_blocks(n_frames: int, h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    background = rng.uniform(0, 255, (h, w, 3))
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    for t in range(n_frames):
        f = background + rng.normal(0, 4, (h, w, 3))
        f[:, (3 * t) % w : (3 * t) % w + 4] = (200, 30, 30)  # a moving bar
        f[h // 2 :, : w // 3] *= 0.6 if t % 10 < 5 else 1.0  # a blinking shadow
        frames[t] = np.clip(np.rint(f), 0, 255)
    frames[:, 0, 0] = 0  # saturated low
    frames[:, 0, 1] = 255  # saturated high
    return frames


@pytest.mark.parametrize(
    "params",
    [{}, {"n_mixtures": 3, "history": 20}, {"n_mixtures": 1, "detect_shadows": False}, {"var_min": 1.0}],
)
def test_online_update_same_bytes(params: dict) -> None:
    frames = moving_blocks(40, 12, 20, seed=1)
    ref = AdaptiveGaussianMixture(backend="numpy", **params)
    fast = AdaptiveGaussianMixture(backend="numba", **params)
    for t, frame in enumerate(frames):
        rate = {7: 0.0, 13: 0.2, 29: 1.0}.get(t, -1.0)  # frozen, fast, restart, automatic
        want = ref.apply_scores(frame, rate)
        got = fast.apply_scores(frame, rate)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    for key, value in ref.get_state().items():
        np.testing.assert_array_equal(fast.get_state()[key], value, err_msg=key)


@pytest.mark.parametrize(
    ("n_channels", "dtype"),
    [(1, np.uint8), (2, np.uint8), (4, np.uint8), (3, np.float64), (3, np.float32), (1, np.uint16)],
)
def test_online_update_same_bytes_for_any_channels_and_dtype(n_channels: int, dtype: type) -> None:
    # 1 and 3 channels have their own compiled specialisations, others the generic kernel; uint8 is
    # read as it is, other dtypes as float32 (float64 rounded to float32 first, as the reference does)
    frames = moving_blocks(30, 9, 14, seed=4)
    frames = np.concatenate([frames, frames[..., ::-1]], axis=-1)[..., :n_channels].astype(dtype)
    if np.issubdtype(dtype, np.floating):
        frames += np.random.default_rng(0).uniform(-0.5, 0.5, frames.shape).astype(dtype)
    frames = frames[..., 0] if n_channels == 1 else frames
    ref = AdaptiveGaussianMixture(backend="numpy", var_min=1.0)
    fast = AdaptiveGaussianMixture(backend="numba", var_min=1.0)
    for frame in frames:
        np.testing.assert_array_equal(fast.apply(frame), ref.apply(frame))
    for key, value in ref.get_state().items():
        np.testing.assert_array_equal(fast.get_state()[key], value, err_msg=key)


@pytest.mark.parametrize("sequence", ["highway", "traffic.gif"])
def test_online_update_same_bytes_on_real_frames(shared_data: Path, sequence: str) -> None:
    # whole frames, so the compiled path also splits them over threads where there are several cores
    from bgsub.io import iter_video, read_image

    if sequence == "highway":
        names = sorted((shared_data / "highway" / "input").glob("in*.jpg"))[:60]
        frames = np.stack([read_image(name) for name in names])
    else:
        frames = np.stack(list(iter_video(shared_data / sequence)))
    ref = AdaptiveGaussianMixture(backend="numpy")
    fast = AdaptiveGaussianMixture(backend="numba")
    fast_mask = AdaptiveGaussianMixture(backend="numba")  # apply(): the mask written by the kernel
    n_foreground = 0
    for frame in frames:
        want = ref.apply_scores(frame)
        got = fast.apply_scores(frame)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
        want_mask = np.where(want[1], np.uint8(127), np.where(want[0] > 16, np.uint8(255), np.uint8(0)))
        np.testing.assert_array_equal(fast_mask.apply(frame), want_mask)
        n_foreground += int((want[0] > 16).sum())
    assert n_foreground > 0  # something moved: the match, add and shadow paths all ran
    for key, value in ref.get_state().items():
        np.testing.assert_array_equal(fast.get_state()[key], value, err_msg=key)
        np.testing.assert_array_equal(fast_mask.get_state()[key], value, err_msg=key)


def test_online_chunk_errors_reach_the_caller() -> None:
    from bgsub.kernels.online import _Chunks, _workers

    done: list[tuple[int, int]] = []

    def run_chunk(start: int, stop: int) -> None:
        if start == 20:
            raise FloatingPointError("chunk 2 failed")
        done.append((start, stop))

    chunks = _Chunks(run_chunk, 50, 5)
    _workers(1).submit(chunks.work)
    chunks.work()
    with pytest.raises(FloatingPointError, match="chunk 2"):
        chunks.wait()
    assert sorted(done) == [(0, 10), (10, 20), (30, 40), (40, 50)]  # the others still ran


def test_online_state_moves_between_backends() -> None:
    # get_state is layout-free ((K, H, W) arrays): a model saved by one path continues on the other
    frames = moving_blocks(30, 8, 12, seed=5)
    ref = AdaptiveGaussianMixture(backend="numpy")
    for frame in frames[:15]:
        ref.apply(frame)
    fast = AdaptiveGaussianMixture(backend="numba").set_state(ref.get_state())
    for frame in frames[15:]:
        np.testing.assert_array_equal(fast.apply(frame), ref.apply(frame))
    for key, value in ref.get_state().items():
        np.testing.assert_array_equal(fast.get_state()[key], value, err_msg=key)


def test_online_update_same_bytes_after_warm_start() -> None:
    frames = moving_blocks(30, 8, 10, seed=2)
    batch = PixelGaussianMixture(3, covariance_type="spherical", backend="numpy").fit(frames[:15])
    ref = AdaptiveGaussianMixture(backend="numpy").warm_start(batch.weights_, batch.means_, batch.covariances_)
    fast = AdaptiveGaussianMixture(backend="numba").warm_start(batch.weights_, batch.means_, batch.covariances_)
    for frame in frames[15:]:
        np.testing.assert_array_equal(fast.apply(frame), ref.apply(frame))
    np.testing.assert_array_equal(fast.means_, ref.means_)


def test_online_threaded_update_same_bytes_as_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    # small frames run on one thread; force three threads taking chunks of unequal size and compare
    from bgsub.kernels import online as kernel

    frames = moving_blocks(20, 10, 16, seed=3)
    serial = AdaptiveGaussianMixture(backend="numba")
    threaded = AdaptiveGaussianMixture(backend="numba")
    for frame in frames:
        want = serial.apply_scores(frame)
        with monkeypatch.context() as patch:
            patch.setattr(kernel, "_n_threads", lambda n_pixels: 3)
            patch.setattr(kernel, "_MIN_PIXELS_PER_CHUNK", 16)  # 9 chunks of 17-18 pixels
            got = threaded.apply_scores(frame)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    for key, value in serial.get_state().items():
        np.testing.assert_array_equal(threaded.get_state()[key], value, err_msg=key)


def test_precompile_runs_the_parts_asked_for_and_rejects_unknown_ones(capsys: pytest.CaptureFixture) -> None:
    assert precompile.main(["--jobs", "1", "--parts", "online"]) == 0
    assert re.fullmatch(r"bgsub: numba kernels compiled or loaded in \d+ s \(online \d+ s\)\n", capsys.readouterr().out)
    for bad in (["--parts", "online,nope"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as exit_info:
            precompile.main(bad)
        assert exit_info.value.code == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


_LAYER_PROBE = """
import bgsub.kernels, numba, numpy as np
@numba.njit(parallel=True)
def total(a):
    s = 0.0
    for i in numba.prange(a.size):
        s += a[i]
    return s
assert total(np.ones(100)) == 100.0
print(" ".join(numba.config.THREADING_LAYER_PRIORITY), numba.threading_layer())
"""


def _layer_probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_THREADING_LAYER")}
    done = subprocess.run([sys.executable, "-c", _LAYER_PROBE], env=clean | env, capture_output=True, text=True,
                          timeout=120, check=True)
    return done.stdout.split()


def test_numba_runs_on_a_threading_layer_before_tbb():
    # numba's default order puts TBB first, whose pool can hang a process at exit (bgsub.kernels'
    # THREADING_LAYER_PRIORITY); OpenMP or numba's own workqueue is taken whenever it loads
    *priority, layer = _layer_probe()
    assert priority == list(kernels.THREADING_LAYER_PRIORITY) == ["omp", "workqueue", "tbb"]
    assert layer in ("omp", "workqueue")


def test_a_users_threading_layer_priority_is_kept():
    *priority, layer = _layer_probe(NUMBA_THREADING_LAYER_PRIORITY="workqueue omp tbb")
    assert priority == ["workqueue", "omp", "tbb"] and layer == "workqueue"
