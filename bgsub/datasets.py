"""Sequences: frames, ground truth, ROI and the train/test split.

Three kinds of input give a :class:`Sequence`:

- a CDnet 2014 folder (``input/in%06d.jpg|png``, ``groundtruth/gt%06d.png``,
  ``temporalROI.txt``, optional ``ROI.bmp``); synthetic scenes are written in
  this layout too;
- a folder of images (sorted by name), no ground truth;
- a video file or animated GIF, no ground truth.

Frame numbers are 1-based and ranges inclusive, as in CDnet.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator
from collections.abc import Sequence as SequenceABC
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from bgsub.errors import InputError
from bgsub.io import (
    VIDEO_SUFFIXES,
    conversion_note,
    decode_image,
    image_size,
    iter_video,
    list_images,
    read_image,
    read_labels,
    to_uint8_frame,
    video_length_hint,
)

__all__ = [
    "FrameSource",
    "ImageFolderSource",
    "VideoSource",
    "Sequence",
    "open_sequence",
    "is_cdnet_folder",
    "CDnetVideo",
    "find_cdnet_videos",
    "DEFAULT_TRAIN_FRACTION",
]

logger = logging.getLogger(__name__)

DEFAULT_TRAIN_FRACTION = 0.6  # the seed's protocol: first 60 % of a plain clip trains


class FrameSource:
    """Random and streaming access to the frames of one sequence.

    Attributes
    ----------
    n_frames : int
    frame_shape : tuple of int
        ``(H, W, C)`` of every frame.
    """

    n_frames: int
    frame_shape: tuple[int, int, int]
    description: str

    def read(self, numbers: SequenceABC[int]) -> NDArray[np.uint8]:
        """Return frames ``(len(numbers), H, W, C)`` uint8 for 1-based frame numbers, in the order given."""
        numbers = list(numbers)
        self._check_numbers(numbers)
        out = np.empty((len(numbers), *self.frame_shape), np.uint8)
        positions: dict[int, list[int]] = {}
        for i, n in enumerate(numbers):
            positions.setdefault(n, []).append(i)
        wanted = sorted(positions)
        delivered = 0
        for n, frame in self._iter(wanted):
            out[positions[n]] = frame
            delivered += 1
        self._check_delivered(wanted, delivered)
        return out

    def iter_blocks(
        self, numbers: SequenceABC[int], block_size: int = 64
    ) -> Iterator[tuple[list[int], NDArray[np.uint8]]]:
        """Yield ``(frame numbers, frames (B, H, W, C))`` in increasing frame order, ``B <= block_size``."""
        wanted = sorted(set(numbers))
        self._check_numbers(wanted)
        block_numbers: list[int] = []
        block = np.empty((block_size, *self.frame_shape), np.uint8)
        delivered = 0
        for n, frame in self._iter(wanted):
            delivered += 1
            block[len(block_numbers)] = frame
            block_numbers.append(n)
            if len(block_numbers) == block_size:
                yield block_numbers, block[: len(block_numbers)].copy()
                block_numbers = []
        self._check_delivered(wanted, delivered)
        if block_numbers:
            yield block_numbers, block[: len(block_numbers)].copy()

    def _check_numbers(self, numbers: SequenceABC[int]) -> None:
        bad = [n for n in numbers if not 1 <= n <= self.n_frames]
        if bad:
            raise InputError(f"{self.description}: frame {bad[0]} asked for, but frames are 1-{self.n_frames}")

    def _check_delivered(self, wanted: list[int], delivered: int) -> None:
        if delivered != len(wanted):  # the file changed or ended early since it was opened
            raise InputError(
                f"{self.description}: ended before frame {wanted[delivered]} (expected {self.n_frames} frames); "
                "the file is truncated or changed since it was opened"
            )

    def _iter(self, numbers: list[int]) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        raise NotImplementedError

    def _check_frame(self, frame: NDArray[np.uint8], where: object) -> NDArray[np.uint8]:
        if frame.shape != self.frame_shape:
            h, w, c = self.frame_shape
            raise InputError(
                f"{where} is {frame.shape[1]}x{frame.shape[0]} with {frame.shape[2]} channel(s), "
                f"expected {w}x{h} with {c} like the first frame of {self.description}"
            )
        return frame


class ImageFolderSource(FrameSource):
    """Frames stored as one image file each."""

    def __init__(self, files: list[Path], description: str):
        if not files:
            raise InputError(f"{description}: no image files found")
        self.files = files
        self.description = description
        self.n_frames = len(files)
        raw = decode_image(files[0])
        if note := conversion_note(raw):
            logger.info("%s: %s (as in %s)", description, note, files[0].name)
        self.frame_shape = to_uint8_frame(raw, files[0]).shape  # type: ignore[assignment]

    def check_sizes(self) -> None:
        """Check that every file has the size of the first, reading headers only."""
        h, w, _ = self.frame_shape
        for path in self.files[1:]:
            size = image_size(path)
            if size != (h, w):
                raise InputError(f"{path} is {size[1]}x{size[0]}, expected {w}x{h} like {self.files[0].name}")

    def _iter(self, numbers: list[int]) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        for n in numbers:
            path = self.files[n - 1]
            yield n, self._check_frame(read_image(path), path)


class VideoSource(FrameSource):
    """Frames decoded from a video file or animated GIF, streamed in order.

    Opening decodes the file once to count its frames and check their sizes, so
    a truncated or corrupt file is reported before any result is written. A
    video that decodes to clearly fewer frames than its header promises is
    refused. When ``n_frames`` and ``frame_shape`` are already known (from the
    split, which counted them), the counting pass is skipped; frames are still
    checked as they are read.

    Parameters
    ----------
    path : Path
    n_frames : int, optional
    frame_shape : tuple of int, optional
        ``(H, W, C)``; give both or neither.
    """

    #: decoded frames may fall short of the header's duration x fps by this fraction (rounding, VFR) ...
    LENGTH_TOLERANCE = 0.02
    #: ... or by this many frames, whichever is larger
    LENGTH_SLACK = 2

    def __init__(
        self, path: Path, *, n_frames: int | None = None, frame_shape: tuple[int, int, int] | None = None
    ):
        self.path = Path(path)
        self.description = str(path)
        if n_frames is not None and frame_shape is not None:
            if not self.path.exists():
                raise InputError(f"{self.path}: file not found")
            self.n_frames, self.frame_shape = int(n_frames), tuple(frame_shape)  # type: ignore[assignment]
            return
        n = 0
        shape = None
        for frame in iter_video(self.path):
            if shape is None:
                shape = frame.shape
                self.frame_shape = shape
            self._check_frame(frame, f"{self.path} frame {n + 1}")
            n += 1
        if n == 0 or shape is None:
            raise InputError(f"{self.path}: video has no frames")
        expected = video_length_hint(self.path)
        if expected is not None and expected - n > max(self.LENGTH_SLACK, self.LENGTH_TOLERANCE * expected):
            raise InputError(
                f"{self.path}: only {n} frames decode but the header promises about {expected}; "
                "the file looks truncated or corrupt"
            )
        self.n_frames = n

    def _iter(self, numbers: list[int]) -> Iterator[tuple[int, NDArray[np.uint8]]]:
        wanted = iter(numbers)
        target = next(wanted, None)
        if target is None:
            return
        with closing(iter_video(self.path)) as frames:
            for i, frame in enumerate(frames, start=1):
                if i == target:
                    yield i, self._check_frame(frame, f"{self.path} frame {i}")
                    target = next(wanted, None)
                    if target is None:
                        return


@dataclass
class Sequence:
    """One sequence with its split and (optional) ground truth.

    Attributes
    ----------
    name : str
    source : FrameSource
    train, test : tuple of int
        1-based inclusive frame ranges.
    ground_truth : dict of int to Path
        Ground-truth label image of each frame that has one (empty without ground truth).
    temporal_roi : tuple of int or None
        Frames that may be scored (CDnet ``temporalROI.txt``).
    roi : ndarray of shape (H, W), bool, or None
        Pixels that are scored (CDnet ``ROI.bmp``); None = every pixel.
    score : tuple of int or None
        Frames that are scored (config key ``score``), further restricting the test range and
        the temporal ROI; None = no restriction. Lets an adaptive method run through frames
        that are not counted (e.g. run 470-1700, score 900-1700).
    """

    name: str
    source: FrameSource
    train: tuple[int, int]
    test: tuple[int, int]
    ground_truth: dict[int, Path] = field(default_factory=dict)
    temporal_roi: tuple[int, int] | None = None
    roi: NDArray[np.bool_] | None = None
    score: tuple[int, int] | None = None

    @property
    def has_ground_truth(self) -> bool:
        return bool(self.ground_truth)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        return self.source.frame_shape

    def train_numbers(self, max_train_frames: int | None = None) -> list[int]:
        """Training frame numbers, evenly subsampled to at most ``max_train_frames``."""
        first, last = self.train
        numbers = list(range(first, last + 1))
        if max_train_frames is not None and len(numbers) > max_train_frames:
            picks = np.linspace(0, len(numbers) - 1, max_train_frames).round().astype(int)
            numbers = [numbers[i] for i in picks]
            logger.info("%s: %d training frames subsampled evenly to %d", self.name, last - first + 1, len(numbers))
        return numbers

    def test_numbers(self) -> list[int]:
        """All test frame numbers (masks are written for each)."""
        return list(range(self.test[0], self.test[1] + 1))

    def scored_numbers(self) -> list[int]:
        """Test frames inside the temporal ROI (and the ``score`` range) with ground truth: the frames metrics count."""
        first, last = self.temporal_roi or self.test
        if self.score is not None:
            first, last = max(first, self.score[0]), min(last, self.score[1])
        return [n for n in self.test_numbers() if first <= n <= last and n in self.ground_truth]

    def labels(self, number: int) -> NDArray[np.uint8]:
        """Ground-truth labels ``(H, W)`` uint8 of frame ``number`` (CDnet values 0/50/85/170/255)."""
        path = self.ground_truth[number]
        labels = read_labels(path)
        h, w, _ = self.frame_shape
        if labels.shape != (h, w):
            raise InputError(f"{path} is {labels.shape[1]}x{labels.shape[0]}, expected {w}x{h} like the frames")
        return labels

    def validate(self) -> None:
        """Check sizes of every frame and ground-truth file (headers only) before any work is done."""
        if isinstance(self.source, ImageFolderSource):
            self.source.check_sizes()
        h, w, _ = self.frame_shape
        for path in (self.ground_truth[n] for n in self.scored_numbers()):
            size = image_size(path)
            if size != (h, w):
                raise InputError(f"{path} is {size[1]}x{size[0]}, expected {w}x{h} like the frames")


def is_cdnet_folder(path: Path) -> bool:
    """True when ``path`` has the CDnet layout (an ``input/`` folder)."""
    return Path(path).is_dir() and (Path(path) / "input").is_dir()


@dataclass(frozen=True)
class CDnetVideo:
    """One video folder of a CDnet tree: its dataset name, its category (the parent folder) and its path."""

    name: str
    category: str
    path: Path


def find_cdnet_videos(root: Path, categories: SequenceABC[str] = ()) -> list[CDnetVideo]:
    """Every CDnet video folder under ``root``, as the 2014 dataset lays them out (``category/video/input/``).

    Parameters
    ----------
    root : Path
        The dataset's folder (``dataset/`` of the unpacked 2014 zip), one category's folder, or a video's.
    categories : sequence of str, optional
        Keep only videos whose category (the name of their parent folder) is one of these.

    Returns
    -------
    videos : list of CDnetVideo
        Sorted by category, then name. A name is the folder's name with every character a config name
        cannot hold replaced by ``_``; two videos of one name are told apart by their category
        (``category_name``).

    Raises
    ------
    InputError
        When ``root`` is not a folder, or holds no video folder (of ``categories``).
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder")
    folders, seen = [], set()
    for top, subfolders, _ in os.walk(root, followlinks=True):  # a tree may link its videos in
        if os.path.realpath(top) in seen:  # walked already: a link back up the tree, or a second link to it
            subfolders.clear()
            continue
        seen.add(os.path.realpath(top))
        if "input" in subfolders:
            folders.append(Path(top))
            subfolders.clear()  # a video's folders hold frames, not more videos
        subfolders.sort()
    found = [(folder.parent.name, folder) for folder in folders if not categories or folder.parent.name in categories]
    if not found:
        which = f" of the categories {', '.join(categories)}" if categories else ""
        raise InputError(f"{root}: no CDnet video folder (one with an input/ folder){which}")
    plain = {folder: _config_name(folder.name) for _, folder in found}
    uses = Counter(plain.values())
    videos = [CDnetVideo(plain[folder] if uses[plain[folder]] == 1 else f"{_config_name(category)}_{plain[folder]}",
                         category, folder) for category, folder in found]
    return sorted(videos, key=lambda v: (v.category, v.name))


def _config_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _read_temporal_roi(path: Path) -> tuple[int, int]:
    try:
        values = [int(v) for v in path.read_text().split()]
    except ValueError:
        raise InputError(f"{path}: expected two frame numbers") from None
    if len(values) != 2 or not 1 <= values[0] <= values[1]:
        raise InputError(f"{path}: expected two frame numbers 'first last' with 1 <= first <= last")
    return values[0], values[1]


def _frame_number(path: Path, prefix: str) -> int | None:
    stem = path.stem
    if stem.startswith(prefix) and stem[len(prefix) :].isdigit():
        return int(stem[len(prefix) :])
    return None


def _open_cdnet(folder: Path, name: str) -> tuple[FrameSource, dict[int, Path], tuple[int, int] | None, NDArray | None]:
    files = list_images(folder / "input")
    numbered = {_frame_number(p, "in"): p for p in files}
    if None in numbered or not files:
        source = ImageFolderSource(files, f"{folder / 'input'}")
    else:
        expected = list(range(1, len(files) + 1))
        if sorted(numbered) != expected:
            missing = sorted(set(expected) - set(numbered))
            raise InputError(
                f"{folder / 'input'}: frames are not numbered 1..{len(files)} (in{missing[0]:06d} missing)"
            )
        source = ImageFolderSource([numbered[n] for n in expected], f"{folder / 'input'}")
    ground_truth: dict[int, Path] = {}
    if (folder / "groundtruth").is_dir():
        for p in list_images(folder / "groundtruth"):
            n = _frame_number(p, "gt")
            if n is not None:
                ground_truth[n] = p
    temporal_roi = None
    if (folder / "temporalROI.txt").is_file():
        temporal_roi = _read_temporal_roi(folder / "temporalROI.txt")
        if temporal_roi[1] > source.n_frames:
            raise InputError(
                f"{folder / 'temporalROI.txt'}: temporal ROI {temporal_roi[0]}-{temporal_roi[1]} "
                f"goes beyond the last frame ({source.n_frames})"
            )
        if ground_truth:
            missing = [n for n in range(temporal_roi[0], temporal_roi[1] + 1) if n not in ground_truth]
            if missing and len(missing) < temporal_roi[1] - temporal_roi[0] + 1:
                raise InputError(
                    f"{folder / 'groundtruth'}: gt{missing[0]:06d}.png is missing inside the temporal ROI "
                    f"({len(missing)} missing)"
                )
    roi = None
    if (folder / "ROI.bmp").is_file():
        roi_labels = read_labels(folder / "ROI.bmp")
        h, w, _ = source.frame_shape
        if roi_labels.shape != (h, w):
            raise InputError(
                f"{folder / 'ROI.bmp'} is {roi_labels.shape[1]}x{roi_labels.shape[0]}, expected {w}x{h} like the frames"
            )
        roi = roi_labels > 0
    return source, ground_truth, temporal_roi, roi


def _check_range(value: object, key: str, n_frames: int) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InputError(f"config key {key}: expected [first, last] frame numbers, got {value!r}")
    first, last = value
    if not 1 <= first <= last <= n_frames:
        raise InputError(
            f"config key {key}: range [{first}, {last}] is outside the sequence (frames 1-{n_frames}) or empty"
        )
    return first, last


def open_sequence(
    name: str, spec: dict, *, root: Path = Path("."), known: dict[str, Any] | None = None
) -> Sequence:
    """Open the sequence a ``datasets:`` entry of the config describes.

    Parameters
    ----------
    name : str
        Dataset name (used in messages).
    spec : dict
        The entry: ``path`` (relative to ``root``) and optionally ``train``, ``test``
        or ``train_fraction``. Synthetic entries are resolved to the folder the
        pipeline generated before this is called (``spec["path"]`` set).
    root : Path
        Folder that relative paths are relative to.
    known : dict, optional
        ``n_frames``, ``height``, ``width``, ``channels`` of the sequence as the split
        recorded them (``split.json``): a video is then not decoded once more to count
        its frames.

    Returns
    -------
    Sequence

    Raises
    ------
    InputError
        On a missing or unreadable path, an empty folder, inconsistent sizes or a bad range.
    """
    key = f"datasets.{name}"
    if "path" not in spec:
        raise InputError(f"config key {key}.path: missing")
    path = Path(spec["path"])
    if not path.is_absolute():
        path = Path(root) / path
    if not path.exists():
        raise InputError(f"{path}: no such file or folder (config key {key}.path)")
    ground_truth: dict[int, Path] = {}
    temporal_roi = roi = None
    if is_cdnet_folder(path):
        source, ground_truth, temporal_roi, roi = _open_cdnet(path, name)
    elif path.is_dir():
        source = ImageFolderSource(list_images(path), str(path))
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        if known is not None:
            shape = (int(known["height"]), int(known["width"]), int(known["channels"]))
            source = VideoSource(path, n_frames=int(known["n_frames"]), frame_shape=shape)
        else:
            source = VideoSource(path)
    else:
        raise InputError(f"{path}: not a folder and not a video file ({', '.join(VIDEO_SUFFIXES)})")

    n = source.n_frames
    if "train" in spec:
        train = _check_range(spec["train"], f"{key}.train", n)
    elif "train_fraction" not in spec and temporal_roi is not None and temporal_roi[0] > 1:
        train = (1, temporal_roi[0] - 1)
    else:
        fraction = spec.get("train_fraction", DEFAULT_TRAIN_FRACTION)
        if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise InputError(f"config key {key}.train_fraction: expected a number in (0, 1), got {fraction!r}")
        n_train = int(round(fraction * n))
        if not 1 <= n_train < n:
            raise InputError(f"config key {key}.train_fraction: {fraction} of {n} frames leaves no train or test frame")
        train = (1, n_train)
    if "test" in spec:
        test = _check_range(spec["test"], f"{key}.test", n)
    elif temporal_roi is not None and "train_fraction" not in spec and temporal_roi[0] > train[1]:
        test = temporal_roi
    else:
        if train[1] >= n:
            raise InputError(f"config key {key}.train: leaves no test frames after it (sequence has {n} frames)")
        test = (train[1] + 1, n)
    score = _check_range(spec["score"], f"{key}.score", n) if "score" in spec else None
    sequence = Sequence(name, source, train, test, ground_truth, temporal_roi, roi, score)
    if sequence.has_ground_truth and not sequence.scored_numbers():
        logger.warning("%s: no test frame has ground truth inside the temporal ROI; no metrics", name)
    return sequence
