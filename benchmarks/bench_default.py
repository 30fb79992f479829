"""The default method (``bgsub.presets.PRESETS["default"]``) end to end, beside OpenCV MOG2, per stage.

Run from the project root::

    .venv/bin/python benchmarks/bench_default.py [--repeats 5] [--train-step 4] [--frames 200] [--sizes 240x320,480x640]

Frames: CDnet highway (``../shared/data/highway``), the default fitted on training frames 1-469
(every ``--train-step``-th) and scored on frames 900-1099 (``--frames``), at its own 240x320 and
resized to 480x640 (bilinear, the same frames upscaled; fitted again at that size).

1. End to end, frames per second: the default method's ``foreground_scores`` then its
   post-processing (``postprocess_cut_scores``: its median and area opening at the frame's size, on the scores' levels
   between the sweep's thresholds) then the threshold, a block of 64 frames at a time as ``bgsub.scoring.score_blocks``
   does for a run with ground truth; and the masks alone (``masks``:
   ``score_blocks(need_scores=False)``, the binary filters of the thresholded scores, the same masks);
   the numpy reference path (``BGSUB_BACKEND=numpy``) and the compiled one (``numba``), each on 1 thread
   and on all cores;
   OpenCV MOG2 ``apply`` (500, 16, shadows) on the same frames, 1 thread and all cores. The
   columns of a row are measured in turns (one run of each per repeat) and each figure is the median
   of the repeats; ratios are between figures of this run at equal thread counts.
2. Per stage (1 thread, milliseconds per frame, medians of repeats in turns): gain compensation,
   distances to the background components (own pixel only), the gated spatial context, the shadow
   test, the texture test, the selective update, the median filter and the area opening of the scores' levels (and,
   for comparison, of the float scores, as a run with ground truth filtered them before the levels); then the
   score job's other stages: JPEG decode of the frames, ground-truth decode, sweep histograms and
   confusion counts (``bgsub.tally.ScoreTally.add``), PNG encode of the masks (``bgsub.io.write_image``).
3. With ``--lever-costs``: the masks alone on 1 thread, of the default and of the default with one lever
   switched off (ghost absorption, the shadow and highlight test, highlights, the mixture texture test),
   each fitted on its own, in turns; the difference of medians is the lever's cost.

The machine is shared (2 cores, several users): compare ratios, not absolute numbers; the load
average is printed at the start and the end.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numba  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from bgsub import spatial  # noqa: E402
from bgsub.datasets import open_sequence  # noqa: E402
from bgsub.io import read_image, write_image  # noqa: E402
from bgsub.kernels.spatial import adapt_means, score_frame  # noqa: E402
from bgsub.methods import make_method  # noqa: E402
from bgsub.metrics import sweep_thresholds  # noqa: E402
from bgsub.postprocess import (  # noqa: E402
    area_opening,
    frame_filters,
    postprocess_cut_scores,
    postprocess_masks,
    postprocess_scores,
)
from bgsub.presets import preset_settings  # noqa: E402
from bgsub.tally import ScoreTally  # noqa: E402

ALL = numba.config.NUMBA_NUM_THREADS
HIGHWAY = ROOT.parent / "shared" / "data" / "highway"
if not HIGHWAY.exists():
    HIGHWAY = Path("/work/shared/data/highway")
BLOCK = 64


def load_highway(train_step: int, first: int, n_frames: int) -> dict[str, Any]:
    seq = open_sequence("highway", {"path": str(HIGHWAY)})
    train = seq.source.read(list(range(1, 470, train_step)))
    numbers = list(range(first, first + n_frames))
    test = seq.source.read(numbers)
    labels = np.stack([seq.labels(n) for n in numbers])
    paths = [seq.source.files[n - 1] for n in numbers] if hasattr(seq.source, "files") else None
    gt_paths = [seq.ground_truth[n] for n in numbers]
    return {"train": train, "test": test, "labels": labels, "roi": seq.roi, "numbers": numbers,
            "paths": paths, "gt_paths": gt_paths}


def resize(frames: np.ndarray, h: int, w: int, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=interpolation) for f in frames])


def default_method(**overrides: Any) -> tuple[Any, dict[str, Any], float, np.ndarray]:
    """The ``default`` preset's method (with ``overrides`` of its settings), post-processing, threshold and the
    thresholds of its sweep (the threshold among them)."""
    settings = preset_settings("default") | overrides
    kind = settings.pop("kind")
    post = settings.pop("postprocess")
    threshold = settings.pop("threshold")
    cuts = sweep_thresholds(*settings.pop("sweep"), threshold)
    return make_method(kind, **settings), post, threshold, cuts


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each run over ``repeats`` turns (after a warm-up turn), runs taking turns;
    the medians of the process's CPU seconds go to ``CPU`` (the machine is shared: CPU time shows the work
    when other users' jobs stretch the wall time)."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for run in runs.values():
        run()
    for _ in range(repeats):
        for name, run in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    CPU.clear()
    CPU.update({name: statistics.median(t) for name, t in cpu.items()})
    TURNS.clear()
    TURNS.update({name: (times[name], cpu[name]) for name in runs})
    return {name: statistics.median(t) for name, t in times.items()}


CPU: dict[str, float] = {}
#: each run's wall and CPU seconds turn by turn, from the last :func:`interleaved`
TURNS: dict[str, tuple[list[float], list[float]]] = {}


def paired(run: str, reference: str) -> tuple[float, float]:
    """Median over the last :func:`interleaved`'s turns of ``reference``'s time over ``run``'s within a turn (wall,
    CPU): ``run``'s speed as a fraction of ``reference``'s, robust to a burst of load that slows a whole turn."""
    return tuple(statistics.median(r / x for x, r in zip(TURNS[run][i], TURNS[reference][i]))  # type: ignore[return-value]
                 for i in (0, 1))


def one_thread(runs: dict[str, Callable[[], object]], repeats: int) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`interleaved` with numba and BLAS on one thread (all threads again after): wall and CPU medians."""
    numba.set_num_threads(1)
    with threadpool_limits(limits=1):
        sec = interleaved(runs, repeats)
    numba.set_num_threads(ALL)
    return sec, dict(CPU)


def set_backend(backend: str) -> None:
    os.environ["BGSUB_BACKEND"] = backend


class Default:
    """The fitted default method (with ``overrides`` of its settings) on one frame size, restartable from its
    fitted state."""

    def __init__(self, train: np.ndarray, **overrides: Any) -> None:
        self.method, self.post, self.threshold, self.cuts = default_method(**overrides)
        with threadpool_limits(limits=1):
            numba.set_num_threads(ALL)
            start = time.perf_counter()
            self.method.fit(train)
            self.fit_seconds = time.perf_counter() - start
        self.method.foreground_scores(train[:1])  # builds the scoring model
        self.scoring = copy.deepcopy(self.method._scoring)

    def restart(self) -> None:
        self.method._scoring = copy.deepcopy(self.scoring)
        self.method._ghost = None  # the ghost detector's state too

    def end_to_end(self, frames: np.ndarray, backend: str, threads: int) -> None:
        set_backend(backend)
        numba.set_num_threads(threads)
        self.restart()
        for start in range(0, len(frames), BLOCK):
            scores = self.method.foreground_scores(frames[start : start + BLOCK])
            scores = postprocess_cut_scores(scores, self.cuts, self.post)
            _ = scores > np.float32(self.threshold)

    def masks_only(self, frames: np.ndarray, threads: int) -> None:
        """The masks without filtered scores (no ground truth, the command line): compiled scores, then the
        binary filters of the thresholded scores (``score_blocks(need_scores=False)``)."""
        set_backend("numba")
        numba.set_num_threads(threads)
        self.restart()
        for start in range(0, len(frames), BLOCK):
            scores = self.method.foreground_scores(frames[start : start + BLOCK])
            _ = postprocess_masks(scores, self.threshold, self.post)


def mog2(frames: np.ndarray, threads: int) -> None:
    cv2.setNumThreads(threads)
    model = cv2.createBackgroundSubtractorMOG2(500, 16, True)
    for frame in frames:
        model.apply(frame)


def end_to_end_table(sizes: dict[str, dict[str, Any]], repeats: int, skip_numpy: bool = False) -> None:
    print(f"== 1. end to end, frames per second (medians of {repeats}, columns in turns); default = scores +"
          " post-processing + threshold, blocks of 64 frames")
    print(f"   {'size':>8} {'T':>4} {'MOG2 1':>8} {'MOG2 all':>9} {'numpy 1':>8} {'numpy all':>9} {'nb 1':>8}"
          f" {'nb all':>8} {'numpy1/MOG2':>12} {'nb1/MOG2':>9} {'nball/MOG2all':>14}")
    cv_threads = cv2.getNumThreads()
    for name, case in sizes.items():
        frames, model = case["test"], case["model"]
        runs: dict[str, Callable[[], object]] = {
            "MOG2 1": lambda f=frames: mog2(f, 1), "MOG2 all": lambda f=frames: mog2(f, ALL),
            "numpy 1": lambda f=frames, m=model: m.end_to_end(f, "numpy", 1),
            "numpy all": lambda f=frames, m=model: m.end_to_end(f, "numpy", ALL),
            "nb 1": lambda f=frames, m=model: m.end_to_end(f, "numba", 1),
            "nb all": lambda f=frames, m=model: m.end_to_end(f, "numba", ALL),
            "masks 1": lambda f=frames, m=model: m.masks_only(f, 1),
            "masks all": lambda f=frames, m=model: m.masks_only(f, ALL),
        }
        if skip_numpy:
            del runs["numpy 1"], runs["numpy all"]
        with threadpool_limits(limits=1):
            sec = interleaved(runs, repeats)
        cpu = dict(CPU)
        cv2.setNumThreads(cv_threads)
        numba.set_num_threads(ALL)
        fps = {k: len(frames) / v for k, v in sec.items()}
        fps.setdefault("numpy 1", float("nan"))
        fps.setdefault("numpy all", float("nan"))
        print(f"   {name:>8} {len(frames):4d} {fps['MOG2 1']:8.1f} {fps['MOG2 all']:9.1f} {fps['numpy 1']:8.1f}"
              f" {fps['numpy all']:9.1f} {fps['nb 1']:8.1f} {fps['nb all']:8.1f}"
              f" {fps['numpy 1'] / fps['MOG2 1']:11.3f}x {fps['nb 1'] / fps['MOG2 1']:8.3f}x"
              f" {fps['nb all'] / fps['MOG2 all']:13.3f}x")
        print(f"   {'':8} masks only (compiled, binary filters of the thresholded scores; what a video without"
              f" ground truth and `bgsub segment` run): 1 thread {fps['masks 1']:.1f} fps ="
              f" {fps['masks 1'] / fps['MOG2 1']:.3f}x MOG2; all {fps['masks all']:.1f} fps ="
              f" {fps['masks all'] / fps['MOG2 all']:.3f}x")
        wall, cpu_ratio = paired("masks 1", "MOG2 1")
        print(f"   {'':8} paired (median over the {repeats} turns of the ratio within a turn), masks only, 1 thread:"
              f" {wall:.3f}x MOG2 (CPU time {cpu_ratio:.3f}x)")
        print(f"   {'':8} CPU-time fps, 1 thread: MOG2 {len(frames) / cpu['MOG2 1']:.1f}, default compiled"
              f" {len(frames) / cpu['nb 1']:.1f}: {cpu['MOG2 1'] / cpu['nb 1']:.3f}x"
              + ("" if skip_numpy else f"; numpy path {len(frames) / cpu['numpy 1']:.1f}:"
                 f" {cpu['MOG2 1'] / cpu['numpy 1']:.3f}x"))
    print("   goal: nb 1 thread >= 0.3x MOG2 1 thread at 240x320 (nb = scores + filtered scores, what a run with"
          " ground truth needs for its sweep; masks only = the masks alone, as MOG2 gives)")


def filter_sizes(model: Default, height: int, width: int) -> tuple[int, int]:
    """The default's median width and ``min_area`` at this frame size (:func:`bgsub.postprocess.frame_filters`)."""
    sized = frame_filters(model.post, height, width)
    return sized.get("median", 1), sized.get("min_area", 0)


def reference_stages(case: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """The numpy reference path cut into its stages (each a run over all test frames)."""
    model: Default = case["model"]
    meth = model.method
    frames = case["test"]
    sm = model.scoring
    h, w = frames.shape[1:3]
    gate = meth._spatial_gate()
    gate = np.ones((h, w), bool) if gate is None else gate
    no_gate = np.zeros((h, w), bool)
    out = np.empty((h, w), np.float32)
    own = np.empty((h, w), np.float32)
    own_k = np.empty((h, w), np.int64)
    shadow = np.empty((h, w), bool)
    f32 = frames.astype(np.float32)
    bg = sm.background_image()
    var = np.take_along_axis(sm.mean_var, sm.first[..., None], axis=2)[..., 0]
    scores = np.stack([postprocess_scores(meth_scores, {}) for meth_scores in [np.zeros((1, h, w), np.float32)]])
    del scores
    set_backend("numpy")
    model.restart()
    raw = np.concatenate([meth.foreground_scores(frames[s : s + BLOCK]) for s in range(0, len(frames), BLOCK)])
    size, min_area = filter_sizes(model, h, w)
    med = postprocess_scores(raw, {"median": size})
    cand = shadow.copy()

    def kernel(g: np.ndarray, tau: float) -> None:
        for f in f32:
            score_frame(f, sm.means, sm.whiten, sm.mean_var, sm.is_background, 1, g, tau, 1.0, 16.0, False, out, own,
                        own_k, shadow)

    def texture() -> None:
        for f in f32:
            spatial._texture_preserved(f, sm.background_image(), var, cand, 3, 1.0)

    def update() -> None:
        means = sm.means.copy()
        for f in f32:
            adapt_means(f, means, own, own_k, 7.81, 0.01)

    def gains() -> None:
        for f in frames:
            spatial._compensated(f, sm, True)

    cand[:] = False
    cand[::3, ::3] = True  # about as many candidates as the frames have (their count hardly matters)
    _ = bg
    return {
        "gain compensation": gains,
        "distances (own pixel)": lambda: kernel(no_gate, 0.0),
        "+ gated spatial context": lambda: kernel(gate, 0.0),
        "+ shadow test": lambda: kernel(gate, 0.5),
        "texture test": texture,
        "selective update": update,
        f"median {size}x{size}": lambda: postprocess_scores(raw, {"median": size}),
        f"area opening {min_area}": lambda: area_opening(med, min_area),
    }


def compiled_stages(case: dict[str, Any]) -> dict[str, Callable[[], object]]:
    """The compiled path: its scoring kernel with levers switched off one by one (differences = their cost)."""
    from bgsub.kernels import area, binary, default_path, levels, median

    model: Default = case["model"]
    meth = model.method
    frames = case["test"]
    sm = model.scoring
    # the default's settings, read off the fitted method (as GMMMethod.foreground_scores passes them)
    full = {"radius": meth.spatial_radius_, "spatial_gate": meth._spatial_gate(), "gain": meth.gain_compensation,
            "shadow_tau": meth.shadow_tau, "shadow_var_threshold": meth.shadow_var_threshold,
            "shadow_max": meth.shadow_max, "shadow_texture": meth.shadow_texture,
            "shadow_texture_masked": meth.shadow_texture_masked,
            "shadow_texture_mixture": meth.shadow_texture_mixture, "shadow_window": 3,
            "shadow_min_score": meth.dynamics_threshold, "score_scale": meth._score_scale(),
            "learning_rate": meth.learning_rate, "update_threshold": meth.update_threshold,
            "gain_clip": meth.gain_clip, "gain_saturate": meth.gain_saturate}

    def score(**off: Any) -> None:
        means = sm.means.copy()
        for s in range(0, len(frames), BLOCK):
            default_path.score_frames(frames[s : s + BLOCK], means, sm.whiten, sm.mean_var, sm.is_background,
                                      sm.first, rows=sm.row_layout(), **{**full, **off})

    set_backend("numba")
    model.restart()
    raw = np.concatenate([meth.foreground_scores(frames[s : s + BLOCK]) for s in range(0, len(frames), BLOCK)])
    size, min_area = filter_sizes(model, *raw.shape[1:])
    med = median.median_filter(raw, size)
    raw_levels = levels.score_levels(raw, model.cuts)
    med_levels = levels.median_levels(raw_levels, size)
    return {
        "distances (own pixel)": lambda: score(radius=0, gain=False, shadow_tau=None, learning_rate=0.0),
        "+ gated spatial context": lambda: score(gain=False, shadow_tau=None, learning_rate=0.0),
        "+ shadow and texture tests": lambda: score(gain=False, learning_rate=0.0),
        "+ selective update": lambda: score(gain=False),
        "+ gain compensation = all": lambda: score(),
        f"scores' levels ({len(model.cuts)} thresholds of the sweep)": lambda: levels.score_levels(raw, model.cuts),
        f"median {size}x{size} of the levels": lambda: levels.median_levels(raw_levels, size),
        f"area opening {min_area} of the levels": lambda: area.area_open_levels(med_levels, min_area),
        f"(float scores) median {size}x{size}": lambda: median.median_filter(raw, size),
        f"(float scores) area opening {min_area}": lambda: area.area_open(med, min_area),
        f"masks only: threshold, binary median {size}x{size}, binary area opening {min_area}":
            lambda: binary.filtered_masks(raw, model.threshold, size, min_area),
    }


def pipeline_stages(case: dict[str, Any], tmp: Path) -> dict[str, Callable[[], object]]:
    frames = case["test"]
    masks = frames[..., 0] > 128
    scores = frames[..., 0].astype(np.float32) / 6.0
    numbers = case["numbers"]
    labels = {n: lab for n, lab in zip(numbers, case["labels"])}
    thresholds = np.linspace(0, 40, 81)
    stages: dict[str, Callable[[], object]] = {}
    if case.get("paths"):
        stages["decode JPEG frames"] = lambda: [read_image(p) for p in case["paths"]]
        from bgsub.io import read_labels

        stages["decode ground truth"] = lambda: [read_labels(p) for p in case["gt_paths"]]

    def tally() -> None:
        t = ScoreTally(thresholds, 7.81, numbers)
        t.add(numbers, scores, masks, labels.__getitem__, case["roi"])

    def encode() -> None:
        for n, m in zip(numbers, masks):
            write_image(tmp / f"bin{n:06d}.png", m.astype(np.uint8) * 255)

    def encode_fast() -> None:  # the same pixels, other bytes: zlib level 1 instead of Pillow's default (6)
        import imageio.v3 as iio

        for n, m in zip(numbers, masks):
            iio.imwrite(tmp / f"fast{n:06d}.png", m.astype(np.uint8) * 255, extension=".png", compress_level=1)

    def decode_threads() -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(ALL) as pool:
            list(pool.map(read_image, case["paths"]))

    stages["histograms + counts"] = tally
    stages["PNG encode + write"] = encode
    stages["PNG encode + write, compress_level=1"] = encode_fast
    if case.get("paths"):
        stages[f"decode JPEG frames, {ALL} threads"] = decode_threads
    return stages


def stage_table(sizes: dict[str, dict[str, Any]], repeats: int, skip_numpy: bool = False) -> None:
    print()
    print(f"== 2. per stage, 1 thread, ms per frame (medians of {repeats}, stages in turns)")
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, case in sizes.items():
            n = len(case["test"])
            numba.set_num_threads(1)
            rows: dict[str, Callable[[], object]] = {}
            if not skip_numpy:
                rows.update({f"numpy: {k}": v for k, v in reference_stages(case).items()})
            rows.update({f"compiled: {k}": v for k, v in compiled_stages(case).items()})
            rows.update({f"job: {k}": v for k, v in pipeline_stages(case, Path(tmpdir)).items()})
            sec, cpu = one_thread(rows, repeats)
            print(f"   {name} ({n} frames)                        wall ms    CPU ms")
            for k, v in sec.items():
                print(f"     {k:40} {1e3 * v / n:8.3f} {1e3 * cpu[k] / n:8.3f}")


#: ``--lever-costs``: the default's levers whose cost shows in its masks, each switched off alone.
LEVERS_OFF: dict[str, dict[str, Any]] = {
    "ghost absorption": {"ghost_frames": None},
    "shadow and highlight test": {"shadow_tau": None},
    "highlights (shadow_max 1)": {"shadow_max": 1.0},
    "mixture texture test": {"shadow_texture_mixture": False},
    "grown mask filters (5x5, 30 px at every size)": {"postprocess": {"median": 5, "min_area": 30}},
}


def lever_cost_table(sizes: dict[str, dict[str, Any]], repeats: int) -> None:
    """Masks only, 1 thread, the default and the default with each of :data:`LEVERS_OFF` switched off, in turns."""
    print()
    print(f"== 3. what each lever costs the masks, 1 thread, ms per frame (medians of {repeats}, in turns)")
    for name, case in sizes.items():
        n = len(case["test"])
        models = {"default": case["model"]}
        models.update({f"without {lever}": Default(case["train"], **off) for lever, off in LEVERS_OFF.items()})
        test = case["test"]
        runs = {label: (lambda d=d, test=test: d.masks_only(test, 1)) for label, d in models.items()}
        sec, cpu = one_thread(runs, repeats)
        print(f"   {name} ({n} frames)                    wall ms    CPU ms   the lever's cost (wall)")
        for label, v in sec.items():
            cost = "" if label == "default" else f"{1e3 * (sec['default'] - v) / n:+8.3f}"
            print(f"     {label:38} {1e3 * v / n:8.3f} {1e3 * cpu[label] / n:8.3f}   {cost}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-step", type=int, default=4, help="fit on every n-th of training frames 1-469")
    parser.add_argument("--first", type=int, default=900, help="first test frame")
    parser.add_argument("--frames", type=int, default=200, help="test frames")
    parser.add_argument("--sizes", default="240x320,480x640")
    parser.add_argument("--no-stages", action="store_true")
    parser.add_argument("--no-numpy", action="store_true", help="skip the (slow) numpy reference path")
    parser.add_argument("--lever-costs", action="store_true",
                        help="also: the masks with each lever switched off alone (section 3)")
    args = parser.parse_args()
    print(f"numpy {np.__version__}, numba {numba.__version__}, OpenCV {cv2.__version__}, {ALL} cores,"
          f" load average {os.getloadavg()}")
    data = load_highway(args.train_step, args.first, args.frames)
    sizes: dict[str, dict[str, Any]] = {}
    for size in args.sizes.split(","):
        h, w = (int(v) for v in size.split("x"))
        case = {**data, "train": resize(data["train"], h, w), "test": resize(data["test"], h, w)}
        if (h, w) != data["test"].shape[1:3]:
            case["labels"] = resize(data["labels"][..., None], h, w, cv2.INTER_NEAREST).reshape(-1, h, w)
            case["roi"] = None if data["roi"] is None else resize(
                data["roi"][None, ..., None].astype(np.uint8), h, w, cv2.INTER_NEAREST).reshape(h, w).astype(bool)
            case["paths"] = None
        case["model"] = Default(case["train"])
        print(f"   {size}: fitted on {len(case['train'])} frames in {case['model'].fit_seconds:.1f} s ({ALL} threads)")
        sizes[size] = case
    end_to_end_table(sizes, args.repeats, args.no_numpy)
    if not args.no_stages:
        stage_table(sizes, args.repeats, args.no_numpy)
    if args.lever_costs:
        lever_cost_table(sizes, args.repeats)
    print(f"load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
