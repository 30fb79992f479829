"""Two cues a colour model lacks, measured where the default misses foreground: would they find it?

``water``'s misses are hulls in the water's own colour (a quarter of the movers are drawn near the colour of
the ground they cross). No per-pixel colour model can tell such a hull from the water at rest; two cues could:

- **stillness**: the water moves, a hull crossing it does not. A pixel whose colour changed between frames in
  training (median over the training frames' differences, summed over channels, above ``--moving``) but not
  over the last ``--window`` frames (every difference under ``--still``);
- **flatness**: the water has ripples, a painted hull has none. A pixel whose local gradient energy (Sobel on
  the grey frame, squared, averaged over 5x5) is under ``--flat`` times its lowest in training (5th percentile).

For each scene and seed the script counts, among the pixels the default marks background, the missed
foreground each cue would find and the true background it would mark: an upper bound of what either cue could
add to the default, before any post-processing. It reads the validation seeds unless told ``--split test``;
it chooses nothing.

Usage::

    python benchmarks/camouflage_cues.py --scenes water --seeds 20 --skip-seeds 25
"""

from __future__ import annotations

import argparse

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage
from validate_levers import score_scene

from bgsub.metrics import MOTION, SHADOW, STATIC
from bgsub.presets import preset_settings
from bgsub.synth import MAX_SEEDS, SCENE_SEEDS, scene_seeds

#: What :func:`cue_counts` counts: the default's misses, and each cue's finds among them and among the negatives.
COUNTS = ("fn", "still_tp", "still_fp", "flat_tp", "flat_fp")


def stillness(frames: NDArray, n_train: int, *, moving: float, still: float, window: int) -> NDArray[np.bool_]:
    """``(T, H, W)``: frame ``t`` is still (its last ``window`` differences under ``still``) at a pixel that moved in
    training (median difference above ``moving``); False for the first ``window`` frames."""
    diff = np.abs(np.diff(frames.astype(np.float32), axis=0)).sum(-1)  # diff[t - 1]: frame t against t - 1
    moved = np.median(diff[: n_train - 1], axis=0) > moving
    out = np.zeros(frames.shape[:3], bool)
    for t in range(window, len(frames)):
        out[t] = moved & (diff[t - window : t].max(0) < still)
    return out


def flatness(frames: NDArray, n_train: int, *, flat: float) -> NDArray[np.bool_]:
    """``(T, H, W)``: frame ``t``'s local gradient energy is under ``flat`` times the pixel's 5th percentile in
    training."""
    grey = frames.astype(np.float32).mean(-1)
    sobel_x = np.outer([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])[None]  # (1, 3, 3): each frame alone, not across time
    gradient = ndimage.correlate(grey, sobel_x) ** 2 + ndimage.correlate(grey, sobel_x.transpose(0, 2, 1)) ** 2
    energy = ndimage.uniform_filter(gradient, size=(1, 5, 5))
    return energy < flat * np.percentile(energy[:n_train], 5, axis=0)


def cue_counts(kind: str, seed: int, args: argparse.Namespace) -> dict[str, int]:
    """The default's misses on one scene, and what each cue finds among the pixels it marks background."""
    scene, _, _, scored = score_scene(kind, preset_settings("default"), seed)
    cues = {
        "still": stillness(scene.frames, scene.n_train, moving=args.moving, still=args.still, window=args.window),
        "flat": flatness(scene.frames, scene.n_train, flat=args.flat),
    }
    counts = dict.fromkeys(COUNTS, 0)
    for numbers, _, masks in scored:
        for number, mask in zip(numbers, masks):
            labels, background = scene.labels[number - 1], mask == 0
            missed, negative = background & (labels == MOTION), background & np.isin(labels, (STATIC, SHADOW))
            counts["fn"] += int(missed.sum())
            for name, cue in cues.items():
                counts[f"{name}_tp"] += int((cue[number - 1] & missed).sum())
                counts[f"{name}_fp"] += int((cue[number - 1] & negative).sum())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", default="water")
    parser.add_argument("--split", choices=("validation", "test"), default="validation")
    parser.add_argument("--seeds", type=int, default=1, choices=range(1, MAX_SEEDS + 1), metavar="N")
    parser.add_argument("--skip-seeds", type=int, default=0, metavar="N",
                        help="leave out the first N seeds of each kind, as validate_levers.py does")
    parser.add_argument("--moving", type=float, default=15.0, help="training's median difference of a moving pixel")
    parser.add_argument("--still", type=float, default=12.0, help="largest difference of a still pixel")
    parser.add_argument("--window", type=int, default=3, help="frames a pixel must have been still")
    parser.add_argument("--flat", type=float, default=0.25, help="flatness: energy ratio to training's 5th pct")
    args = parser.parse_args()
    print(f"{'kind':13s} {'seed':>5s} {'FN':>8s} {'still: found':>13s} {'new FP':>8s} {'flat: found':>12s} "
          f"{'new FP':>8s}")
    total = dict.fromkeys(COUNTS, 0)
    for kind in args.scenes.split(","):
        if kind not in SCENE_SEEDS:
            parser.error(f"--scenes: unknown kind {kind!r}")
        for seed in scene_seeds(kind, args.split, args.seeds, skip=args.skip_seeds):
            c = cue_counts(kind, seed, args)
            total = {key: total[key] + c[key] for key in total}
            print(f"{kind:13s} {seed:5d} {c['fn']:8d} {c['still_tp']:13d} {c['still_fp']:8d} {c['flat_tp']:12d} "
                  f"{c['flat_fp']:8d}", flush=True)
    print(f"{'total':13s} {'':5s} {total['fn']:8d} {total['still_tp']:13d} {total['still_fp']:8d} "
          f"{total['flat_tp']:12d} {total['flat_fp']:8d}")


if __name__ == "__main__":
    main()
