"""Camera-shake alignment (``bgsub.alignment``) on one thread and on all cores, side by side.

Command (from the project root)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_alignment.py [--frames 60] [--repeats 5]

On the jitter validation scene at 240x320 (the scene of ``validate_levers.py``'s fps line), it times
:func:`~bgsub.alignment.camera_motion` (what ``fit`` measures, twice when the camera shakes) and
:func:`~bgsub.alignment.align_frames` (the training frames in ``fit``, every test block in scoring) with
``bgsub.kernels.set_num_threads(1)`` and with all cores, in turns within each repeat, and checks that both give
the same shifts and frames bit for bit. It prints the median seconds and the ratio. The machine is shared:
compare ratios, and read the load average printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from bgsub.alignment import align_frames, camera_motion
from bgsub.kernels import num_threads, set_num_threads
from bgsub.synth import SCENE_SEEDS, make_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    scene = make_scene("jitter", seed=SCENE_SEEDS["jitter"]["validation"], height=240, width=320,
                       n_train=args.frames, n_test=1)
    frames = scene.frames[: args.frames]
    reference = np.median(frames, axis=0).astype(frames.dtype)
    set_num_threads(0)
    cores = num_threads()
    print(f"load average before: {os.getloadavg()[0]:.2f}; all cores = {cores} threads; {args.frames} frames 240x320")
    times: dict[tuple[str, int], list[float]] = {}
    outputs: dict[int, tuple] = {}
    for _ in range(args.repeats):
        for threads in (1, cores):
            set_num_threads(threads)
            start = time.perf_counter()
            motion = camera_motion(frames)
            times.setdefault(("camera_motion", threads), []).append(time.perf_counter() - start)
            start = time.perf_counter()
            aligned, shifts = align_frames(frames, reference, max_farther=2)
            times.setdefault(("align_frames", threads), []).append(time.perf_counter() - start)
            outputs[threads] = (motion, shifts, aligned)
    set_num_threads(0)
    same = (outputs[1][0] == outputs[cores][0] and np.array_equal(outputs[1][1], outputs[cores][1])
            and np.array_equal(outputs[1][2], outputs[cores][2]))
    print(f"{'step':15s} {'1 thread':>10s} {f'{cores} threads':>11s}  ratio")
    for step in ("camera_motion", "align_frames"):
        one, many = (statistics.median(times[(step, n)]) for n in (1, cores))
        print(f"{step:15s} {one:9.2f}s {many:10.2f}s  x{one / many:.2f}")
    print(f"same motion, shifts and frames on both: {same}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
