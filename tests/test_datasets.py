"""Readers, splits and the errors users see on bad input."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from bgsub.datasets import find_cdnet_videos, open_sequence
from bgsub.errors import InputError
from tests.conftest import write_video


def _folder(tmp_path: Path, n: int = 10, size=(12, 16), c: int = 3) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        iio.imwrite(folder / f"f{i:03d}.png", rng.integers(0, 256, (*size, c), dtype=np.uint8).squeeze())
    return folder


def test_cdnet_default_split_and_labels(tiny_cdnet: Path):
    seq = open_sequence("tiny", {"path": str(tiny_cdnet)})
    assert seq.train == (1, 30) and seq.test == (31, 40) and seq.temporal_roi == (31, 40)
    assert seq.scored_numbers() == list(range(31, 41))
    assert seq.frame_shape == (24, 32, 3)
    labels = seq.labels(35)
    assert labels.shape == (24, 32) and set(np.unique(labels)) <= {0, 50, 170, 255}
    frames = seq.source.read([3, 1])
    np.testing.assert_array_equal(frames[1], iio.imread(tiny_cdnet / "input" / "in000001.png"))
    seq.validate()


def test_explicit_ranges_limit_scored_frames(tiny_cdnet: Path):
    seq = open_sequence("tiny", {"path": str(tiny_cdnet), "train": [1, 20], "test": [21, 35]})
    assert seq.scored_numbers() == list(range(31, 36))  # test range and temporal ROI intersect
    assert seq.train_numbers(max_train_frames=5) == [1, 6, 11, 15, 20]


def test_image_folder_with_fraction(tmp_path: Path):
    seq = open_sequence("plain", {"path": str(_folder(tmp_path)), "train_fraction": 0.6})
    assert seq.train == (1, 6) and seq.test == (7, 10) and not seq.has_ground_truth
    assert seq.scored_numbers() == []


def test_gif_like_the_seed(tmp_path: Path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (20, 12, 16, 3), dtype=np.uint8)
    iio.imwrite(tmp_path / "clip.gif", frames, loop=0)
    seq = open_sequence("clip", {"path": str(tmp_path / "clip.gif"), "train_fraction": 0.6})
    assert seq.source.n_frames == 20 and seq.train == (1, 12) and seq.test == (13, 20)
    blocks = list(seq.source.iter_blocks(seq.test_numbers(), block_size=3))
    assert [b[0] for b in blocks][0] == [13, 14, 15] and sum(len(b[0]) for b in blocks) == 8
    assert blocks[0][1].shape == (3, 12, 16, 3)


def test_video_file(tmp_path: Path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 32, 48, 3), dtype=np.uint8)
    write_video(tmp_path / "clip.mp4", frames)
    seq = open_sequence("clip", {"path": str(tmp_path / "clip.mp4"), "train": [1, 8]})
    assert seq.source.n_frames == 12 and seq.test == (9, 12)
    assert seq.source.read([9]).shape == (1, 32, 48, 3)


def test_grayscale_rgba_and_16_bit(tmp_path: Path):
    for name, image in {
        "gray": np.full((6, 8), 100, np.uint8),
        "rgba": np.full((6, 8, 4), 100, np.uint8),
        "deep": np.full((6, 8), 100 * 257, np.uint16),
    }.items():
        folder = tmp_path / name
        folder.mkdir()
        for i in range(3):
            iio.imwrite(folder / f"{i}.png", image)
        frames = open_sequence(name, {"path": str(folder), "train": [1, 2]}).source.read([1])
        assert frames.dtype == np.uint8 and np.all(frames == 100)
        assert frames.shape[-1] == (3 if name == "rgba" else 1)


@pytest.mark.parametrize(
    "make_bad, message",
    [
        (lambda p: p / "nowhere", "no such file or folder"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "no image files"),
        (lambda p: (p / "bad.mp4").write_bytes(b"not a video") and p / "bad.mp4", "cannot read video"),
    ],
)
def test_bad_paths_name_the_file(tmp_path: Path, make_bad, message):
    path = make_bad(tmp_path)
    with pytest.raises(InputError, match=message) as err:
        open_sequence("bad", {"path": str(path)})
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_unreadable_image(tmp_path: Path):
    folder = _folder(tmp_path, n=4)
    (folder / "f002.png").write_bytes(b"\x89PNG garbage")
    seq = open_sequence("bad", {"path": str(folder), "train": [1, 2]})
    with pytest.raises(InputError, match="f002.png"):
        seq.validate()


def test_frames_of_different_sizes(tmp_path: Path):
    folder = _folder(tmp_path, n=4)
    iio.imwrite(folder / "f003.png", np.zeros((10, 16, 3), np.uint8))
    seq = open_sequence("bad", {"path": str(folder), "train": [1, 2]})
    with pytest.raises(InputError, match=r"f003.png is 16x10, expected 16x12"):
        seq.validate()
    with pytest.raises(InputError, match="f003.png"):
        seq.source.read([4])


def test_ground_truth_of_wrong_size(tiny_cdnet: Path):
    iio.imwrite(tiny_cdnet / "groundtruth" / "gt000033.png", np.zeros((10, 10), np.uint8))
    seq = open_sequence("tiny", {"path": str(tiny_cdnet)})
    with pytest.raises(InputError, match="gt000033.png is 10x10, expected 32x24"):
        seq.validate()


def test_missing_ground_truth_inside_temporal_roi(tiny_cdnet: Path):
    (tiny_cdnet / "groundtruth" / "gt000034.png").unlink()
    with pytest.raises(InputError, match="gt000034.png is missing"):
        open_sequence("tiny", {"path": str(tiny_cdnet)})


def test_temporal_roi_beyond_last_frame(tiny_cdnet: Path):
    (tiny_cdnet / "temporalROI.txt").write_text("31 99")
    with pytest.raises(InputError, match="beyond the last frame"):
        open_sequence("tiny", {"path": str(tiny_cdnet)})


def test_roi_of_wrong_size(tiny_cdnet: Path):
    iio.imwrite(tiny_cdnet / "ROI.bmp", np.full((5, 5), 255, np.uint8))
    with pytest.raises(InputError, match="ROI.bmp is 5x5"):
        open_sequence("tiny", {"path": str(tiny_cdnet)})


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"train": [1, 99]}, "datasets.tiny.train"),
        ({"test": [0, 5]}, "datasets.tiny.test"),
        ({"train": [5, 2]}, "datasets.tiny.train"),
        ({"train_fraction": 1.5}, "datasets.tiny.train_fraction"),
        ({"train": [1, 40]}, "datasets.tiny.train"),  # nothing left to test
    ],
)
def test_ranges_outside_the_sequence(tiny_cdnet: Path, spec, key):
    with pytest.raises(InputError, match=key):
        open_sequence("tiny", {"path": str(tiny_cdnet), **spec})


def _cdnet_tree(root: Path) -> Path:
    """The 2014 zip's layout with empty videos: only the folders the search reads."""
    for video in ("baseline/highway", "baseline/office", "shadow/office", "badWeather/wet.Snow"):
        (root / "dataset" / video / "input").mkdir(parents=True)
        (root / "dataset" / video / "groundtruth").mkdir()
    (root / "results" / "baseline" / "highway").mkdir(parents=True)  # the zip's empty results/ tree
    (root / "dataset" / "baseline" / "highway" / "input" / "input").mkdir()  # inside a video: not searched
    return root / "dataset"


def test_find_cdnet_videos_lists_each_video_with_its_category(tmp_path: Path) -> None:
    dataset = _cdnet_tree(tmp_path)
    found = [(v.name, v.category, v.path) for v in find_cdnet_videos(tmp_path)]
    assert found == [
        ("wet_Snow", "badWeather", dataset / "badWeather" / "wet.Snow"),  # a dot cannot be in a config name
        ("baseline_office", "baseline", dataset / "baseline" / "office"),  # two videos named office
        ("highway", "baseline", dataset / "baseline" / "highway"),
        ("shadow_office", "shadow", dataset / "shadow" / "office"),
    ]
    assert [v.name for v in find_cdnet_videos(dataset, ["shadow", "badWeather"])] == ["wet_Snow", "office"]
    assert [(v.name, v.category) for v in find_cdnet_videos(dataset / "baseline" / "highway")] == [
        ("highway", "baseline")]


def test_find_cdnet_videos_follows_linked_videos_and_not_a_loop(tmp_path: Path) -> None:
    dataset = _cdnet_tree(tmp_path / "elsewhere")
    (tmp_path / "mine" / "cameraJitter").mkdir(parents=True)
    (tmp_path / "mine" / "cameraJitter" / "traffic").symlink_to(dataset / "baseline" / "highway")
    (tmp_path / "mine" / "cameraJitter" / "back").symlink_to(tmp_path / "mine")
    (video,) = find_cdnet_videos(tmp_path / "mine")
    assert (video.name, video.category, video.path) == ("traffic", "cameraJitter",
                                                        tmp_path / "mine" / "cameraJitter" / "traffic")


@pytest.mark.parametrize("categories", [(), ("PTZ",)])
def test_find_cdnet_videos_without_a_video_is_an_error_naming_the_folder(tmp_path: Path, categories) -> None:
    (tmp_path / "empty" / "baseline").mkdir(parents=True)
    with pytest.raises(InputError, match=r"empty: no CDnet video folder"):
        find_cdnet_videos(tmp_path / "empty", categories)
    with pytest.raises(InputError, match=r"missing: no such folder"):
        find_cdnet_videos(tmp_path / "missing")
