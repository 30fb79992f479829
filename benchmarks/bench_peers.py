"""The peers' and bgsub's F-measure and speed on the validation (or test) seed of every synthetic scene kind.

Command (from the project root)::

    PYTHONPATH=$PWD nice .venv/bin/python benchmarks/bench_peers.py [--kinds jitter water ...]
        [--methods default online SuBSENSE PAWCS MOG2 KNN] [--split validation|test] [--seeds N]
        [--skip-seeds K] [--zoom K] [--csv peers.csv]

Every kind of :data:`bgsub.synth.SCENES` is generated at its default size (160x120, 100 training
and 100 test frames) from its **validation** seed (:data:`bgsub.synth.SCENE_SEEDS`), or with
``--split test`` from its test seed: the test seeds are held out while defaults are chosen and are
run only to report frozen defaults (README "Accuracy"). ``--seeds N`` runs ``N`` scenes of each kind
(:func:`bgsub.synth.scene_seeds`: the declared seed, then further ones); a kind's figures are then
means over them, and a table follows of the worst seed, how many reach 0.90, and the half-width of a
95 % interval of the mean (Student's t over the seeds; measured over 5 test seeds:
``benchmarks/peers_test_5seeds.txt``). ``--skip-seeds K`` leaves out the first ``K`` seeds of each kind
(those whose figures have been seen), so that a figure on the next ``N`` is held out. ``--zoom K`` enlarges
every scene ``K`` times (bilinear frames, repeated labels: the same scene filmed with ``K`` times the pixels
across, as ``validate_levers.py --zoom``). bgsub's presets
``default`` and ``online`` run beside the peers (fitted on the training frames, then the test frames
scored in order). Each peer runs at its library's defaults over the training frames and then the test frames, learning
throughout, as the pipeline runs the OpenCV peers (:mod:`bgsub.peers`): BGSLibrary's SuBSENSE and PAWCS (Python wrapper
``pybgs``, optional: without it they are skipped with a notice) and OpenCV's MOG2 and KNN (1
OpenCV thread). Masks are scored on the test frames by the CDnet rules with the pipeline's own
counting (:class:`bgsub.tally.ScoreTally`, :func:`bgsub.metrics.compute_metrics`): 255 is
foreground, OpenCV's shadow value 127 is background, ground truth 170 and 85 are not counted.

The tables: F-measure per kind and method, the mean over kinds and the mean over CDnet categories
(CDnet's overall rule, with :data:`bgsub.synth.CDNET_CATEGORY`); then each method's speed (frames
per second over all the scene's frames, median over kinds) and its ratio to MOG2 measured in the
same run. The machine is shared: read ratios, not absolute speeds.

Measured 2026-12-04 (pybgs 3.3.1, OpenCV 5.1.0, shared 2-core machine at load 13-16), F-measure:

    kind          category                   seed  SuBSENSE  PAWCS   MOG2    KNN
    static        baseline                      0   0.911    0.972   0.982   0.978
    dynamic       dynamicBackground             1   0.979    0.984   1.000   0.977
    illumination  illuminationChange            2   0.546    0.947   0.856   0.888
    parked        intermittentObjectMotion      3   0.914    0.960   0.767   0.939
    departed      intermittentObjectMotion      4   0.774    0.818   0.911   0.824
    shadows       shadow                        5   0.697    0.739   0.959   0.967
    foliage       dynamicBackground             6   0.597    0.690   0.648   0.626
    jitter        cameraJitter                107   0.743    0.861   0.616   0.574
    water         dynamicBackground           108   0.454    0.707   0.535   0.578
    weather       badWeather                  109   0.588    0.805   0.778   0.793
    intermittent  intermittentObjectMotion    110   0.717    0.886   0.716   0.873
    exposure      illuminationChange          111   0.554    0.852   0.732   0.841
    mean over 7 categories                          0.710    0.851   0.808   0.826

The ``parked`` row is from a run of its own (``--kinds parked``), after its labels followed CDnet's rule
(commit 9f81ba5: the parked car is foreground while it stands; with the old labels it read 0.660, 0.725,
0.938, 0.806 and the mean 0.698, 0.840, 0.816, 0.820).

SuBSENSE and PAWCS draw from C's ``rand()``, which they do not seed: their F moves by about 0.005
with the order the kinds run in.

pybgs builds from source (``apt-get install libopencv-dev`` then ``pip install pybgs``); its
algorithms read and write ``./config/<name>.xml`` in the working directory, so this script runs them
from a temporary directory (the project's own ``config/`` is never touched).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from scipy import stats
from validate_levers import zoomed  # benchmarks/, this script's folder

from bgsub.methods import make_method
from bgsub.metrics import compute_metrics, sweep_thresholds
from bgsub.presets import apply_preset
from bgsub.scoring import score_blocks
from bgsub.synth import CDNET_CATEGORY, MAX_SEEDS, SCENES, Scene, make_scene, scene_seeds
from bgsub.tally import ScoreTally

PYBGS_METHODS = ("SuBSENSE", "PAWCS")
OPENCV_METHODS = ("MOG2", "KNN")
#: bgsub's own presets, fitted on the training frames and run over the test frames as the pipeline runs them
OUR_METHODS = {"default": "default", "online": "online"}

# A run: all frames (T, H, W, 3) uint8 RGB, training frames first -> foreground masks (T, H, W) bool
Runner = Callable[[np.ndarray, int], np.ndarray]


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Silence file descriptor 1 (BGSLibrary prints from C++ when an algorithm is made and freed)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def opencv_runner(name: str) -> Runner:
    """MOG2 or KNN through :mod:`bgsub.peers`: fit on the training frames, then score (and learn) the rest."""
    import cv2

    from bgsub.peers import OpenCVKNNMethod, OpenCVMOG2Method

    cv2.setNumThreads(1)
    cls = {"MOG2": OpenCVMOG2Method, "KNN": OpenCVKNNMethod}[name]

    def run(frames: np.ndarray, n_train: int) -> np.ndarray:
        method = cls().fit(frames[:n_train])
        test = method.foreground_scores(frames[n_train:]) > 0.5
        return np.concatenate([np.zeros((n_train, *frames.shape[1:3]), bool), test])

    return run


def pybgs_runner(name: str, workdir: Path) -> Runner:
    """SuBSENSE or PAWCS through ``pybgs``, run from ``workdir`` (its ``config/`` holds their settings)."""
    import pybgs  # optional: see main()

    def run(frames: np.ndarray, n_train: int) -> np.ndarray:
        masks = np.empty(frames.shape[:3], bool)
        cwd = os.getcwd()
        os.chdir(workdir)
        try:
            with quiet_stdout():
                algorithm = getattr(pybgs, name)()
                for t, frame in enumerate(frames):
                    out = algorithm.apply(np.ascontiguousarray(frame[..., ::-1]))  # BGR, as OpenCV reads it
                    masks[t] = (out[..., 0] if out.ndim == 3 else out) == 255
                del algorithm
        finally:
            os.chdir(cwd)
        return masks

    return run


def preset_runner(preset: str) -> Runner:
    """bgsub's preset ``preset``: fit on the training frames, score the test frames in order (score_blocks)."""
    settings = apply_preset({"preset": preset})
    kind, threshold, postprocess = settings.pop("kind"), settings.pop("threshold"), settings.pop("postprocess", None)
    settings.pop("sweep", None)

    def run(frames: np.ndarray, n_train: int) -> np.ndarray:
        method = make_method(kind, **settings).fit(frames[:n_train])
        masks = np.zeros(frames.shape[:3], bool)
        numbers = list(range(n_train, len(frames)))
        blocks = ((numbers[i : i + 64], frames[n_train + i : n_train + i + 64]) for i in range(0, len(numbers), 64))
        for block, _, block_masks in score_blocks(method, blocks, threshold=threshold, postprocess=postprocess,
                                                  need_scores=False):  # the masks alone (the same masks)
            masks[block[0] : block[-1] + 1] = block_masks
        return masks

    return run


def score(scene: Scene, masks: np.ndarray) -> dict[str, float | None]:
    """CDnet metrics of the test frames' masks, counted as the pipeline counts them."""
    numbers = range(scene.n_train + 1, len(scene.frames) + 1)  # 1-based frame numbers of the test frames
    tally = ScoreTally(sweep_thresholds(0, 1, 2), 0.5, numbers)
    test = masks[scene.n_train :]
    tally.add(numbers, test.astype(np.float32), test, lambda n: scene.labels[n - 1], None)
    tp, fp, fn, tn = (int(v) for v in tally.frame_counts()[:, 1:].sum(axis=0))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, **compute_metrics(tp, fp, fn, tn)}


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def half_width(values: list[float]) -> float | None:
    """Half-width of the 95 % Student's t interval of the mean of ``values`` (None under 2 values).

    Examples
    --------
    >>> round(half_width([0.8, 0.9, 1.0]), 4)  # t(0.975, 2) = 4.3027, sd 0.1, over sqrt(3)
    0.2484
    """
    if len(values) < 2:
        return None
    return float(stats.t.ppf(0.975, len(values) - 1) * np.std(values, ddof=1) / np.sqrt(len(values)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", default=list(SCENES), choices=SCENES, metavar="KIND")
    parser.add_argument("--methods", nargs="+", default=[*OUR_METHODS, *PYBGS_METHODS, *OPENCV_METHODS],
                        choices=[*OUR_METHODS, *PYBGS_METHODS, *OPENCV_METHODS])
    parser.add_argument("--split", choices=("validation", "test"), default="validation",
                        help="which seed of each kind; 'test' only for reporting frozen defaults (README 'Accuracy')")
    parser.add_argument("--seeds", type=int, default=1, choices=range(1, MAX_SEEDS + 1), metavar="N",
                        help="scenes per kind (bgsub.synth.scene_seeds: the declared seed, then further ones); "
                        "a kind's F is the mean over them, and the worst one is shown too")
    parser.add_argument("--skip-seeds", type=int, default=0, metavar="K",
                        help="leave out each kind's first K seeds (those already seen): the N seeds after them")
    parser.add_argument("--zoom", type=int, default=1, choices=range(1, 9), metavar="K",
                        help="enlarge every scene K times (bilinear frames, repeated labels; validate_levers.zoomed)")
    parser.add_argument("--csv", type=Path, help="also write one row per (kind, method) with counts and metrics")
    args = parser.parse_args(argv)
    try:  # scene_seeds bounds --skip-seeds (skip + N <= MAX_SEEDS); its message, as a usage error
        seeds = {k: scene_seeds(k, args.split, args.seeds, args.skip_seeds) for k in args.kinds}
    except ValueError as exc:
        parser.error(f"--skip-seeds: {exc}")

    methods = list(args.methods)
    if any(m in PYBGS_METHODS for m in methods):
        try:
            import pybgs  # noqa: F401
        except ImportError as exc:
            print(f"pybgs is not installed ({exc}); SuBSENSE and PAWCS are skipped. Install it with "
                  "`apt-get install libopencv-dev` then `pip install pybgs` (builds C++, several minutes).")
            methods = [m for m in methods if m not in PYBGS_METHODS]
    try:
        import cv2  # noqa: F401
    except ImportError as exc:
        print(f"OpenCV is not installed ({exc}); MOG2 and KNN are skipped (pip install -e '.[peers]').")
        methods = [m for m in methods if m not in OPENCV_METHODS]
    if not methods:
        print("no peer to run")
        return 1

    print(f"load average before: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_peers_") as tmp:
        (Path(tmp) / "config").mkdir()
        runners = {m: preset_runner(OUR_METHODS[m]) if m in OUR_METHODS else
                   pybgs_runner(m, Path(tmp)) if m in PYBGS_METHODS else opencv_runner(m) for m in methods}
        for kind, seed in ((k, seed) for k in args.kinds for seed in seeds[k]):
            scene = zoomed(make_scene(kind, seed=seed), args.zoom)
            t_frames, h, w = scene.frames.shape[:3]
            for name, run in runners.items():
                start = time.perf_counter()
                masks = run(scene.frames, scene.n_train)
                elapsed = time.perf_counter() - start
                metrics = score(scene, masks)
                rows.append({"kind": kind, "category": CDNET_CATEGORY[kind], "seed": seed, "size": f"{w}x{h}",
                             "method": name, "fps": t_frames / elapsed, **metrics})
                print(f"  {kind:<13} {seed:>5} {name:<9} F {fmt(metrics['f_measure'])}  precision "
                      f"{fmt(metrics['precision'])}  recall {fmt(metrics['recall'])}  {t_frames / elapsed:7.1f} fps",
                      flush=True)
    print(f"load average after: {' '.join(f'{v:.1f}' for v in os.getloadavg())}")

    def mean(values: list[float | None]) -> float | None:
        kept = [v for v in values if v is not None]
        return None if not kept else float(np.mean(kept))

    def values(kind: str, method: str, key: str) -> list[float | None]:  # one per seed
        return [r[key] for r in rows if r["kind"] == kind and r["method"] == method]

    def cell(kind: str, method: str, key: str) -> float | None:  # a kind's mean over its seeds
        return mean(values(kind, method, key))

    width = max(len(k) for k in args.kinds) + 2
    skipped = f" after the first {args.skip_seeds}" if args.skip_seeds else ""
    over = f", seed {seeds[args.kinds[0]][0]}" if args.seeds == 1 else f", mean over {args.seeds} seeds per kind"
    over += skipped
    print(f"\nF-measure on the test frames, {args.split} seeds{over} ({rows[0]['size']}, "
          f"{len(scene.frames) - scene.n_train} test frames after {scene.n_train} training frames)")
    seed_header = "seed" if args.seeds == 1 else "first"  # with several seeds the row is their mean
    print(f"{'kind':<{width}}{'category':<26}{seed_header:>5}" + "".join(f"{m:>10}" for m in methods))
    for kind in args.kinds:
        print(f"{kind:<{width}}{CDNET_CATEGORY[kind]:<26}{seeds[kind][0]:>5}"
              + "".join(f"{fmt(cell(kind, m, 'f_measure')):>10}" for m in methods))

    print(f"{'mean over kinds':<{width + 31}}"
          + "".join(f"{fmt(mean([cell(k, m, 'f_measure') for k in args.kinds])):>10}" for m in methods))
    categories = sorted({CDNET_CATEGORY[k] for k in args.kinds})
    per_category = {m: [mean([cell(k, m, "f_measure") for k in args.kinds if CDNET_CATEGORY[k] == c])
                        for c in categories] for m in methods}
    print(f"{f'mean over {len(categories)} categories':<{width + 31}}"
          + "".join(f"{fmt(mean(per_category[m])):>10}" for m in methods))

    if args.seeds > 1:
        print(f"\nworst of the {args.seeds} seeds (F-measure), how many seeds reach 0.90, and the half-width of a "
              "95 % interval of the mean F (Student's t)")
        print(f"{'kind':<{width + 31}}" + "".join(f"{m:>{18 + len(str(args.seeds))}}" for m in methods))
        for kind in args.kinds:
            f = {m: [v for v in values(kind, m, "f_measure") if v is not None] for m in methods}
            worst = {m: min(f[m], default=None) for m in methods}
            reach = {m: sum(v >= 0.90 for v in f[m]) for m in methods}
            print(f"{kind:<{width + 31}}" + "".join(
                f"{fmt(worst[m]):>8} {reach[m]:>2}/{args.seeds} {fmt(half_width(f[m])):>6}" for m in methods))

    print("\nspeed: frames per second over all frames (training and test), median over kinds; ratio to MOG2")
    fps = {m: statistics.median(r["fps"] for r in rows if r["method"] == m) for m in methods}
    for m in methods:
        ratio = f"{fps[m] / fps['MOG2']:.3f}" if "MOG2" in fps else "-"
        print(f"  {m:<9}{fps[m]:9.1f} fps   x MOG2 {ratio}")

    if args.csv:
        with open(args.csv, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
