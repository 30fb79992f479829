"""Bad input, long videos and partial writes: each case works or stops with one line naming the culprit.

Cases not already in ``test_datasets.py``/``test_workflow.py`` are checked here
through ``open_sequence``/``validate_config``; a representative group goes
through the Snakemake CLI in one ``--keep-going`` run.
"""

from __future__ import annotations

import json
import logging
import tracemalloc
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from PIL import Image

from bgsub import io as bgsub_io
from bgsub import pipeline
from bgsub.background import MeanBackground
from bgsub.config import Dataset, expand_runs, validate_config
from bgsub.datasets import VideoSource, open_sequence
from bgsub.errors import InputError
from bgsub.models import FORMAT_VERSION, load_model, save_model
from bgsub.synth import make_scene, write_cdnet
from tests.conftest import run_snakemake, write_video


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


def _scene_video(path: Path, n: int, h: int = 32, w: int = 48, seed: int = 0) -> Path:
    """A smooth, compressible clip (random noise would make ffmpeg's output depend on the encoder)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 200, (1, h, w, 3))
    frames = np.clip(base + rng.integers(-3, 4, (n, 1, 1, 3)), 0, 255).astype(np.uint8)
    write_video(path, frames)
    return path


# ---------------------------------------------------------------- pixel formats


def test_rgba_frames_drop_alpha_and_say_so(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = tmp_path / "rgba"
    folder.mkdir()
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., :3] = (10, 20, 30)
    rgba[..., 3] = np.arange(8, dtype=np.uint8) * 30  # varying alpha must not change the colours
    for i in range(3):
        iio.imwrite(folder / f"{i}.png", rgba)
    with caplog.at_level(logging.INFO, logger="bgsub"):
        seq = open_sequence("rgba", {"path": str(folder), "train": [1, 2]})
    frames = seq.source.read([1, 3])
    assert frames.shape == (2, 6, 8, 3)
    assert np.all(frames == np.array([10, 20, 30], np.uint8))
    assert any("alpha channel dropped" in r.getMessage() and str(folder) in r.getMessage() for r in caplog.records)


def test_16_bit_png_scaled_to_8_bits(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    folder = tmp_path / "deep"
    folder.mkdir()
    values = np.array([[0, 255, 256, 65535]], np.uint16)
    for i in range(2):
        iio.imwrite(folder / f"{i}.png", values)
    with caplog.at_level(logging.INFO, logger="bgsub"):
        frame = open_sequence("deep", {"path": str(folder), "train": [1, 1]}).source.read([2])[0]
    np.testing.assert_array_equal(frame[0, :, 0], [0, 0, 1, 255])  # v >> 8, the top byte
    assert any("16-bit" in r.getMessage() for r in caplog.records)


def test_grayscale_video_frames_have_one_channel_through_the_pipeline(tmp_path: Path):
    scene = make_scene("static", seed=0, height=12, width=16, n_train=8, n_test=4, n_objects=1)
    folder = tmp_path / "gray"
    write_cdnet(scene, folder)
    for path in sorted((folder / "input").iterdir()):  # rewrite every frame as grayscale
        iio.imwrite(path, iio.imread(path)[..., 0])
    split_path = tmp_path / "out" / "split.json"
    spec = {"path": str(folder)}
    pipeline.split("gray", spec, split_path, max_train_frames=500)
    assert json.loads(split_path.read_text())["channels"] == 1
    run = tmp_path / "out" / "mean"
    dataset, (mean,) = Dataset("gray", spec), expand_runs({"mean": {"threshold": 30, "sweep": [0, 60, 3]}})
    pipeline.fit(dataset, mean, split_path, run / "model.npz", run / "background.png")
    assert iio.imread(run / "background.png").ndim == 2
    pipeline.score(dataset, mean, split_path, run / "model.npz", run / "masks", run / "counts.npz")
    assert len(list((run / "masks").glob("bin*.png"))) == 4


def test_gif_with_frames_of_different_sizes_is_read_on_its_canvas(tmp_path: Path):
    rng = np.random.default_rng(0)
    small = [Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)) for _ in range(3)]
    patch = Image.fromarray(np.full((6, 8, 3), 200, np.uint8))  # a smaller frame drawn at the origin
    small[0].save(tmp_path / "var.gif", save_all=True, append_images=[patch, *small[1:]], loop=0)
    seq = open_sequence("var", {"path": str(tmp_path / "var.gif"), "train": [1, 2]})
    assert seq.source.n_frames == 4 and seq.frame_shape == (12, 16, 3)
    frames = seq.source.read([1, 2, 3, 4])
    assert frames.shape == (4, 12, 16, 3)


# ---------------------------------------------------------------- broken or odd videos


def test_one_frame_video_cannot_be_split(tmp_path: Path):
    video = _scene_video(tmp_path / "one.mp4", 1)
    with pytest.raises(InputError, match=r"datasets\.one\.train_fraction: .* of 1 frames leaves no") as err:
        open_sequence("one", {"path": str(video)})
    _one_line(err)
    with pytest.raises(InputError, match=r"datasets\.one\.test"):
        open_sequence("one", {"path": str(video), "train": [1, 1], "test": [2, 2]})


@pytest.mark.parametrize(
    "suffix, message",
    [
        (".mkv", r"only \d+ frames decode but the header promises about 100; the file looks truncated or corrupt"),
        (".mp4", r"cannot read video \(OSError: Could not load meta information\)"),  # its index is at the end
    ],
)
def test_truncated_video_is_refused_naming_the_file(tmp_path: Path, suffix: str, message: str):
    video = _scene_video(tmp_path / f"clip{suffix}", 100)
    data = video.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=message) as err:
        open_sequence("cut", {"path": str(cut)})
    assert _one_line(err).startswith(f"{cut}: ")
    assert VideoSource(video).n_frames == 100  # the intact file is accepted


def test_garbage_video_and_video_that_shrank_after_the_split(tmp_path: Path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(InputError, match="cannot read video") as err:
        open_sequence("g", {"path": str(garbage)})
    assert str(garbage) in _one_line(err)

    video = _scene_video(tmp_path / "clip.mp4", 12)
    # opened with the frame count a split recorded: no counting pass, and a file that no longer has
    # those frames is reported when read, never silently padded with uninitialised memory
    source = VideoSource(video, n_frames=20, frame_shape=(32, 48, 3))
    with pytest.raises(InputError, match="ended before frame 15") as err:
        source.read([2, 15])
    assert str(video) in _one_line(err)
    with pytest.raises(InputError, match="ended before frame 13"):
        list(source.iter_blocks(range(10, 21), 4))
    with pytest.raises(InputError, match="frame 21 asked for"):
        source.read([21])


def test_reopening_with_the_split_skips_the_counting_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    video = _scene_video(tmp_path / "clip.mp4", 10)
    split_path = tmp_path / "split.json"
    pipeline.split("clip", {"path": str(video)}, split_path, max_train_frames=500)
    decodes = []
    real = bgsub_io.iter_video

    def counting(path):
        decodes.append(path)
        return real(path)

    monkeypatch.setattr("bgsub.datasets.iter_video", counting)
    sequence, info = pipeline.open_split("clip", {"path": str(video)}, split_path)
    assert decodes == [] and sequence.source.n_frames == info["n_frames"] == 10
    assert sequence.source.read([7]).shape == (1, 32, 48, 3) and len(decodes) == 1


# ---------------------------------------------------------------- config values


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c["datasets"].update({"a/b": c["datasets"].pop("d")}), "config key datasets: 'a/b'"),
        (lambda c: c["datasets"].update({"..": c["datasets"].pop("d")}), "config key datasets: '..'"),
        (lambda c: c["datasets"].update({"my data": c["datasets"].pop("d")}), "config key datasets: 'my data'"),
        (lambda c: c["methods"].update({"../m": c["methods"].pop("mean")}), "config key methods: '../m'"),
        (lambda c: c["methods"].update(gmm={"n_components": 0}), "config key methods.gmm.n_components: 0"),
        (lambda c: c["methods"].update(gmm={"n_components": [2, 0]}), "config key methods.gmm.n_components.1: 0"),
        (lambda c: c["methods"]["mean"].update(threshold=-1), "config key methods.mean.threshold: -1"),
        (lambda c: c["methods"]["mean"].update(sweep=[-5, 10, 3]), "config key methods.mean.sweep.0"),
        (lambda c: c["methods"]["mean"].update(sweep=[10, 5, 3]), "config key methods.mean.sweep: stop"),
        (lambda c: c["methods"].update(gmm={"reg_covar": -1.0}), "config key methods.gmm.reg_covar"),
        (lambda c: c["methods"].update(gmm={"max_iter": 0}), "config key methods.gmm.max_iter"),
        (lambda c: c["methods"].update(gmm={"covariance_type": "tied"}), "config key methods.gmm.covariance_type"),
        (lambda c: c["methods"].update(gmm={"background_ratio": 0}), "config key methods.gmm.background_ratio"),
        (lambda c: c["datasets"]["d"].update(train_fraction=0), "config key datasets.d.train_fraction: 0"),
        (lambda c: c["datasets"]["d"].update(train_fraction=1), "config key datasets.d.train_fraction: 1"),
        (lambda c: c.update(max_train_frames=0), "config key max_train_frames: 0"),
        (lambda c: c.update(block_size=0), "config key block_size: 0"),
    ],
)
def test_config_values_out_of_range(change, key):
    config = {"datasets": {"d": {"path": "somewhere"}}, "methods": {"mean": {"threshold": 30}}}
    change(config)
    with pytest.raises(InputError) as err:
        validate_config(config)
    assert _one_line(err).startswith(key)


def test_empty_test_range_and_bad_ranges(tiny_cdnet: Path):
    for spec, key in [({"test": [35, 34]}, "datasets.t.test"), ({"train": [True, 5]}, "datasets.t.train")]:
        with pytest.raises(InputError, match=key) as err:
            open_sequence("t", {"path": str(tiny_cdnet), **spec})
        _one_line(err)


def test_non_finite_threshold_stops_the_config():
    # checked once, when the runs are expanded from the config; the steps trust the runs they get
    with pytest.raises(InputError, match="must be finite"):
        expand_runs({"mean": {"threshold": float("nan"), "sweep": [0, 1, 2]}})
    with pytest.raises(InputError, match="must be finite"):
        expand_runs({"gmm": {"preset": "default", "sweep": [0, float("inf"), 3]}})


# ---------------------------------------------------------------- through the Snakemake CLI, grouped


def test_bad_inputs_through_the_cli_one_line_each(tmp_path: Path):
    """Several broken datasets in one ``--keep-going`` run: each split stops with its own line."""
    broken = {}
    for name, breakage in {
        "missing_gt": lambda f: (f / "groundtruth" / "gt000034.png").unlink(),
        "roi_beyond": lambda f: (f / "temporalROI.txt").write_text("31 99\n"),
        "roi_size": lambda f: iio.imwrite(f / "ROI.bmp", np.full((5, 7), 255, np.uint8)),
    }.items():
        folder = tmp_path / name
        write_cdnet(make_scene("static", seed=1, height=12, width=16, n_train=30, n_test=10, n_objects=1), folder)
        breakage(folder)
        broken[name] = {"path": str(folder)}
    clip = _scene_video(tmp_path / "clip.mkv", 100)
    data = clip.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) // 2])
    broken["cut_video"] = {"path": str(tmp_path / "cut.mkv")}
    broken["one_frame"] = {"path": str(_scene_video(tmp_path / "one.mp4", 1))}
    config = {"datasets": broken, "methods": {"mean": {"threshold": 30}}}
    # all targets (videos have no summary rows, only figures need their split); serial, so the
    # messages of parallel jobs cannot land in the middle of Snakemake's own lines
    result = run_snakemake(tmp_path / "work", config, "--keep-going", "--cores", "1")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    lines = sorted({line for line in output.splitlines() if line.startswith("bgsub: error:")})
    assert len(lines) == 5, output[-3000:]
    expected = [
        f"{tmp_path / 'cut.mkv'}: only ",
        "gt000034.png is missing inside the temporal ROI",
        "config key datasets.one_frame.train_fraction: 0.6 of 1 frames",
        f"{tmp_path / 'roi_beyond' / 'temporalROI.txt'}: temporal ROI 31-99 goes beyond the last frame (40)",
        f"{tmp_path / 'roi_size' / 'ROI.bmp'} is 7x5, expected 16x12",
    ]
    for want in expected:
        assert any(want in line for line in lines), (want, lines)
    assert any("frames decode but the header promises about 100" in line for line in lines)
    assert "Traceback" not in output
    assert not list((tmp_path / "work" / "results").glob("*/split.json"))


def test_config_error_through_the_cli(tmp_path: Path, tiny_cdnet: Path):
    config = {"datasets": {"t": {"path": str(tiny_cdnet)}}, "methods": {"gmm": {"n_components": [1, 0]}}}
    result = run_snakemake(tmp_path / "work", config)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("bgsub: error:")]
    assert errors == ["bgsub: error: config key methods.gmm.n_components.1: 0 is less than the minimum of 1"]


# ---------------------------------------------------------------- model files


def _fitted() -> MeanBackground:
    return MeanBackground().fit(np.random.default_rng(0).integers(0, 256, (5, 4, 6, 3), dtype=np.uint8))


def test_model_round_trip_and_refusals(tmp_path: Path):
    path = tmp_path / "model.npz"
    method = _fitted()
    save_model(path, method, extra={"frame_shape": [4, 6, 3]})
    loaded = load_model(path, expect_kind="mean", expect_params={}, expect_extra={"frame_shape": [4, 6, 3]})
    np.testing.assert_array_equal(loaded.background_image(), method.background_image())
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[k].dtype != object for k in data.files)

    for kwargs, what in [
        ({"expect_kind": "median"}, "other kind"),
        ({"expect_params": {"n_components": 3}}, "other settings"),
        ({"expect_extra": {"frame_shape": [8, 6, 3]}}, "other data"),
    ]:
        with pytest.raises(InputError, match=what) as err:
            load_model(path, **kwargs)
        assert str(path) in _one_line(err) and "refit" in str(err.value)


def test_model_of_another_format_version_or_not_a_model(tmp_path: Path):
    path = tmp_path / "model.npz"
    save_model(path, _fitted())
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["__bgsub_meta__"]))
    meta["format_version"] = FORMAT_VERSION + 1
    arrays["__bgsub_meta__"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    with pytest.raises(InputError, match=f"format version {FORMAT_VERSION + 1} is not {FORMAT_VERSION}") as err:
        load_model(old)
    assert str(old) in _one_line(err)

    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, __bgsub_meta__=arrays["__bgsub_meta__"], background_=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(InputError, match="not a bgsub model file"):
        load_model(pickled)
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(InputError, match="empty.npz: not a bgsub model file"):
        load_model(tmp_path / "empty.npz")
    with pytest.raises(InputError, match="nowhere.npz: model file not found"):
        load_model(tmp_path / "nowhere.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(InputError, match="junk.npz: not a bgsub model file") as err:
        load_model(tmp_path / "junk.npz")
    _one_line(err)


# ---------------------------------------------------------------- atomic writes


def test_failed_writes_leave_nothing_that_looks_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def broken_imwrite(*args, **kwargs):
        Path(args[0]).write_bytes(b"half an image")
        raise OSError("disk full")

    monkeypatch.setattr(bgsub_io.iio, "imwrite", broken_imwrite)
    with pytest.raises(OSError, match="disk full"):
        bgsub_io.write_image(tmp_path / "mask.png", np.zeros((2, 2), np.uint8))
    monkeypatch.undo()

    class Unsaveable(MeanBackground):
        def get_state(self):
            return {"background_": np.array([object()], dtype=object)}

    with pytest.raises(TypeError, match="dtype object"):
        save_model(tmp_path / "model.npz", Unsaveable().fit(np.zeros((1, 2, 2, 3), np.uint8)))

    def broken_to_csv(self, path, **kwargs):
        Path(path).write_text("dataset,method\n")
        raise OSError("disk full")

    monkeypatch.setattr(pipeline.pd.DataFrame, "to_csv", broken_to_csv)
    with pytest.raises(OSError):
        pipeline.write_csv(tmp_path / "summary.csv", pipeline.pd.DataFrame({"a": [1]}))
    assert list(tmp_path.iterdir()) == []  # neither the outputs nor their temporary files


# ---------------------------------------------------------------- memory does not grow with the video


def _score_peak(tmp_path: Path, folder: Path, n_test: int) -> int:
    spec = {"path": str(folder), "train": [1, 20], "test": [21, 20 + n_test]}
    out = tmp_path / f"out{n_test}"
    pipeline.split("long", spec, out / "split.json", max_train_frames=500)
    dataset, (mean,) = Dataset("long", spec), expand_runs({"mean": {"threshold": 30, "sweep": [0, 150, 16]}})
    pipeline.fit(dataset, mean, out / "split.json", out / "model.npz", out / "background.png")
    tracemalloc.start()
    try:
        pipeline.score(dataset, mean, out / "split.json", out / "model.npz", out / "masks", out / "counts.npz",
                       block_size=8)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_scoring_memory_does_not_grow_with_the_number_of_test_frames(tmp_path: Path):
    folder = tmp_path / "long"
    # frames large enough that holding the clip would dwarf the fixed allocations of a scoring pass
    write_cdnet(make_scene("static", seed=0, height=48, width=64, n_train=20, n_test=400, n_objects=2), folder)
    short, long = _score_peak(tmp_path, folder, 40), _score_peak(tmp_path, folder, 400)
    frame_bytes = 48 * 64 * 3
    # 10x the frames; everything held at once is a block (8 frames and their float scores), not the clip
    assert long < 1.25 * short, (short, long)
    assert long < 400 * frame_bytes / 2  # less than half of what the test frames alone take as uint8


def test_training_frames_are_capped_evenly(tiny_cdnet: Path, caplog: pytest.LogCaptureFixture):
    seq = open_sequence("t", {"path": str(tiny_cdnet), "train": [1, 30], "test": [31, 40]})
    with caplog.at_level(logging.INFO, logger="bgsub"):
        picks = seq.train_numbers(max_train_frames=7)
    assert len(picks) == 7 and picks[0] == 1 and picks[-1] == 30
    assert set(np.diff(picks)) <= {4, 5}  # evenly spread: gaps of 29 / 6 = 4.83 frames, rounded
    assert seq.train_numbers(max_train_frames=30) == list(range(1, 31))
    assert any("subsampled evenly to 7" in r.getMessage() for r in caplog.records)

