"""Benchmark the batch per-pixel GMM against scikit-learn fitted pixel by pixel.

Run from the project root::

    .venv/bin/python benchmarks/bench_gmm.py              # speed table + 480x640 memory check
    .venv/bin/python benchmarks/bench_gmm.py --highway    # also F-measure of rank_by on CDnet highway

Speed: the seed's setting, 120x160 pixels, 48 training frames (the first 48 frames of
``../shared/data/traffic.gif``, else a synthetic clip), K=2, full covariances, tol=1e-3,
max_iter=100, n_init=1. scikit-learn's ``GaussianMixture`` is fitted pixel by pixel in a Python
loop on a random sample of pixels and extrapolated to the frame; ours fits the full frame. Both
are timed in the same run, medians of ``--repeats`` runs; scikit-learn on one thread (its
k-means under ``threadpool_limits(1)``), ours with its default backend, the numba kernels on all
cores (``benchmarks/bench_kernels.py`` separates numpy, one thread and all cores). Each is run with
scikit-learn's default ``reg_covar=1e-6`` and with ours, 4.0 (intensity units squared).

Memory: a 480x640, T=200, K=3 full fit on structured synthetic frames, in a fresh subprocess;
tracemalloc peak (allocations made by the fit, the input frames excluded) and peak RSS.

Highway (``--highway``): ``GMMMethod`` with K=3 fitted on training frames 1-469 (every
``--highway-step``-th), scored at the default threshold on validation frames 470-899 only
(CDnet rules: ROI, ground truth 255 positive, 0/50 negative, 85/170 ignored), once per ``rank_by``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bgsub.gmm import DEFAULT_THRESHOLD, GMMMethod  # noqa: E402
from bgsub.mixture import DEFAULT_REG_COVAR, ConvergenceWarning, PixelGaussianMixture  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def seed_clip() -> tuple[np.ndarray, str]:
    """The first 48 frames of traffic.gif (48, 120, 160, 3) uint8, or a synthetic clip."""
    path = DATA / "traffic.gif"
    if path.exists():
        import imageio.v3 as iio

        return np.asarray(iio.imread(path))[:48, :, :, :3], str(path.name)
    return structured_clip(48, 120, 160, seed=0), "synthetic"


def structured_clip(n_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """Synthetic (T, H, W, 3) uint8 clip: gradient background, a flickering bimodal region,
    sensor noise and a moving square; built frame by frame to keep memory small."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    ramp = (xx + yy) / (height + width)
    background = np.stack([60 + 120 * xx / width, 80 + 100 * yy / height, 100 + 50 * ramp], -1)
    leaves = (yy < height // 3) & (xx < width // 2)
    out = np.empty((n_frames, height, width, 3), dtype=np.uint8)
    side = max(4, height // 8)
    for t in range(n_frames):
        frame = background + rng.normal(0, 3, (height, width, 3))
        flip = leaves & (rng.random((height, width)) < 0.4)
        frame[flip] = frame[flip] * 0.5 + np.array([20.0, 90.0, 30.0])
        y0 = (t * 3) % (height - side)
        x0 = (t * 5) % (width - side)
        frame[y0 : y0 + side, x0 : x0 + side] = np.array([200.0, 40.0, 40.0])
        out[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


def fit_ours(frames: np.ndarray, reg_covar: float) -> tuple[float, PixelGaussianMixture]:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = PixelGaussianMixture(2, covariance_type="full", tol=1e-3, max_iter=100, reg_covar=reg_covar)
        model.fit(frames)
    return time.perf_counter() - start, model


def fit_sklearn(samples: np.ndarray, reg: float) -> tuple[float, float]:
    """Fit one GaussianMixture per pixel; samples (T, P, C). Returns (seconds, fraction converged)."""
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    converged = 0
    start = time.perf_counter()
    # one thread, like ours: OpenMP k-means on a busy 2-core machine is slower, not faster
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for p in range(samples.shape[1]):
            gm = GaussianMixture(2, covariance_type="full", tol=1e-3, max_iter=100, n_init=1, reg_covar=reg)
            converged += gm.fit(samples[:, p]).converged_
    return time.perf_counter() - start, converged / samples.shape[1]


def speed_table(repeats: int, n_sample: int) -> None:
    frames, source = seed_clip()
    n_frames, height, width, _ = frames.shape
    n_pixels = height * width
    rng = np.random.default_rng(0)
    pick = rng.choice(n_pixels, n_sample, replace=False)
    samples = frames.reshape(n_frames, n_pixels, -1)[:, pick].astype(np.float64)
    print(f"data: {source}, {height}x{width}, T={n_frames}, K=2, full, tol=1e-3, max_iter=100, n_init=1")
    print(f"sklearn: {n_sample} random pixels fitted one by one, extrapolated to {n_pixels} pixels")
    print(f"medians of {repeats} repeats, after one warm-up fit each")
    print()
    fit_sklearn(samples[:, :5], 1e-6)  # warm-up: imports, thread pools
    fit_ours(frames[:, :8], DEFAULT_REG_COVAR)
    header = (
        f"{'reg_covar':>9} | {'sklearn px/s':>12} {'conv':>6} | "
        f"{'ours px/s':>10} {'conv':>6} {'ours s':>7} | {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    rates = {}
    for reg in (1e-6, DEFAULT_REG_COVAR):
        sk = [fit_sklearn(samples, reg) for _ in range(repeats)]
        ours = [fit_ours(frames, reg) for _ in range(repeats)]
        sk_rate = n_sample / float(np.median([s for s, _ in sk]))
        our_time = float(np.median([s for s, _ in ours]))
        our_rate = n_pixels / our_time
        model = ours[-1][1]
        rates[reg] = (sk_rate, our_rate)
        print(
            f"{reg:>9g} | {sk_rate:>12.1f} {sk[-1][1]:>6.1%} | {our_rate:>10.0f} "
            f"{model.converged_.mean():>6.1%} {our_time:>7.3f} | {our_rate / sk_rate:>6.0f}x"
        )
    print()
    sk_default, ours_default = rates[1e-6][0], rates[DEFAULT_REG_COVAR][1]
    print(
        f"each at its default reg_covar (sklearn 1e-6, ours {DEFAULT_REG_COVAR}): "
        f"{ours_default / sk_default:.0f}x (target >= 250x)"
    )
    print(
        f"full frame: sklearn {n_pixels / sk_default:.1f} s (extrapolated), "
        f"ours {n_pixels / ours_default:.2f} s"
    )


def memory_child() -> None:
    """Fit a 480x640, T=200, K=3 full model; print JSON with seconds, tracemalloc peak and peak RSS."""
    frames = structured_clip(200, 480, 640, seed=1)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = PixelGaussianMixture(3, covariance_type="full").fit(frames)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "seconds": seconds,
                "tracemalloc_peak_mb": peak / 2**20,
                "rss_peak_mb": rss_peak / 1024,
                "rss_before_fit_mb": rss_before / 1024,
                "input_mb": frames.nbytes / 2**20,
                "converged": float(model.converged_.mean()),
                "chunk_size": model.chunk_size,
            }
        )
    )


def memory_table() -> None:
    result = subprocess.run(
        [sys.executable, __file__, "--memory-child"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    m = json.loads(result.stdout.strip().splitlines()[-1])
    print()
    print(f"480x640, T=200, K=3, full, chunk_size={m['chunk_size']} (synthetic frames, in a subprocess)")
    rate = 480 * 640 / m["seconds"]
    print(f"  fit time              {m['seconds']:8.1f} s  ({rate:.0f} px/s, tracemalloc on)")
    print(f"  tracemalloc peak      {m['tracemalloc_peak_mb']:8.1f} MB  (allocated by the fit)")
    print(f"  peak RSS              {m['rss_peak_mb']:8.1f} MB  (process; input {m['input_mb']:.0f} MB)")
    print(f"  peak RSS before fit   {m['rss_before_fit_mb']:8.1f} MB")
    print(f"  pixels converged      {m['converged']:8.1%}")
    print(f"  under 1 GB            {'yes' if m['rss_peak_mb'] < 1024 else 'NO'}")


def highway_f_measure(step: int) -> None:
    import imageio.v3 as iio

    root = DATA / "highway"
    if not root.exists():
        print("highway not found; skipped")
        return
    train = np.stack([iio.imread(root / "input" / f"in{i:06d}.jpg") for i in range(1, 470, step)])
    valid_ids = range(470, 900)  # validation slice only; never frames 900+
    test = np.stack([iio.imread(root / "input" / f"in{i:06d}.jpg") for i in valid_ids])
    truth = np.stack([np.asarray(iio.imread(root / "groundtruth" / f"gt{i:06d}.png")) for i in valid_ids])
    truth = truth[..., 0] if truth.ndim == 4 else truth
    roi = np.asarray(iio.imread(root / "ROI.bmp"))
    roi = (roi[..., 0] if roi.ndim == 3 else roi) > 0
    positive = (truth == 255) & roi
    negative = ((truth == 0) | (truth == 50)) & roi
    print()
    print(f"CDnet highway: GMMMethod K=3 full, fitted on {len(train)} frames (1-469 step {step}),")
    print(f"scored on validation frames 470-899 at threshold {DEFAULT_THRESHOLD:.2f}, background_ratio 0.9")
    start = time.perf_counter()
    method = GMMMethod(n_components=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        method.fit(train)
    print(f"fit: {time.perf_counter() - start:.1f} s, converged {method.model_.converged_.mean():.1%}")
    print(f"{'rank_by':>18} | {'recall':>7} {'precision':>9} {'F':>7}")
    for rank_by in ("weight", "weight_over_sigma"):
        method.rank_by = rank_by
        mask = method.foreground_scores(test) > DEFAULT_THRESHOLD
        tp = int((mask & positive).sum())
        fp = int((mask & negative).sum())
        fn = int((~mask & positive).sum())
        recall = tp / (tp + fn)
        precision = tp / (tp + fp)
        f = 2 * precision * recall / (precision + recall)
        print(f"{rank_by:>18} | {recall:>7.3f} {precision:>9.3f} {f:>7.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample", type=int, default=200, help="pixels fitted by scikit-learn")
    parser.add_argument("--highway", action="store_true", help="also measure rank_by on CDnet highway")
    parser.add_argument("--highway-step", type=int, default=1, help="use every n-th training frame")
    parser.add_argument("--no-memory", action="store_true", help="skip the 480x640 memory check")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child()
        return
    speed_table(args.repeats, args.sample)
    if not args.no_memory:
        memory_table()
    if args.highway:
        highway_f_measure(args.highway_step)


if __name__ == "__main__":
    main()
