"""The ``bgsub`` command: masks of your own video in one command.

``bgsub segment INPUT -o OUT`` fits one method (by default the tuned ``default`` preset) on the
training frames of a video file, GIF, image folder or CDnet folder, and writes for every test
frame ``OUT/masks/bin%06d.png`` (CDnet names, numbered like the input frames), plus
``OUT/background.png``, ``OUT/masks.mp4`` and ``OUT/overlay.mp4``. With ground truth (a CDnet
folder, or ``--groundtruth DIR``) it also prints the CDnet metrics and writes ``summary.csv``,
``sweep.csv``, ``frames.csv`` and ``counts.npz`` beside them, counted by the workflow's own code
(:func:`bgsub.scoring.score_blocks`, :class:`bgsub.tally.ScoreTally`, :func:`bgsub.pipeline.evaluate`),
so the numbers are the workflow's for the same frames.

Test frames are read, scored and written ``--block-size`` frames at a time and training frames
are capped at ``--max-train-frames`` (evenly subsampled), as in the workflow, so memory does not
grow with the length of the video. OUT is built in a temporary folder beside it and renamed at the
end: a failed run leaves no OUT (and an older OUT untouched).

``bgsub methods`` and ``bgsub presets`` list what ``--method`` and ``--preset`` take.
``bgsub cdnet-config ROOT -o FILE`` writes a config listing every CDnet video under ROOT with its
category, for the workflow (``make run CONFIG=FILE``).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import yaml
from numpy.typing import NDArray

from bgsub.config import Run, expand_runs
from bgsub.datasets import Sequence, find_cdnet_videos, open_sequence
from bgsub.errors import InputError
from bgsub.gmm import ALIGN_MIN_SHAKE
from bgsub.io import VIDEO_SUFFIXES, VideoWriter, atomic_write, list_images, replace_folder, write_image
from bgsub.kernels import resolve_backend
from bgsub.kernels.cache import cached_modules
from bgsub.methods import METHOD_KINDS, make_method, method_class
from bgsub.metrics import METRIC_NAMES
from bgsub.pipeline import evaluate, write_background
from bgsub.plots import overlay_frames
from bgsub.postprocess import REFERENCE_KEY, frame_filters
from bgsub.presets import DESCRIPTIONS, PRESETS, preset_settings
from bgsub.progress import Progress, format_duration
from bgsub.scoring import score_blocks
from bgsub.tally import ScoreTally

__all__ = ["main", "build_parser", "resolve_method", "parse_settings", "shake_hint", "segment", "MAX_TRAIN_FRAMES",
           "BLOCK_SIZE"]

logger = logging.getLogger(__name__)

#: As the workflow's ``max_train_frames`` and ``block_size`` (config schema defaults).
MAX_TRAIN_FRAMES = 500
BLOCK_SIZE = 64
#: Frame rate of the output videos when the input has none (image folders, CDnet).
DEFAULT_FPS = 25.0
#: Optional modules some kinds need, and the extra that installs them.
_OPTIONAL = {"opencv_mog2": ("cv2", "peers"), "opencv_knn": ("cv2", "peers")}


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument as one ``bgsub: error:`` line and exit status 1."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"bgsub: error: {message} (see {self.prog} --help)\n")
        sys.exit(1)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``bgsub`` command."""
    parser = _Parser(prog="bgsub", description="Background subtraction with per-pixel Gaussian mixtures.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    seg = sub.add_parser(
        "segment", help="masks, background and videos of one input",
        description="Fit a method on the training frames of INPUT and segment its test frames into OUT.",
    )
    seg.add_argument("input", metavar="INPUT", help="video file, GIF, folder of images or CDnet folder")
    seg.add_argument("-o", "--output", metavar="OUT", required=True, help="output folder (replaced when it exists)")
    which = seg.add_mutually_exclusive_group()
    which.add_argument(
        "--method", default="default",
        help="a preset (default, textbook, online) or a method kind at its class defaults (bgsub methods)",
    )
    which.add_argument("--preset", help="a named preset (bgsub presets)")
    split = seg.add_mutually_exclusive_group()
    split.add_argument("--train", type=int, metavar="N", help="train on frames 1-N, segment the frames after them")
    split.add_argument(
        "--train-fraction", type=float, metavar="F",
        help="train on the first F of the frames (0 < F < 1; default 0.6, CDnet: the frames before the temporal ROI)",
    )
    seg.add_argument("--threshold", type=float, metavar="T", help="mask = score > T, in the method's units")
    seg.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
        help="change one setting of the method, VALUE read as YAML (repeatable): e.g. --set align=false to leave a "
        "shaking camera's frames unaligned, --set fit_components=5 for a background of many colours (README, Accuracy)",
    )
    seg.add_argument(
        "--groundtruth", metavar="DIR",
        help="ground truth gt%%06d.png numbered like the frames (CDnet labels); a CDnet folder brings its own",
    )
    seg.add_argument("--max-train-frames", type=int, default=MAX_TRAIN_FRAMES, metavar="N",
                     help=f"training frames above N are subsampled evenly (default {MAX_TRAIN_FRAMES})")
    seg.add_argument("--block-size", type=int, default=BLOCK_SIZE, metavar="N",
                     help=f"test frames read and scored at a time (default {BLOCK_SIZE})")
    seg.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    seg.set_defaults(func=_segment_command)
    cdnet = sub.add_parser(
        "cdnet-config", help="a config listing every video of a CDnet tree",
        description="Write a config whose datasets are the CDnet videos under ROOT, each with its category, for "
        "`make run CONFIG=FILE` (the default method; results/categories.csv averages each category as CDnet does).",
    )
    cdnet.add_argument("root", metavar="ROOT",
                       help="the unpacked dataset (e.g. cdnet2014/dataset), one category's folder or one video's")
    cdnet.add_argument("-o", "--output", metavar="FILE", help="the config to write (default: print it)")
    cdnet.add_argument("--categories", metavar="A,B", default="",
                       help="only these categories, e.g. cameraJitter,dynamicBackground (folder names)")
    cdnet.set_defaults(func=_cdnet_config_command)
    sub.add_parser("methods", help="what --method takes, one line each").set_defaults(func=_methods_command)
    sub.add_parser("presets", help="what --preset takes, one line each").set_defaults(func=_presets_command)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``bgsub`` command; return its exit status (1 on bad input, one ``bgsub: error:`` line)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="bgsub: %(levelname)s: %(message)s", stream=sys.stderr)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return int(args.func(args) or 0)
    except InputError as exc:
        sys.stderr.write(f"bgsub: error: {exc}\n")
        sys.stderr.flush()
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("bgsub: interrupted; nothing written\n")
        return 130


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """A warning as one line (``bgsub: warning: ConvergenceWarning: ...``), without the source line."""
    sys.stderr.write(f"bgsub: warning: {category.__name__}: {message}\n")


# --------------------------------------------------------------------------------------------- methods


def _kind_note(kind: str) -> str:
    cls = method_class(kind) if kind not in _OPTIONAL or _has_module(_OPTIONAL[kind][0]) else None
    if cls is None:
        module, extra = _OPTIONAL[kind]
        return f"needs {module}: pip install -e '.[{extra}]'"
    doc = (cls.__doc__ or "").strip().splitlines()
    line = doc[0].rstrip(".").replace("``", "") if doc else kind
    return f"{line}; threshold {resolve_method(kind).threshold:g}"


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _methods_command(args: argparse.Namespace) -> int:
    width = max(map(len, [*PRESETS, *METHOD_KINDS]))
    for name in PRESETS:
        print(f"{name:<{width}}  preset: {DESCRIPTIONS[name]}")
    for kind in METHOD_KINDS:
        print(f"{kind:<{width}}  kind at its class defaults: {_kind_note(kind)}")
    return 0


def _cdnet_config_command(args: argparse.Namespace) -> int:
    categories = [c for c in args.categories.split(",") if c]
    videos = find_cdnet_videos(Path(args.root), categories)
    datasets = {v.name: {"path": str(v.path.absolute()), "category": v.category} for v in videos}
    n_categories = len({v.category for v in videos})
    text = (f"# bgsub cdnet-config {args.root}: {len(videos)} videos in {n_categories} categories; run them with\n"
            f"# make run CONFIG={args.output or 'THIS_FILE'} (README \"CDnet sequences\")\n"
            + yaml.safe_dump({"datasets": datasets}, sort_keys=False, width=1000))
    if args.output is None:
        sys.stdout.write(text)
        return 0
    with atomic_write(Path(args.output)) as tmp:
        tmp.write_text(text)
    print(f"bgsub: {len(videos)} videos in {n_categories} categories -> {args.output}")
    return 0


def _presets_command(args: argparse.Namespace) -> int:
    width = max(map(len, PRESETS))
    for name, settings in PRESETS.items():
        print(f"{name:<{width}}  {settings['kind']}, threshold {settings['threshold']:g}: {DESCRIPTIONS[name]}")
    return 0


def resolve_method(method: str | None = "default", preset: str | None = None, threshold: float | None = None,
                   settings: dict[str, Any] | None = None) -> Run:
    """The run that ``--method`` / ``--preset`` name: a preset's settings, or a kind at its class defaults.

    ``threshold`` replaces the run's threshold; ``settings`` (``--set``) replace or add the method's settings,
    checked as a config's method entry is.

    Examples
    --------
    >>> run = resolve_method("default")
    >>> run.kind, run.n_components, run.threshold, run.postprocess
    ('gmm', 3, 7.81, {'median': 5, 'min_area': 30, 'reference_size': 120})
    >>> resolve_method("mean").threshold
    30.0
    >>> resolve_method("default", settings={"align": True}).params["align"]
    True
    """
    if preset is not None:
        name, run_settings = preset, preset_settings(preset)
    elif method in PRESETS:
        name, run_settings = method, preset_settings(method)
    elif method in METHOD_KINDS:
        name, run_settings = method, {"kind": method}
    else:
        raise InputError(
            f"unknown method {method!r}; choose a preset ({', '.join(PRESETS)}) or a kind "
            f"({', '.join(METHOD_KINDS)}); see bgsub methods"
        )
    if name in _OPTIONAL and not _has_module(_OPTIONAL[name][0]):
        module, extra = _OPTIONAL[name]
        raise InputError(f"method {name!r} needs the Python module {module!r}: pip install -e '.[{extra}]'")
    if threshold is not None:
        run_settings["threshold"] = float(threshold)
    settings = settings or {}
    if "kind" in settings:
        raise InputError("--set kind=...: choose the method with --method")
    try:
        (run,) = expand_runs({name: run_settings | settings})
    except InputError as exc:
        if not settings:
            raise
        given = " ".join(f"{key}={value!r}" for key, value in settings.items())
        raise InputError(f"--set {given}: {str(exc).removeprefix(f'config key methods.{name}: ')}") from None
    return run


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` arguments as a dict, each VALUE read as YAML.

    Examples
    --------
    >>> parse_settings(["align=true", "fit_components=5", "postprocess={median: 3}"])
    {'align': True, 'fit_components': 5, 'postprocess': {'median': 3}}
    """
    settings: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise InputError(f"--set: expected KEY=VALUE, got {item!r}")
        try:
            settings[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise InputError(f"--set {item}: the value is not valid YAML") from None
    return settings


# --------------------------------------------------------------------------------------------- inputs


def _check_numbers(args: argparse.Namespace) -> None:
    if args.threshold is not None and not math.isfinite(args.threshold):
        raise InputError(f"--threshold: must be a finite number, got {args.threshold}")
    if args.train is not None and args.train < 1:
        raise InputError(f"--train: must be at least 1 frame, got {args.train}")
    if args.train_fraction is not None and not 0 < args.train_fraction < 1:
        raise InputError(f"--train-fraction: expected a number in (0, 1), got {args.train_fraction}")
    if args.max_train_frames < 1:
        raise InputError(f"--max-train-frames: must be at least 1, got {args.max_train_frames}")
    if args.block_size < 1:
        raise InputError(f"--block-size: must be at least 1, got {args.block_size}")


def _dataset_name(path: Path) -> str:
    name = "".join(c if c.isalnum() or c in "_-" else "_" for c in (path.stem or path.name or "input"))
    return name or "input"


def open_input(
    path: Path, *, train: int | None = None, train_fraction: float | None = None, groundtruth: Path | None = None,
) -> Sequence:
    """Open INPUT with the workflow's reader (:func:`bgsub.datasets.open_sequence`) and check it.

    ``train`` = frames 1-N train; ``train_fraction`` = the first fraction trains; neither = the
    workflow's default (CDnet: the frames before the temporal ROI; else the first 60 %).
    ``groundtruth`` = a folder of ``gt%06d.png`` labels numbered like the frames (replacing a
    CDnet folder's own).
    """
    name = _dataset_name(path)
    spec: dict[str, Any] = {"path": str(path)}
    if train is not None:
        spec["train"] = [1, int(train)]
    if train_fraction is not None:
        spec["train_fraction"] = float(train_fraction)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    try:
        sequence = open_sequence(name, spec)
    except InputError as exc:  # name the option, not a config key
        message = str(exc)
        for key, option in (("train_fraction", "--train-fraction"), ("train", "--train")):
            message = message.replace(f"config key datasets.{name}.{key}", option)
        raise InputError(message) from None
    if groundtruth is not None:
        sequence.ground_truth = read_groundtruth_folder(Path(groundtruth), sequence.source.n_frames)
        if not sequence.scored_numbers():
            first, last = sequence.test
            raise InputError(f"{groundtruth}: no ground truth for the test frames {first}-{last}")
    sequence.validate()
    if sequence.has_ground_truth:
        for number in sequence.scored_numbers()[:1]:
            sequence.labels(number)  # a label image that does not decode fails here, before any work
    return sequence


def read_groundtruth_folder(folder: Path, n_frames: int) -> dict[int, Path]:
    """Ground-truth files ``gt%06d.*`` of a folder, by frame number (CDnet names)."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (--groundtruth)")
    found: dict[int, Path] = {}
    for path in list_images(folder):
        digits = path.stem[2:]
        if path.stem.startswith("gt") and digits.isdigit():
            found[int(digits)] = path
    if not found:
        raise InputError(f"{folder}: no ground-truth images named gt%06d.png (gt000001.png = frame 1)")
    beyond = [n for n in found if not 1 <= n <= n_frames]
    if beyond:
        raise InputError(f"{found[beyond[0]]}: frame {beyond[0]} is not in the input (frames 1-{n_frames})")
    return found


def input_fps(path: Path) -> float:
    """Frame rate of a video file or GIF (for the output videos); :data:`DEFAULT_FPS` when unknown."""
    try:
        if path.suffix.lower() == ".gif":
            import imageio.v3 as iio

            duration = iio.immeta(path).get("duration")
            fps = 1000.0 / float(duration) if duration else None
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            import imageio_ffmpeg

            reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
            try:
                fps = next(reader).get("fps")
            finally:
                reader.close()
        else:
            fps = None
    except Exception:  # the rate only paces the output videos
        fps = None
    return float(fps) if fps and math.isfinite(fps) and 1 <= fps <= 240 else DEFAULT_FPS


# --------------------------------------------------------------------------------------------- outputs


@contextlib.contextmanager
def _staging(out: Path) -> Iterator[Path]:
    """A temporary folder beside ``out``, renamed onto it when the block succeeds and removed when it fails."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out}: exists and is not a folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.bgsub-tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        yield tmp
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def segment(
    input_path: Path, out: Path, run: Run, *, train: int | None = None, train_fraction: float | None = None,
    groundtruth: Path | None = None, max_train_frames: int = MAX_TRAIN_FRAMES, block_size: int = BLOCK_SIZE,
    progress: bool = True,
) -> dict[str, Any]:
    """Fit ``run`` on the training frames of ``input_path`` and segment its test frames into ``out``.

    Returns
    -------
    dict
        ``frames`` (test frames), ``first``, ``last``, ``size`` (W, H), ``seconds``, ``fps`` (test frames
        per second of the scoring loop), and ``metrics`` (the summary row as a dict; None without
        ground truth).
    """
    input_path, out = Path(input_path), Path(out)
    sequence = open_input(input_path, train=train, train_fraction=train_fraction, groundtruth=groundtruth)
    h, w, c = sequence.frame_shape
    train_numbers = sequence.train_numbers(max_train_frames)
    test_numbers = sequence.test_numbers()
    scored = sequence.scored_numbers()
    fps_out = input_fps(input_path)
    start = time.monotonic()
    with _staging(out) as tmp:
        frames = np.empty((len(train_numbers), h, w, c), np.uint8)
        with Progress(len(train_numbers), "read training frames", enabled=progress) as bar:
            i = 0
            for numbers, block in sequence.source.iter_blocks(train_numbers, block_size):
                frames[i : i + len(numbers)] = block
                i += len(numbers)
                bar.update(len(numbers))
        method = make_method(run.kind, **run.params)
        if progress:
            _note(f"fitting {_describe(run)} on {len(frames)} frames of {w}x{h}{compile_hint(run.kind)}")
        fit_start = time.monotonic()
        method.fit(frames)
        del frames
        if progress:
            _note(f"fitted in {format_duration(time.monotonic() - fit_start)}")
            for hint in (shake_hint(method), filters_note(run.postprocess, h, w)):
                if hint:
                    _note(hint)
        write_background(tmp / "background.png", method, (h, w, c))
        (tmp / "masks").mkdir()
        tally = ScoreTally(run.thresholds(), run.threshold, scored)
        score_start = time.monotonic()
        with (
            VideoWriter(tmp / "masks.mp4", fps=fps_out) as masks_video,
            VideoWriter(tmp / "overlay.mp4", fps=fps_out) as overlay_video,
            Progress(len(test_numbers), "segment", enabled=progress) as bar,
        ):
            blocks = _Remember(sequence.source.iter_blocks(test_numbers, block_size))
            for numbers, scores, masks in score_blocks(
                method, blocks, threshold=tally.threshold, postprocess=run.postprocess, need_scores=bool(scored),
                cuts=tally.sweep.thresholds,
            ):
                block = blocks.last
                images = masks.astype(np.uint8) * 255
                for number, image in zip(numbers, images):
                    write_image(tmp / "masks" / f"bin{number:06d}.png", image)
                    masks_video.write(image)
                for frame in overlay_frames(block, masks):
                    overlay_video.write(frame)
                if scored:
                    tally.add(numbers, scores, masks, sequence.labels, sequence.roi)
                bar.update(len(numbers))
        seconds = time.monotonic() - score_start
        metrics = None
        if scored:
            tally.save(tmp / "counts.npz")
            table = [{"name": run.name, "method": run.method, "n_components": run.n_components,
                      "threshold": run.threshold}]
            evaluate(_dataset_name(input_path), table, [tmp / "counts.npz"], tmp / "sweep.csv", tmp / "summary.csv",
                     tmp / "frames.csv")
            import pandas as pd

            metrics = pd.read_csv(tmp / "summary.csv").iloc[0].to_dict()
    return {
        "frames": len(test_numbers), "first": test_numbers[0], "last": test_numbers[-1], "size": (w, h),
        "scored": len(scored), "seconds": time.monotonic() - start, "fps": len(test_numbers) / max(seconds, 1e-9),
        "metrics": metrics,
    }


#: The kernels module each kind's fit compiles first (the EM's, either layout; the adaptive GMM's update).
FIT_KERNELS = {"gmm": {"em_lanes", "em_pixel"}, "gmm_background": {"em_lanes", "em_pixel"}, "online_gmm": {"online"}}


def compile_hint(kind: str) -> str:
    """A note for the fitting line when the kind's compiled kernels are not in numba's cache yet (a fresh install,
    or an update that changed them): the fit then compiles them first, minutes in which nothing else is said."""
    needed = FIT_KERNELS.get(kind)
    if not needed or resolve_backend() != "numba" or needed & cached_modules():
        return ""
    return (" (first, numba compiles its kernels: a few minutes, once per machine and version; "
            "`python -m bgsub.precompile` does it ahead)")


def shake_hint(method: Any) -> str | None:
    """A line suggesting ``--set align=true`` when a fitted method measured a camera shake it does not align.

    The shake is the method's ``camera_motion_`` (the default measures it to size its neighbourhood); from
    :data:`~bgsub.gmm.ALIGN_MIN_SHAKE` px on, ``align`` would move the frames. A background that moves over
    much of the image (swaying leaves, flicker) can read as a shake too, hence "may".

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> shake_hint(SimpleNamespace(camera_motion_=2.9, align=False))
    'the training frames move by 2.9 px, as a shaking camera does: --set align=true may help (README, Accuracy)'
    >>> shake_hint(SimpleNamespace(camera_motion_=0.3, align=False)) is None
    True
    """
    motion = getattr(method, "camera_motion_", None)
    if motion is None or motion < ALIGN_MIN_SHAKE or getattr(method, "align", False):
        return None
    return (f"the training frames move by {motion:.1f} px, as a shaking camera does: --set align=true may help "
            "(README, Accuracy)")


def filters_note(postprocess: dict[str, Any], height: int, width: int) -> str | None:
    """A line naming the mask filters a run applies when its ``reference_size`` grew them for the frame's size
    (:func:`bgsub.postprocess.frame_filters`; the default preset's are given at 160x120).

    Examples
    --------
    >>> filters_note({"median": 5, "min_area": 30, "reference_size": 120}, 480, 640)
    'mask filters for 640x480 frames: a 17x17 median, blobs under 480 pixels removed (given at a shorter side of 120 \
px, grown with the frame: README, Configuration)'
    >>> filters_note({"median": 5, "min_area": 30, "reference_size": 120}, 120, 160) is None
    True
    >>> filters_note({"median": 5, "min_area": 30}, 480, 640) is None
    True
    """
    reference = int(postprocess.get(REFERENCE_KEY, 0) or 0)
    if not reference or min(height, width) <= reference:
        return None
    wording = {"median": "a {0}x{0} median", "opening": "an opening of {0}x{0}", "closing": "a closing of {0}x{0}",
               "min_area": "blobs under {0} pixels removed"}
    sized = ", ".join(wording[key].format(size) for key, size in frame_filters(postprocess, height, width).items())
    return (f"mask filters for {width}x{height} frames: {sized} (given at a shorter side of {reference} px, grown "
            "with the frame: README, Configuration)")


class _Remember:
    """Iterate over blocks of frames keeping the last one (:func:`score_blocks` scores a block, then yields it)."""

    def __init__(self, blocks: Iterator[tuple[list[int], NDArray]]) -> None:
        self.blocks = blocks
        self.last: NDArray | None = None

    def __iter__(self) -> Iterator[tuple[list[int], NDArray]]:
        for numbers, block in self.blocks:
            self.last = block
            yield numbers, block


def _describe(run: Run, settings: dict[str, Any] | None = None) -> str:
    k = f", K={run.n_components}" if run.n_components is not None else ""
    changed = "".join(f", {key}={value}" for key, value in (settings or {}).items() if key != "threshold")
    return f"{run.method} ({run.kind}{k}{changed}, threshold {run.threshold:g})"


def _note(text: str) -> None:
    sys.stderr.write(f"bgsub: {text}\n")
    sys.stderr.flush()


def _segment_command(args: argparse.Namespace) -> int:
    _check_numbers(args)
    settings = parse_settings(args.settings)
    run = resolve_method(args.method, args.preset, args.threshold, settings)
    result = segment(
        Path(args.input), Path(args.output), run, train=args.train, train_fraction=args.train_fraction,
        groundtruth=None if args.groundtruth is None else Path(args.groundtruth),
        max_train_frames=args.max_train_frames, block_size=args.block_size, progress=not args.quiet,
    )
    w, h = result["size"]
    print(
        f"bgsub: {result['frames']} frames ({result['first']}-{result['last']}) of {w}x{h} segmented with "
        f"{_describe(run, settings)} in {format_duration(result['seconds'])} ({result['fps']:.1f} fps) -> {args.output}"
    )
    metrics = result["metrics"]
    if metrics is not None:
        values = "  ".join(f"{name} {_fmt(metrics[name])}" for name in METRIC_NAMES)
        print(f"bgsub: CDnet metrics on {result['scored']} scored frames: {values}  "
              f"(tp {metrics['tp']} fp {metrics['fp']} fn {metrics['fn']} tn {metrics['tn']})")
    return 0


def _fmt(value: Any) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"
