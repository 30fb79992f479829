"""Frames per second of ``AdaptiveGaussianMixture.apply`` beside OpenCV MOG2, measured in the same run.

Command (from the project root)::

    .venv/bin/python benchmarks/bench_online.py [--frames 60] [--repeats 5]

Both run MOG2's defaults (history 500, varThreshold 16, K = 5, shadows on) on the
same synthetic frames (noisy static background with moving blocks, uint8 RGB).
Each repeat feeds a fresh model all frames; the table shows the median fps over
repeats. OpenCV is timed with ``cv2.setNumThreads(1)`` and with its default
thread count; ours is numpy on one thread.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from bgsub.online import AdaptiveGaussianMixture


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


def fps_ours(frames: np.ndarray) -> float:
    model = AdaptiveGaussianMixture()
    start = time.perf_counter()
    for frame in frames:
        model.apply(frame)
    return len(frames) / (time.perf_counter() - start)


def fps_opencv(frames: np.ndarray, threads: int | None) -> float:
    import cv2

    previous = cv2.getNumThreads()
    if threads is not None:
        cv2.setNumThreads(threads)
    try:
        model = cv2.createBackgroundSubtractorMOG2(500, 16, True)
        start = time.perf_counter()
        for frame in frames:
            model.apply(frame)
        return len(frames) / (time.perf_counter() - start)
    finally:
        cv2.setNumThreads(previous)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import cv2

        default_threads = cv2.getNumThreads()
    except ImportError:
        cv2 = None
        default_threads = 0
    print(f"numpy {np.__version__}, OpenCV {cv2.__version__ if cv2 else 'missing'} "
          f"(default threads {default_threads}); {args.frames} frames, median of {args.repeats} repeats")
    header = f"{'size':>8} {'ours fps':>9} {'cv2 1thr':>9} {'ratio':>7} {'cv2 dflt':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for h, w in ((240, 320), (480, 640)):
        frames = make_frames(args.frames, h, w)
        ours = statistics.median(fps_ours(frames) for _ in range(args.repeats))
        row = f"{h}x{w:<4} {ours:9.1f}"
        if cv2 is not None:
            one = statistics.median(fps_opencv(frames, 1) for _ in range(args.repeats))
            dflt = statistics.median(fps_opencv(frames, None) for _ in range(args.repeats))
            row += f" {one:9.1f} {ours / one:7.3f} {dflt:9.1f} {ours / dflt:7.3f}"
        print(row)
    print("ratio = ours / OpenCV (1 = as fast); target: ours >= 25 fps at 240x320")


if __name__ == "__main__":
    main()
