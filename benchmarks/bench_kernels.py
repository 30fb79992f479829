"""The compiled kernels (bgsub.kernels) beside scikit-learn, our numpy path, OpenCV MOG2 and the matmul ceiling.

Run from the project root::

    .venv/bin/python benchmarks/bench_kernels.py [--repeats 5] [--sample 200] [--no-memory] [--em-only | --fps-only]

All figures come from one run on the same frames; each is the median of ``--repeats`` repeats
after a warm-up (the warm-up also loads or compiles the numba kernels), and every ratio is taken
between figures of this run. The machine is shared: compare ratios, not absolute numbers.

1. EM fit at the seed's setting: the first 48 frames of ../shared/data/traffic.gif (120x160),
   K=2, full covariances, tol=1e-3, max_iter=100, reg_covar=4: scikit-learn's ``GaussianMixture``
   pixel by pixel on ``--sample`` random pixels (one thread, threadpoolctl), extrapolated to the
   frame; our numpy path (one thread); the compiled path on one thread and on all cores.
2. The arithmetic EM needs, per pixel, frame, component and iteration, full covariance with C
   channels (the formula is printed), beside numpy's float32 matmul (the machine's practical
   ceiling) on one thread and on all cores: over the whole fit (times the iterations it ran, over
   its time, k-means initialisation included), and over the EM iterations alone (every pixel runs
   exactly 1 and then 11 iterations, ``tol < 0``; 10 iterations' arithmetic over the difference).
3. Frames per second at 240x320 and 480x640 on the same frames: OpenCV MOG2 ``apply`` on 1 thread
   and on all cores, our full-model classification (``min_background_mahalanobis`` on the whole
   block of frames, K=3 model) and our online update (``AdaptiveGaussianMixture.apply``), numpy
   and compiled on 1 thread and on all cores; ratios at equal thread counts. The columns of a row
   are measured in turns (``interleaved_fps``), so MOG2 is timed again beside each task.
4. A 480x640, T=200, K=3 full fit on all cores, in a fresh subprocess: time and peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import numba  # noqa: E402
from bench_gmm import fit_sklearn, seed_clip, structured_clip  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bgsub.kernels import em  # noqa: E402
from bgsub.mixture import (  # noqa: E402
    DEFAULT_REG_COVAR,
    ConvergenceWarning,
    PixelGaussianMixture,
)
from bgsub.online import AdaptiveGaussianMixture  # noqa: E402
from bgsub.ranking import min_background_mahalanobis  # noqa: E402

ALL = numba.config.NUMBA_NUM_THREADS


def median_time(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def flops_per_unit(c: int) -> tuple[int, str]:
    """Arithmetic per (pixel, frame, component, iteration) of full-covariance EM with C channels."""
    e_step = c + c * c + (2 * c - 1) + 2 + 5
    m_step = 1 + 2 * c + c * (c + 1)
    formula = (
        f"E: C (x - mu) + C^2 (U^T d, triangular) + 2C-1 (squared norm) + 2 (-1/2, + log w det)"
        f" + 5 (log-sum-exp share: max, subtract, exp, add, normalise) = {e_step}\n"
        f"   M: 1 (count) + 2C (r x, sum) + C(C+1) (sum of r x x^T, lower triangle, mul+add) = {m_step}\n"
        f"   total per pixel, frame, component, iteration = 2C^2 + 6C + 7 = {e_step + m_step} for C={c}"
    )
    return e_step + m_step, formula


def matmul_gflops(threads: int, repeats: int, n: int = 2048) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    with threadpool_limits(limits=threads):
        seconds = median_time(lambda: a @ b, repeats)
    return 2.0 * n**3 / seconds / 1e9


def fit(frames: np.ndarray, k: int, backend: str, threads: int = ALL, max_iter: int = 100) -> PixelGaussianMixture:
    """One fit; callers hold ``threadpool_limits(limits=1)`` around their timings (entering it
    scans the loaded libraries, ~3 ms, which is harness, not fit)."""
    numba.set_num_threads(threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return PixelGaussianMixture(
            k, covariance_type="full", tol=1e-3, max_iter=max_iter, backend=backend
        ).fit(frames)


#: Iteration counts of the two fits whose time difference is the EM iterations' time.
_FEW, _MANY = 1, 11


def interleaved_medians(fns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time of each of ``fns`` over ``repeats`` turns in which each runs once (after a warm-up
    turn), so that a change of machine load hits them alike."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()
    for _ in range(repeats):
        for fn, spent in zip(fns, times):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def fixed_iterations(flat: np.ndarray, n_iter: int, threads: int) -> None:
    """Compiled fit of ``flat (T, P, C)``, K=2, in which every pixel runs exactly ``n_iter`` iterations."""
    numba.set_num_threads(threads)
    em.fit_full(flat, 2, tol=-1.0, reg_covar=DEFAULT_REG_COVAR, max_iter=n_iter)


def em_table(repeats: int, n_sample: int) -> None:
    frames, source = seed_clip()
    n_frames, height, width, n_channels = frames.shape
    n_pixels = height * width
    pick = np.random.default_rng(0).choice(n_pixels, n_sample, replace=False)
    samples = frames.reshape(n_frames, n_pixels, -1)[:, pick].astype(np.float64)
    print(f"== 1. EM fit: {source}, {height}x{width}, T={n_frames}, K=2, full, reg_covar=4, tol=1e-3")
    print(f"   medians of {repeats} repeats; scikit-learn on {n_sample} random pixels, extrapolated")
    fit_sklearn(samples[:, :5], 4.0)
    sk_seconds = statistics.median(fit_sklearn(samples, 4.0)[0] for _ in range(repeats)) * n_pixels / n_sample
    rows = {"scikit-learn loop, 1 thread": sk_seconds}
    with threadpool_limits(limits=1):  # numpy's BLAS on one thread for every fit below
        rows["numpy path, 1 thread"] = median_time(lambda: fit(frames, 2, "numpy", 1), repeats)
        rows["compiled, 1 thread"] = median_time(lambda: fit(frames, 2, "numba", 1), repeats)
        rows[f"compiled, {ALL} threads"] = median_time(lambda: fit(frames, 2, "numba", ALL), repeats)
        model = fit(frames, 2, "numba", ALL)
    print(f"   {'':30} {'seconds':>9} {'px/s':>10} {'vs sklearn':>11} {'vs numpy':>9}")
    for name, seconds in rows.items():
        print(
            f"   {name:30} {seconds:9.3f} {n_pixels / seconds:10.0f} {sk_seconds / seconds:10.0f}x"
            f" {rows['numpy path, 1 thread'] / seconds:8.1f}x"
        )
    print(f"   mean EM iterations per pixel {model.n_iter_.mean():.2f}, converged {model.converged_.mean():.1%}")
    print("   targets: compiled all cores >= 2000x scikit-learn; compiled 1 thread >= 5x numpy")

    unit, formula = flops_per_unit(n_channels)
    units = float(model.n_iter_.astype(np.float64).sum()) * n_frames * 2
    per_iteration = float(n_pixels) * n_frames * 2
    flat = frames.reshape(n_frames, n_pixels, n_channels)
    print()
    print("== 2. FLOP rate of EM against float32 matmul (numpy, 2048x2048, threadpoolctl)")
    print(f"   {formula}")
    print(f"   whole fit: units run = sum over pixels of n_iter * T * K = {units:.3e}, over the fit's time"
          " (k-means initialisation, loading and storing the pixels included)")
    print(f"   EM iterations: every pixel runs exactly {_FEW} and {_MANY} iterations from its k-means start (tol < 0);"
          f" {_MANY - _FEW} x {per_iteration:.3e} units over the difference of the two times")
    print(f"   {'threads':>7} {'matmul GFLOP/s':>15} {'fit GFLOP/s':>12} {'fraction':>9}"
          f" {'iterations GFLOP/s':>19} {'fraction':>9}")
    for threads, key in ((1, "compiled, 1 thread"), (ALL, f"compiled, {ALL} threads")):
        with threadpool_limits(limits=1):
            few, many = interleaved_medians(
                [lambda n=n, threads=threads: fixed_iterations(flat, n, threads) for n in (_FEW, _MANY)], repeats
            )
        peak = matmul_gflops(threads, repeats)
        rate = unit * units / rows[key] / 1e9
        marginal = unit * per_iteration * (_MANY - _FEW) / max(many - few, 1e-9) / 1e9
        print(f"   {threads:7d} {peak:15.1f} {rate:12.2f} {rate / peak:9.1%} {marginal:19.2f} {marginal / peak:9.1%}")
    print("   target: fraction >= 25%")


def interleaved_fps(runs: dict[str, Callable[[], object]], n_frames: int, repeats: int) -> dict[str, float]:
    """Median fps of each run of ``n_frames`` frames over ``repeats`` turns (after a warm-up turn);
    the runs take turns within a repeat, so a change of machine load hits them alike."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: n_frames / statistics.median(t) for name, t in times.items()}


def fps_table(repeats: int, n_frames: int) -> None:
    import cv2
    from bench_online import make_frames

    print()
    print(f"== 3. frames per second ({n_frames} frames, medians of {repeats}); the same frames for every column;"
          f" OpenCV MOG2 apply and ours each on 1 thread and on {ALL} (cv2.setNumThreads, numba.set_num_threads)")
    print("   classification: the whole block of frames in one call, as the pipeline scores a tile;"
          " all columns of a row measured in turns")
    print(f"   {'size':>8} {'task':>15} {'MOG2 1thr':>10} {'MOG2 all':>9} {'numpy':>8} {'nb 1 thr':>9}"
          f" {'nb all':>8} {'1thr/MOG2':>10} {'all/MOG2':>9}")
    cv_threads = cv2.getNumThreads()
    for h, w in ((240, 320), (480, 640)):
        frames = make_frames(n_frames, h, w)

        def mog2(threads: int, frames: np.ndarray = frames) -> None:
            cv2.setNumThreads(threads)
            model = cv2.createBackgroundSubtractorMOG2(500, 16, True)
            for frame in frames:
                model.apply(frame)

        def online(backend: str, threads: int, frames: np.ndarray = frames) -> None:
            numba.set_num_threads(threads)
            model = AdaptiveGaussianMixture(backend=backend)
            for frame in frames:
                model.apply(frame)

        with threadpool_limits(limits=1):
            model = fit(frames[:20], 3, "numba", ALL)

        def classify(backend: str, threads: int, model: PixelGaussianMixture = model,
                     frames: np.ndarray = frames) -> None:
            numba.set_num_threads(threads)
            model.backend = backend
            min_background_mahalanobis(frames, model)

        for task, ours in (("classification", classify), ("online update", online)):
            runs: dict[str, Callable[[], object]] = {
                "MOG2 1": lambda: mog2(1), "MOG2 all": lambda: mog2(ALL),
                "numpy": lambda ours=ours: ours("numpy", 1),
                "nb 1": lambda ours=ours: ours("numba", 1), "nb all": lambda ours=ours: ours("numba", ALL),
            }
            with threadpool_limits(limits=1):
                fps = interleaved_fps(runs, n_frames, repeats)
            numba.set_num_threads(ALL)
            cv2.setNumThreads(cv_threads)
            print(f"   {h}x{w:<4} {task:>15} {fps['MOG2 1']:10.1f} {fps['MOG2 all']:9.1f} {fps['numpy']:8.1f}"
                  f" {fps['nb 1']:9.1f} {fps['nb all']:8.1f} {fps['nb 1'] / fps['MOG2 1']:9.2f}x"
                  f" {fps['nb all'] / fps['MOG2 all']:8.2f}x")
    print("   targets at 240x320: classification >= 3x MOG2 apply, online update >= 1x (same thread counts)")


def memory_child() -> None:
    frames = structured_clip(200, 480, 640, seed=1)
    with threadpool_limits(limits=1):
        fit(frames[:, :8, :8], 3, "numba")  # load the compiled kernels before timing
        start = time.perf_counter()
        model = fit(frames, 3, "numba", ALL)
        seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_peak_mb": rss, "input_mb": frames.nbytes / 2**20,
                      "converged": float(model.converged_.mean()), "iters": float(model.n_iter_.mean())}))


def memory_table() -> None:
    result = subprocess.run([sys.executable, __file__, "--memory-child"], capture_output=True, text=True,
                            check=True, cwd=ROOT, env={**os.environ})
    m = json.loads(result.stdout.strip().splitlines()[-1])
    print()
    print(f"== 4. 480x640, T=200, K=3, full, compiled on {ALL} threads (synthetic frames, fresh process)")
    print(f"   fit {m['seconds']:.1f} s (target < 15 s), peak RSS {m['rss_peak_mb']:.0f} MB (target < 1024;"
          f" input {m['input_mb']:.0f} MB), mean iterations {m['iters']:.1f}, converged {m['converged']:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sample", type=int, default=200, help="pixels fitted by scikit-learn")
    parser.add_argument("--frames", type=int, default=50, help="frames of the fps table")
    parser.add_argument("--no-memory", action="store_true")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--fps-only", action="store_true", help="run only section 3 (frames per second)")
    only.add_argument("--em-only", action="store_true", help="only the EM sections (1, 2 and 4)")
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child()
        return
    print(f"numpy {np.__version__}, numba {numba.__version__}, {ALL} cores, load average {os.getloadavg()[0]:.1f}")
    if not args.fps_only:
        em_table(args.repeats, args.sample)
    if not args.em_only:
        fps_table(args.repeats, args.frames)
    if not (args.no_memory or args.fps_only):
        memory_table()


if __name__ == "__main__":
    main()
