"""How dark a sequence's labelled shadows are, against the band the default's shadow test accepts.

The default's shadow test (MOG2's, ``shadow_tau`` 0.5 in ``bgsub.presets``) takes a pixel as a shadow only when
its brightness ratio to the background, ``a = <f, b> / <b, b>``, is at least ``shadow_tau``. A shadow darker
than that is scored like any other change. This script measures ``a`` on the pixels the ground truth labels
shadow (CDnet label 50) and prints its percentiles and the share under ``shadow_tau``: whether the band covers
a sequence's shadows. The background ``b`` is the median of the training frames (at most ``--train-frames`` of
them, evenly spread), or a generated scene's own exact background, moved by its shake and scaled by its gain
(``errors_by_label.py`` counts the default's false positives on such shadows). It chooses nothing.

Usage::

    python benchmarks/shadow_depth.py ../shared/data/highway --frames 470 899    # highway's validation slice
    python benchmarks/shadow_depth.py --synthetic shadows                           # the kind's validation seed
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from errors_by_label import brightness_ratio
from numpy.typing import NDArray

from bgsub.datasets import open_sequence
from bgsub.metrics import SHADOW
from bgsub.presets import preset_settings
from bgsub.synth import SCENES, make_scene, scene_seed

PERCENTILES = (5, 25, 50, 75, 95)


def shadow_ratios(frame: NDArray, labels: NDArray, background: NDArray) -> NDArray[np.float64]:
    """Brightness ratios ``<f, b> / <b, b>`` of ``frame``'s pixels labelled shadow (``(H, W, C)`` frame and
    background, ``(H, W)`` labels); a black background pixel gives no ratio.

    Examples
    --------
    >>> background = np.full((1, 2, 3), 100.0)
    >>> shadow_ratios(np.array([[[40.0, 40, 40], [90, 90, 90]]]), np.array([[50, 0]]), background)
    array([0.4])
    """
    where = (labels == SHADOW) & (np.asarray(background, np.float64).sum(axis=-1) > 0)
    f = np.asarray(frame, np.float64)[where]
    b = np.asarray(background, np.float64)[where]
    return (f * b).sum(axis=-1) / (b * b).sum(axis=-1)


def sequence_ratios(path: Path, first: int, last: int, train_frames: int) -> NDArray[np.float64]:
    """The shadow pixels' ratios over frames ``first..last`` of a CDnet folder, against its training median."""
    sequence = open_sequence(path.name, {"path": str(path)})
    background = np.median(sequence.source.read(sequence.train_numbers(train_frames)), axis=0)
    numbers = [n for n in range(first, last + 1) if n in sequence.ground_truth]
    ratios = [shadow_ratios(frame, sequence.labels(n), background)
              for block_numbers, frames in sequence.source.iter_blocks(numbers)  # a block at a time: memory stays flat
              for n, frame in zip(block_numbers, frames)]
    return np.concatenate(ratios) if ratios else np.empty(0)


def synthetic_ratios(kind: str, seed: int) -> NDArray[np.float64]:
    """The shadow pixels' ratios over a generated scene's test frames, against its exact background (moved by
    the frame's shake and scaled by its gain: :func:`errors_by_label.brightness_ratio`)."""
    scene = make_scene(kind, seed=seed)
    numbers = range(scene.n_train + 1, len(scene.frames) + 1)
    return np.concatenate([brightness_ratio(scene, n)[scene.labels[n - 1] == SHADOW] for n in numbers])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, help="a CDnet folder")
    parser.add_argument("--frames", nargs=2, type=int, metavar=("FIRST", "LAST"),
                        help="the frames to measure (CDnet numbers); say which, since a test slice is test data")
    parser.add_argument("--train-frames", type=int, default=120, help="training frames for the median background")
    parser.add_argument("--synthetic", choices=SCENES, help="a generated scene kind instead of a folder")
    parser.add_argument("--seed", type=int, help="the scene's seed (default: its validation seed)")
    args = parser.parse_args()
    if args.synthetic:
        seed = scene_seed(args.synthetic, "validation") if args.seed is None else args.seed
        ratios, what = synthetic_ratios(args.synthetic, seed), f"{args.synthetic} seed {seed}"
    elif args.path is not None and args.frames is not None:
        ratios = sequence_ratios(args.path, *args.frames, args.train_frames)
        what = f"{args.path} frames {args.frames[0]}-{args.frames[1]}"
    else:
        parser.error("give a CDnet folder and --frames, or --synthetic KIND")
    tau = preset_settings("default")["shadow_tau"]
    if ratios.size == 0:
        print(f"{what}: no pixel labelled shadow")
        return
    values = "  ".join(f"p{p} {v:.3f}" for p, v in zip(PERCENTILES, np.percentile(ratios, PERCENTILES)))
    print(f"{what}: {ratios.size} shadow pixels, brightness ratio {values}; "
          f"{(ratios < tau).mean():.1%} under the default's shadow_tau {tau}")


if __name__ == "__main__":
    main()
