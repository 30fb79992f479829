"""The default on validation scenes filmed at k times their size: does its F hold when the frame grows?

Command (from the project root)::

    .venv/bin/python benchmarks/zoomed_scenes.py [--kind jitter] [--seeds 3] [--zooms 1,2,3,4] [--fixed-search]

Each validation seed of the kind (:func:`bgsub.synth.scene_seeds`, never a test seed) is drawn at its size
(120 x 160), then every frame is enlarged ``k`` times by bilinear interpolation and its ground truth by
repetition, so the scene is the same and every distance in it, a camera's shake included, is ``k`` times as
many pixels. The default preset is fitted on the enlarged training frames and scored on the enlarged test
frames, with the threshold and CDnet counting of ``validate_levers.py``. It prints, per seed and zoom, F, the
shake measured on the training frames (``camera_motion_``, px), the alignment's search bound
(``align_shift_bound_``) and the neighbourhood's radius. ``--fixed-search`` searches 8 px whatever the frame's
size (``ALIGN_MAX_SHIFT_FRACTION`` 0), as the alignment did before its search grew with the frame.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
from scipy import ndimage
from validate_levers import BLOCK, _f, _split, preset_with

from bgsub import gmm
from bgsub.methods import make_method
from bgsub.metrics import sweep_thresholds
from bgsub.scoring import score_blocks
from bgsub.synth import SCENES, Scene, make_scene, scene_seeds
from bgsub.tally import ScoreTally


def zoomed(scene: Scene, k: int) -> Scene:
    """``scene`` with every frame and its true background enlarged ``k`` times (bilinear, rounded to uint8) and its
    labels repeated."""
    if k == 1:
        return scene

    def enlarged(image: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(ndimage.zoom(image.astype(np.float32), (k, k, 1), order=1)), 0, 255).astype(np.uint8)

    labels = np.repeat(np.repeat(scene.labels, k, axis=1), k, axis=2)
    return dataclasses.replace(scene, frames=np.stack([enlarged(f) for f in scene.frames]), labels=labels,
                               background=enlarged(scene.background))


def run(scene: Scene) -> tuple[float, object]:
    """F of the default on ``scene``, and the fitted method."""
    kind, params, post, threshold = _split(preset_with([]))
    method = make_method(kind, **params).fit(scene.frames[: scene.n_train])
    numbers = list(range(scene.n_train + 1, len(scene.frames) + 1))
    blocks = [(numbers[i: i + BLOCK], scene.frames[scene.n_train + i: scene.n_train + i + BLOCK])
              for i in range(0, len(numbers), BLOCK)]
    tally = ScoreTally(sweep_thresholds(0, 40, 81, threshold), threshold, numbers)
    for nums, scores, masks in score_blocks(method, blocks, threshold=threshold, postprocess=post):
        tally.add(nums, scores, masks, lambda n: scene.labels[n - 1], None)
    return _f(tally), method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", default="jitter", choices=SCENES)
    parser.add_argument("--seeds", type=int, default=3, help="the kind's first N validation seeds")
    parser.add_argument("--zooms", default="1,2,3,4")
    parser.add_argument("--fixed-search", action="store_true", help="search 8 px at every size")
    args = parser.parse_args()
    if args.fixed_search:
        gmm.ALIGN_MAX_SHIFT_FRACTION = 0.0
    zooms = [int(z) for z in args.zooms.split(",")]
    search = "8 px" if args.fixed_search else f"max(8 px, shorter side / {1 / gmm.ALIGN_MAX_SHIFT_FRACTION:g})"
    print(f"{args.kind}, validation seeds, the default preset; alignment search {search}")
    print(f"{'seed':>6} {'zoom':>4} {'size':>9} {'F':>7} {'shake px':>8} {'bound px':>8} {'radius':>6} {'s':>5}")
    by_zoom: dict[int, list[float]] = {k: [] for k in zooms}
    for seed in scene_seeds(args.kind, "validation", args.seeds):
        scene = make_scene(args.kind, seed=seed)
        for k in zooms:
            start = time.perf_counter()
            f, method = run(zoomed(scene, k))
            by_zoom[k].append(f)
            bound = method.align_shift_bound_
            print(f"{seed:>6} {k:>4} {'x'.join(map(str, scene.frames.shape[1:3] * np.array(k))):>9} {f:7.4f} "
                  f"{method.camera_motion_ or 0.0:8.2f} {'-' if bound is None else f'{bound:.2f}':>8} "
                  f"{method.spatial_radius_:>6} {time.perf_counter() - start:5.0f}", flush=True)
    print("mean F per zoom: " + ", ".join(f"x{k} {statistics.mean(v):.4f}" for k, v in by_zoom.items()))


if __name__ == "__main__":
    main()
