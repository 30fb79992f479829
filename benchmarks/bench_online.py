"""Frames per second of ``AdaptiveGaussianMixture.apply`` beside OpenCV MOG2 ``apply``, side by side.

Command (from the project root)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_online.py [--frames 50] [--repeats 7]

Every contender runs MOG2's defaults (history 500, varThreshold 16, K = 5, shadows on) on the
same synthetic frames (noisy static background with moving blocks, uint8 RGB), at 240x320 and
480x640, on 1 thread and on all cores: OpenCV through ``cv2.setNumThreads``, our compiled update
through ``numba.set_num_threads`` (it splits the pixels over that many threads), our numpy update
(the reference; one thread, numpy does not thread it). Each repeat feeds a fresh model all frames;
the contenders take turns within a repeat, so a change of machine load hits them alike. The table
shows the median fps over repeats and the ratio of medians to MOG2 at the same thread count
(1 = as fast); ``paired`` is the median over repeats of compiled/MOG2 within a repeat, which a
change of load between repeats disturbs less. The machine is shared: compare ratios, not
absolute numbers, and read the load average printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np

from bgsub.online import AdaptiveGaussianMixture

SIZES = ((240, 320), (480, 640))


def make_frames(n_frames: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    """Noisy static background plus two moving blocks, ``(T, H, W, 3)`` uint8."""
    rng = np.random.default_rng(seed)
    background = rng.uniform(40, 200, size=(h, w, 3)).astype(np.float32)
    frames = np.empty((n_frames, h, w, 3), dtype=np.uint8)
    bh, bw = h // 6, w // 8
    for t in range(n_frames):
        f = background + rng.normal(0, 3, size=background.shape).astype(np.float32)
        x = (4 * t) % (w - bw)
        f[h // 6 : h // 6 + bh, x : x + bw] = (200, 30, 30)
        y = (3 * t) % (h - bh)
        f[y : y + bh, w // 2 : w // 2 + bw] = (20, 220, 90)
        frames[t] = np.clip(np.rint(f), 0, 255)
    return frames


def seconds(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def contenders(frames: np.ndarray, threads: int) -> dict[str, Callable[[], None]]:
    """Name -> a run of all frames through a fresh model on ``threads`` threads."""
    import cv2
    import numba

    def mog2() -> None:
        cv2.setNumThreads(threads)
        model = cv2.createBackgroundSubtractorMOG2(500, 16, True)
        for frame in frames:
            model.apply(frame)

    def ours(backend: str) -> Callable[[], None]:
        def run() -> None:
            numba.set_num_threads(threads)
            model = AdaptiveGaussianMixture(backend=backend)
            for frame in frames:
                model.apply(frame)

        return run

    runs = {"MOG2": mog2, "compiled": ours("numba")}
    if threads == 1:
        runs["numpy"] = ours("numpy")
    return runs


def measure(frames: np.ndarray, threads: int, repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """Median fps of each contender over ``repeats`` turns (after one warm-up turn), and the median
    over turns of its speed relative to MOG2 in the same turn (robust to load changing between
    turns)."""
    runs = contenders(frames, threads)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():  # warm-up: compiles or loads the kernels, allocates
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(seconds(run))
    fps = {name: len(frames) / statistics.median(t) for name, t in times.items()}
    paired = {name: statistics.median(m / s for m, s in zip(times["MOG2"], t, strict=True))
              for name, t in times.items()}
    return fps, paired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import cv2
    import numba
    from threadpoolctl import threadpool_limits

    all_cores = numba.config.NUMBA_NUM_THREADS
    cv_default = cv2.getNumThreads()
    print(f"numpy {np.__version__}, numba {numba.__version__}, OpenCV {cv2.__version__};"
          f" {args.frames} frames, median of {args.repeats} repeats; {all_cores} cores;"
          f" load average {os.getloadavg()[0]:.1f}")
    header = (f"{'size':>8} {'threads':>7} {'MOG2 fps':>9} {'compiled':>9} {'numpy':>8}"
              f" {'compiled/MOG2':>14} {'numpy/MOG2':>11} {'paired':>7}")
    print(header)
    print("-" * len(header))
    try:
        with threadpool_limits(limits=1):  # numpy's own libraries on one thread throughout
            for h, w in SIZES:
                frames = make_frames(args.frames, h, w)
                for threads in (1, all_cores):
                    fps, paired = measure(frames, threads, args.repeats)
                    numpy_fps = f"{fps['numpy']:8.1f}" if "numpy" in fps else f"{'':8}"
                    numpy_ratio = f"{fps['numpy'] / fps['MOG2']:10.2f}x" if "numpy" in fps else f"{'':11}"
                    print(f"{h}x{w:<4} {threads:7d} {fps['MOG2']:9.1f} {fps['compiled']:9.1f} {numpy_fps}"
                          f" {fps['compiled'] / fps['MOG2']:13.2f}x {numpy_ratio} {paired['compiled']:6.2f}x")
    finally:
        cv2.setNumThreads(cv_default)
        numba.set_num_threads(all_cores)
    print(f"load average after: {os.getloadavg()[0]:.1f}; target: compiled/MOG2 >= 1 at equal thread counts")


if __name__ == "__main__":
    main()
