"""Cost of the moving-background levers at 240x320, and camera-shake compensation on a shaken highway.

Run from the project root::

    .venv/bin/python benchmarks/bench_levers.py              # ms per frame of each lever
    .venv/bin/python benchmarks/bench_levers.py --highway    # also: highway 470-899 shaken by +-2 px

Speed: one 240x320 RGB frame through each lever (medians of ``--repeats`` runs of ``--frames``
frames), beside the baseline measured in the same run: the squared RGB distance of the frame to
a background image (the cheapest scoring there is). Levers: ``align`` = :func:`bgsub.alignment.align_frames`
(phase correlation + bilinear shift), ``feedback`` = :meth:`bgsub.feedback.FeedbackState.update`,
``ghosts`` = :meth:`bgsub.persistence.GhostDetector.update` with a stopped blob in the mask,
``lbsp`` = :func:`bgsub.lbsp.texture_distance` (background descriptors recomputed each frame).

Highway (``--highway``, validation frames only): a median background of training frames
1-469 (every 4th); every 2nd frame of 470-899 moved by a random sub-pixel shift of up to
``--shake`` px per axis (bilinear; its ground truth moved with it, nearest); each frame scored by
its RGB distance to the background at 40 (the ``median`` method's threshold), with and without
:func:`bgsub.alignment.align_frames`, beside the same frames not shaken; CDnet rules (ROI;
ground truth 255 positive, 0 and 50 negative, 85 and 170 ignored). Prints precision, recall
and F, and the error of the estimated shifts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bgsub.alignment import align_frames  # noqa: E402
from bgsub.feedback import FeedbackState, normalised_distance  # noqa: E402
from bgsub.lbsp import texture_distance  # noqa: E402
from bgsub.persistence import GhostDetector  # noqa: E402

HEIGHT, WIDTH = 240, 320


def _scene(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A textured background and frames shaken by up to 2 px with a car stopped in them."""
    rng = np.random.default_rng(seed)
    grey = ndimage.gaussian_filter(rng.uniform(0, 255, (HEIGHT, WIDTH)), 2)
    grey = 40 + 170 * (grey - grey.min()) / (grey.max() - grey.min())
    background = np.stack([grey, 0.9 * grey + 10, 0.8 * grey + 20], axis=-1)
    frames = []
    for _ in range(n_frames):
        frame = ndimage.shift(background, (*rng.uniform(-2, 2, 2), 0), order=1, mode="nearest")
        frame[100:140, 150:220] = (200, 40, 40)
        frames.append(np.clip(frame + rng.normal(0, 3, frame.shape), 0, 255))
    return background.astype(np.float32), np.rint(np.stack(frames)).astype(np.uint8)


def _time(function, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        runs.append(time.perf_counter() - start)
    return float(np.median(runs))


def speed_table(n_frames: int, repeats: int) -> None:
    background, frames = _scene(n_frames)
    masks = np.linalg.norm(frames.astype(np.float32) - background, axis=-1) > 40
    threshold = 7.81

    def baseline() -> None:
        for frame in frames:
            ((frame.astype(np.float32) - background) ** 2).sum(-1)

    def align() -> None:
        align_frames(frames, background, max_shift=4)

    def feedback() -> None:
        state = FeedbackState((HEIGHT, WIDTH))
        for frame, mask in zip(frames, masks):
            scores = ((frame.astype(np.float32) - background) ** 2).sum(-1) / 48.0
            state.update(normalised_distance(scores, threshold, foreground=mask), mask)

    def ghosts() -> None:
        detector = GhostDetector((HEIGHT, WIDTH))
        for frame, mask in zip(frames, masks):
            detector.update(frame, background, mask)

    def lbsp() -> None:
        for frame in frames:
            texture_distance(frame, background)

    base = _time(baseline, repeats) / n_frames
    print(f"{HEIGHT}x{WIDTH} RGB, {n_frames} frames, median of {repeats} runs")
    print(f"{'lever':<10} {'ms/frame':>9} {'fps':>8} {'x baseline':>11}")
    print(f"{'baseline':<10} {1e3 * base:9.2f} {1 / base:8.1f} {1.0:11.1f}")
    for name, function in [("align", align), ("feedback", feedback), ("ghosts", ghosts), ("lbsp", lbsp)]:
        per_frame = _time(function, repeats) / n_frames
        print(f"{name:<10} {1e3 * per_frame:9.2f} {1 / per_frame:8.1f} {per_frame / base:11.1f}")


def _read(path: Path) -> np.ndarray:
    import imageio.v3 as iio

    return np.asarray(iio.imread(path))


def highway_shake(data: Path, shake: float, seed: int) -> None:
    train = np.stack([_read(data / "input" / f"in{i:06d}.jpg") for i in range(1, 470, 4)]).astype(np.float32)
    background = np.median(train, axis=0)
    roi = _read(data / "ROI.bmp")
    roi = (roi if roi.ndim == 2 else roi[..., 0]) > 0
    rng = np.random.default_rng(seed)
    frames, truths, shifts, still, still_truths = [], [], [], [], []
    for i in range(470, 900, 2):
        shift = rng.uniform(-shake, shake, 2)
        original = _read(data / "input" / f"in{i:06d}.jpg")
        frame = ndimage.shift(original.astype(np.float32), (*shift, 0), order=1, mode="nearest")
        gt = _read(data / "groundtruth" / f"gt{i:06d}.png")
        gt = gt if gt.ndim == 2 else gt[..., 0]
        still.append(original)
        still_truths.append(gt)
        frames.append(np.clip(np.rint(frame), 0, 255).astype(np.uint8))
        truths.append(ndimage.shift(gt, shift, order=0, mode="nearest"))
        shifts.append(shift)
    frames_arr, truth, true_shifts = np.stack(frames), np.stack(truths), np.array(shifts)
    start = time.perf_counter()
    aligned, est = align_frames(frames_arr, background.astype(np.uint8), max_shift=4)
    seconds = time.perf_counter() - start
    print(f"\nhighway 470-899 (every 2nd frame, {len(frames_arr)} frames) shaken by up to {shake} px per axis")
    print(f"shift error: mean {np.abs(est - true_shifts).mean():.3f} px, max {np.abs(est - true_shifts).max():.3f} px;"
          f" alignment {1e3 * seconds / len(frames_arr):.1f} ms/frame")
    print(f"{'frames':<10} {'precision':>9} {'recall':>7} {'F':>6}")
    for name, data_frames, labels in [("not shaken", np.stack(still), np.stack(still_truths)),
                                      ("unaligned", frames_arr, truth), ("aligned", aligned, truth)]:
        positive = (labels == 255) & roi
        negative = ((labels == 0) | (labels == 50)) & roi
        masks = np.linalg.norm(data_frames.astype(np.float32) - background, axis=-1) > 40
        tp = int((masks & positive).sum())
        fp = int((masks & negative).sum())
        fn = int((~masks & positive).sum())
        precision, recall = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        f = 2 * precision * recall / max(precision + recall, 1e-12)
        print(f"{name:<10} {precision:9.3f} {recall:7.3f} {f:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--highway", action="store_true")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "highway")
    parser.add_argument("--shake", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    speed_table(args.frames, args.repeats)
    if args.highway:
        highway_shake(args.data, args.shake, args.seed)


if __name__ == "__main__":
    main()
