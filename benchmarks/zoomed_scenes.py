"""The default on validation scenes filmed at k times their size: does its F hold when the frame grows?

Command (from the project root)::

    .venv/bin/python benchmarks/zoomed_scenes.py [--kinds jitter] [--seeds 3] [--zooms 1,2,3,4] [--fixed-search]
        [--scaled-postprocess] [--noise-after-zoom] [--set KEY=JSON ...] [--highway]

Each validation seed of the kind (:func:`bgsub.synth.scene_seeds`, never a test seed) is drawn at its size
(120 x 160), then every frame is enlarged ``k`` times by bilinear interpolation and its ground truth by
repetition, so the scene is the same and every distance in it, a camera's shake included, is ``k`` times as
many pixels. The default preset is fitted on the enlarged training frames and scored on the enlarged test
frames, with the threshold and CDnet counting of ``validate_levers.py``. It prints, per seed and zoom, F, the
shake measured on the training frames (``camera_motion_``, px), the alignment's search bound
(``align_shift_bound_``) and the neighbourhood's radius. ``--fixed-search`` searches 8 px whatever the frame's
size (``ALIGN_MAX_SHIFT_FRACTION`` 0), as the alignment did before its search grew with the frame.

``--kinds`` takes several kinds (comma-separated, or ``all``). ``--scaled-postprocess`` grows the preset's mask
filters with the zoom: the median's half-width ``k`` times (5 -> 9 at x2, 17 at x4) and ``min_area`` ``k`` squared
times (30 -> 120 at x2, 480 at x4), so they cover the same part of the scene. Since the tenth freeze the default
preset grows them itself (``postprocess: {reference_size: 120}``), so the flag changes nothing for it; ``--set
'postprocess={"median": 5, "min_area": 30}'`` measures the ninth freeze's filters, fixed at every size.
``--noise-after-zoom`` draws the scene without sensor noise, enlarges it, then adds the noise (sigma 3) pixel by
pixel, as a camera with more pixels would: enlarged noise comes in k x k blobs that the mask filters see as objects.
``--set`` changes one setting of the preset (JSON value). ``--highway`` runs the same settings on CDnet highway's
validation slice instead (fitted on 1-469, counted on 470-899, as ``validate_levers.py``; no test frame is read):
its frames, 320x240, are twice the scenes' size, so ``--scaled-postprocess`` grows its filters 2 times.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import numpy as np
from validate_levers import BLOCK, _f, _split, preset_with, real_sequences, run_sequence, sweep, zoomed

from bgsub import gmm
from bgsub.methods import make_method
from bgsub.postprocess import grown_postprocess
from bgsub.scoring import score_blocks
from bgsub.synth import SCENES, Scene, make_scene, scene_seeds
from bgsub.tally import ScoreTally

#: Sensor noise of the scenes (``make_scene``'s default), added after the enlargement with ``--noise-after-zoom``.
NOISE_SIGMA = 3.0


def with_noise(scene: Scene, seed: int) -> Scene:
    """``scene`` with Gaussian sensor noise (:data:`NOISE_SIGMA`) added to every pixel of every frame."""
    rng = np.random.default_rng(seed)
    noisy = np.rint(scene.frames + rng.normal(0.0, NOISE_SIGMA, scene.frames.shape))
    return dataclasses.replace(scene, frames=np.clip(noisy, 0, 255).astype(np.uint8))


def run(scene: Scene, settings: list[str] | None = None, zoom: int = 1) -> tuple[float, object]:
    """F of the default (with ``settings``, ``KEY=JSON``) on ``scene``, and the fitted method; ``zoom`` > 1 grows
    the mask filters that many times (:func:`bgsub.postprocess.grown_postprocess`)."""
    kind, params, post, threshold = _split(preset_with(settings or []))
    post = grown_postprocess(post, zoom) if zoom > 1 else post  # the preset's own (the default grows them itself)
    method = make_method(kind, **params).fit(scene.frames[: scene.n_train])
    numbers = list(range(scene.n_train + 1, len(scene.frames) + 1))
    blocks = [(numbers[i: i + BLOCK], scene.frames[scene.n_train + i: scene.n_train + i + BLOCK])
              for i in range(0, len(numbers), BLOCK)]
    tally = ScoreTally(sweep(threshold), threshold, numbers)
    for nums, scores, masks in score_blocks(method, blocks, threshold=threshold, postprocess=post,
                                            cuts=tally.sweep.thresholds):
        tally.add(nums, scores, masks, lambda n: scene.labels[n - 1], None)
    return _f(tally), method


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kinds", default="jitter", help=f"comma-separated, or all: {', '.join(SCENES)}")
    parser.add_argument("--seeds", type=int, default=3, help="the kind's first N validation seeds")
    parser.add_argument("--zooms", default="1,2,3,4")
    parser.add_argument("--fixed-search", action="store_true", help="search 8 px at every size")
    parser.add_argument("--scaled-postprocess", action="store_true", help="grow the mask filters with the zoom")
    parser.add_argument("--noise-after-zoom", action="store_true", help="add the sensor noise after enlarging")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON", dest="settings")
    parser.add_argument("--highway", action="store_true", help="highway 470-899 instead of the scenes")
    args = parser.parse_args()
    if args.highway:
        settings = preset_with(args.settings)
        post = _split(settings)[2]
        settings["postprocess"] = grown_postprocess(post, 2) if args.scaled_postprocess else post
        f = run_sequence("highway", real_sequences("validation")["highway"], settings)
        print(f"highway 470-899, the default preset{''.join(' ' + item for item in args.settings)}, mask filters "
              f"{settings['postprocess']}: F {f:.4f}")
        return
    kinds = list(SCENES) if args.kinds == "all" else args.kinds.split(",")
    unknown = sorted(set(kinds) - set(SCENES))
    if unknown:
        parser.error(f"unknown kinds {unknown}; known: {', '.join(SCENES)}")
    if args.fixed_search:
        gmm.ALIGN_MAX_SHIFT_FRACTION = 0.0
    zooms = [int(z) for z in args.zooms.split(",")]
    search = "8 px" if args.fixed_search else f"max(8 px, shorter side / {1 / gmm.ALIGN_MAX_SHIFT_FRACTION:g})"
    print(f"validation seeds, the default preset{''.join(' ' + item for item in args.settings)}; alignment search "
          f"{search}; mask filters {'grown with the zoom' if args.scaled_postprocess else 'as set'}; sensor noise "
          f"{'added after the zoom' if args.noise_after_zoom else 'enlarged with the scene'}")
    print(f"{'kind':>12} {'seed':>6} {'zoom':>4} {'size':>9} {'F':>7} {'shake px':>8} {'bound px':>8} {'radius':>6} "
          f"{'s':>5}")
    for kind in kinds:
        by_zoom: dict[int, list[float]] = {k: [] for k in zooms}
        for seed in scene_seeds(kind, "validation", args.seeds):
            scene = make_scene(kind, seed=seed, noise_sigma=0.0 if args.noise_after_zoom else NOISE_SIGMA)
            for k in zooms:
                start = time.perf_counter()
                seen = zoomed(scene, k)
                if args.noise_after_zoom:
                    seen = with_noise(seen, seed * 100 + k)
                f, method = run(seen, args.settings, k if args.scaled_postprocess else 1)
                by_zoom[k].append(f)
                bound = method.align_shift_bound_
                print(f"{kind:>12} {seed:>6} {k:>4} {'x'.join(map(str, scene.frames.shape[1:3] * np.array(k))):>9} "
                      f"{f:7.4f} {method.camera_motion_ or 0.0:8.2f} {'-' if bound is None else f'{bound:.2f}':>8} "
                      f"{method.spatial_radius_:>6} {time.perf_counter() - start:5.0f}", flush=True)
        print(f"{kind}: mean F per zoom: " + ", ".join(f"x{k} {statistics.mean(v):.4f}" for k, v in by_zoom.items()),
              flush=True)


if __name__ == "__main__":
    main()
