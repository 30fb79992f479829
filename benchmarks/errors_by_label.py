"""Where the default's errors are, per synthetic scene and seed: false positives on plain background and on
cast shadows (CDnet label 50, a negative), and missed foreground, counted on the masks F is computed from.

CDnet's F folds shadow pixels into the negatives, so a kind's F cannot say whether its false positives are
shadows. This script counts them apart (:func:`bgsub.label_counts.foreground_by_label`), seed by seed, with the
same fit, scoring and post-processing as ``validate_levers.py`` (its :func:`score_scene`). It reads the
validation seeds unless told ``--split test``; it chooses nothing.

``FP deep`` counts the shadow false positives whose brightness ratio to the scene's true background
(``a = <f, b> / <b, b>``, the background moved by the frame's shake in ``jitter`` and scaled by the frame's
global gain in ``exposure``; its drifting cloud shade is not) is below the settings' ``shadow_tau``: shadows
darker than the shadow test's band, which it cannot pass by design.

Usage::

    python benchmarks/errors_by_label.py --scenes jitter,water --seeds 5
    python benchmarks/errors_by_label.py --scenes departed --seeds 3 --set ghost_frames=null
    python benchmarks/errors_by_label.py --scenes exposure --seeds 20 --skip-seeds 25
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage
from validate_levers import preset_with, score_scene

from bgsub.label_counts import foreground_by_label
from bgsub.metrics import SHADOW, compute_metrics
from bgsub.presets import apply_preset
from bgsub.synth import MAX_SEEDS, SCENE_SEEDS, Scene, scene_seeds


def brightness_ratio(scene: Scene, number: int) -> np.ndarray:
    """Frame ``number``'s (1-based) brightness ratio ``<f, b> / <b, b>`` to the scene's true background ``b``,
    ``(H, W)``; ``b`` is moved by the frame's shake and scaled by its global gain where the scene records them
    (``info["shifts"]``, ``info["gain"]``)."""
    background = scene.background.astype(np.float64)
    if "shifts" in scene.info:
        dy, dx = scene.info["shifts"][number - 1]
        background = ndimage.shift(background, (dy, dx, 0), order=3, mode="nearest")
    if "gain" in scene.info:
        background = background * scene.info["gain"][number - 1]
    frame = scene.frames[number - 1].astype(np.float64)
    return (frame * background).sum(-1) / np.maximum((background * background).sum(-1), 1e-9)


def scene_errors(kind: str, settings: dict, seed: int) -> dict[str, int]:
    """Counts on the scored frames of one scene: ``tp``, ``fp_static``, ``fp_shadow``, ``fp_deep`` (the shadow
    false positives darker than ``shadow_tau``; 0 without a shadow test), ``fn`` and the pixel totals."""
    scene, _, _, scored = score_scene(kind, settings, seed)
    tau = apply_preset(dict(settings)).get("shadow_tau")
    totals = {"static": [0, 0], "shadow": [0, 0], "motion": [0, 0]}
    deep = 0
    for nums, _, masks in scored:
        for number, mask in zip(nums, masks):
            labels = scene.labels[number - 1]
            for name, (marked, pixels) in foreground_by_label(mask > 0, labels).items():
                totals[name][0] += marked
                totals[name][1] += pixels
            missed = (mask > 0) & (labels == SHADOW)
            if tau is not None and missed.any():  # the ratio only where a shadow was marked
                deep += int(np.count_nonzero(brightness_ratio(scene, number)[missed] < tau))
    return {"tp": totals["motion"][0], "fn": totals["motion"][1] - totals["motion"][0],
            "fp_static": totals["static"][0], "fp_shadow": totals["shadow"][0], "fp_deep": deep,
            "static": totals["static"][1], "shadow": totals["shadow"][1], "motion": totals["motion"][1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", default=",".join(SCENE_SEEDS))
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--seeds", type=int, default=1, choices=range(1, MAX_SEEDS + 1), metavar="N")
    parser.add_argument("--skip-seeds", type=int, default=0, metavar="N",
                        help="leave out the first N seeds of each kind, as validate_levers.py does")
    parser.add_argument("--preset", default="default")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override one setting of the preset (JSON value: 3, null, true, 0.5)")
    args = parser.parse_args()
    settings = preset_with(args.set, args.preset)
    print(f"{'kind':13s} {'seed':>5s} {'F':>6s} {'precision':>9s} {'recall':>6s} {'FP static':>10s} "
          f"{'FP shadow':>10s} {'FP deep':>8s} {'shadow px':>10s} {'FN':>8s} {'fg px':>8s}")
    for kind in args.scenes.split(","):
        for seed in scene_seeds(kind, args.split, args.seeds, skip=args.skip_seeds):
            c = scene_errors(kind, settings, seed)
            fp = c["fp_static"] + c["fp_shadow"]
            m = compute_metrics(c["tp"], fp, c["fn"], c["static"] + c["shadow"] - fp)
            print(f"{kind:13s} {seed:5d} {m['f_measure']:6.3f} {m['precision']:9.3f} {m['recall']:6.3f} "
                  f"{c['fp_static']:10d} {c['fp_shadow']:10d} {c['fp_deep']:8d} {c['shadow']:10d} {c['fn']:8d} "
                  f"{c['motion']:8d}",
                  flush=True)


if __name__ == "__main__":
    main()
