"""The score maps' median filter of every size, compiled against SciPy, side by side.

Command (from the project root)::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_median.py [--zooms 2,4] [--sizes 5,9,17] [--repeats 5] \
        [--no-scipy] [--filter-zooms 1,2,4]

The score maps' median is :func:`bgsub.kernels.median.median_filter` on the compiled path and
``scipy.ndimage.median_filter`` on the numpy path (a run with ground truth used it for its threshold sweep until it
filtered the scores' levels instead). On the ``water`` validation scene enlarged ``k`` times
(``validate_levers.zoomed``: 320x240 at x2, 640x480 at x4), the default is fitted and its raw scores of 64 test frames
are filtered with each size (5x5, the default's; 9x9 and 17x17, its filters grown 2 and 4 times,
``bgsub.postprocess.grown_postprocess``), by both, in turns within each repeat, on one thread; both must give the same
bits. The same maps are also made levels between the sweep's thresholds and filtered so (``bgsub.kernels.levels``: the
levels, then their sliding-histogram median), which must give the levels of the compiled median. A last table times the
default's filters at the frame's size (``--filter-zooms``, 1 = the scene as drawn, 160x120) on both paths: the float
scores (``postprocess_scores``) and their levels (``postprocess_cut_scores``, what a run with ground truth runs), which
must agree at every threshold. It prints the median milliseconds a frame and the ratios. The machine is shared: compare
ratios, and read the load average printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage
from validate_levers import _split, preset_with, zoomed

from bgsub.kernels import set_num_threads
from bgsub.kernels.levels import median_levels, score_levels
from bgsub.kernels.median import median_filter
from bgsub.methods import make_method
from bgsub.metrics import sweep_thresholds
from bgsub.postprocess import frame_filters, postprocess_cut_scores, postprocess_scores
from bgsub.presets import preset_settings
from bgsub.synth import make_scene, scene_seeds

FRAMES = 64


def raw_scores(zoom: int) -> np.ndarray:
    """The default's unfiltered scores of the first :data:`FRAMES` test frames of the enlarged ``water`` scene."""
    scene = zoomed(make_scene("water", seed=scene_seeds("water", "validation", 1)[0]), zoom)
    kind, params, _, _ = _split(preset_with([]))
    method = make_method(kind, **params).fit(scene.frames[: scene.n_train])
    return method.foreground_scores(scene.frames[scene.n_train: scene.n_train + FRAMES]).astype(np.float32)


def in_turns(runs: dict[str, Callable[[], np.ndarray]], repeats: int, n_frames: int
             ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Each run ``repeats`` times, the runs in turns within a repeat: the median milliseconds a frame of each, and
    what each gave in the last repeat (every repeat computes the same)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    got: dict[str, np.ndarray] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            got[name] = run()
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) / n_frames for name, t in times.items()}, got


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zooms", default="2,4")
    parser.add_argument("--sizes", default="5,9,17")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-scipy", action="store_true", help="skip SciPy (most of the run's time)")
    parser.add_argument("--filter-zooms", default="1,2,4", help="zooms of the filters' table (1 = 160x120)")
    args = parser.parse_args()
    set_num_threads(1)
    settings = preset_settings("default")
    cuts = sweep_thresholds(*settings["sweep"], settings["threshold"])
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'size':>10} {'median':>6} {'scipy ms':>9} {'compiled ms':>11} {'ratio':>7} {'levels ms':>9}"
          f" {'compiled/levels':>15}")
    for zoom in (int(z) for z in args.zooms.split(",")):
        scores = raw_scores(zoom)
        for size in (int(s) for s in args.sizes.split(",")):
            median_filter(scores[:1], size)  # compiled (or loaded from the cache) before timing
            median_levels(score_levels(scores[:1], cuts), size)
            runs = {"scipy": lambda s=scores, n=size: ndimage.median_filter(s, size=(1, n, n), mode="nearest"),
                    "compiled": lambda s=scores, n=size: median_filter(s, n),
                    "levels": lambda s=scores, n=size: median_levels(score_levels(s, cuts), n)}
            if args.no_scipy:
                del runs["scipy"]
            ms, got = in_turns(runs, args.repeats, len(scores))
            if "scipy" in got and not np.array_equal(got["compiled"].view(np.uint32), got["scipy"].view(np.uint32)):
                raise SystemExit(f"median {size} differs from SciPy's at {scores.shape}")
            if not np.array_equal(got["levels"], np.searchsorted(cuts, got["compiled"], "left")):
                raise SystemExit(f"median {size} of the levels is not the levels of the median at {scores.shape}")
            ms.setdefault("scipy", float("nan"))
            h, w = scores.shape[1:]
            print(f"{w:>4}x{h:<5} {size:>6} {ms['scipy']:9.2f} {ms['compiled']:11.2f}"
                  f" {ms['scipy'] / ms['compiled']:6.1f}x {ms['levels']:9.2f}"
                  f" {ms['compiled'] / ms['levels']:14.1f}x", flush=True)
    print("the default's filters at the frame's size, as a run with ground truth applies them: the float scores"
          " (postprocess_scores) against their levels (postprocess_cut_scores), ms a frame")
    post = settings["postprocess"]
    for zoom in (int(z) for z in args.filter_zooms.split(",")):
        scores = raw_scores(zoom)
        paths = {"float": lambda s=scores: postprocess_scores(s, post),
                 "levels": lambda s=scores: postprocess_cut_scores(s, cuts, post)}
        for run in paths.values():
            run()
        ms, got = in_turns(paths, args.repeats, len(scores))
        if not all(np.array_equal(got["float"] > c, got["levels"] > c) for c in cuts):
            raise SystemExit(f"the levels' filters differ from the scores' at {scores.shape}")
        h, w = scores.shape[1:]
        print(f"{w:>4}x{h:<5} {str(frame_filters(post, h, w)):>30} float {ms['float']:7.2f} levels {ms['levels']:6.2f}"
              f" ({ms['float'] / ms['levels']:.1f}x)", flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
