"""The ``bgsub`` command: segment (with and without ground truth), methods, presets, bad input."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import yaml

from bgsub.cli import compile_hint, main
from bgsub.kernels import cache
from bgsub.methods import METHOD_KINDS
from bgsub.presets import PRESETS
from bgsub.progress import Progress
from bgsub.synth import make_scene, write_cdnet
from tests.conftest import ROOT, run_snakemake, write_video


def _moving_square(n_frames: int = 40, h: int = 24, w: int = 32) -> np.ndarray:
    """A grey background with noise, and a bright square crossing it in the second half, ``(T, H, W, 3)`` uint8."""
    rng = np.random.default_rng(0)
    frames = np.clip(100 + rng.normal(0, 3, (n_frames, h, w, 3)), 0, 255).astype(np.uint8)
    for t in range(n_frames // 2, n_frames):
        x = (t * 2) % (w - 8)
        frames[t, 8:16, x : x + 8] = 230
    return frames


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _iter_mp4(path: Path):
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    try:
        yield from (meta for _ in reader)
    finally:
        reader.close()


def test_segment_video_writes_every_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    video = tmp_path / "clip.mp4"
    write_video(video, _moving_square(), fps=10)
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "segment", video, "-o", out, "--train", "24")
    assert code == 0, stderr
    names = sorted(p.name for p in (out / "masks").iterdir())
    assert names == [f"bin{n:06d}.png" for n in range(25, 41)]  # numbered like the input frames
    mask = iio.imread(out / "masks" / "bin000030.png")
    assert mask.shape == (24, 32) and set(np.unique(mask)) <= {0, 255} and mask.any()
    assert iio.imread(out / "background.png").shape == (24, 32, 3)
    for name in ("masks.mp4", "overlay.mp4"):
        metas = list(_iter_mp4(out / name))
        assert len(metas) == 16 and tuple(metas[0]["size"]) == (32, 24)
    assert not (out / "summary.csv").exists()  # no ground truth, no metrics
    assert stdout.count("\n") == 1 and "16 frames (25-40) of 32x24 segmented with default (gmm, K=3" in stdout
    assert "bgsub: segment 16/16 frames (100 %)" in stderr and len(stderr.splitlines()) <= 6
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging folder left


def test_segment_gif_of_odd_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gif = tmp_path / "odd.gif"
    iio.imwrite(gif, _moving_square(20, 23, 33), duration=100, loop=0)
    out = tmp_path / "out"
    code, _, stderr = _run(capsys, "segment", gif, "-o", out, "--method", "mean", "-q")
    assert code == 0, stderr
    assert len(list((out / "masks").iterdir())) == 8
    for name in ("masks.mp4", "overlay.mp4"):  # H.264 needs even sides: the odd edge is padded, not rescaled
        metas = list(_iter_mp4(out / name))
        assert len(metas) == 8 and tuple(metas[0]["size"]) == (34, 24) and metas[0]["fps"] == 10


def _textured_clip(folder: Path, shakes: np.ndarray) -> None:
    """Frames of a smooth random texture moved by ``shakes`` (T, 2) px, a bright square crossing the last 10,
    written as ``in%06d.png``."""
    from scipy import ndimage

    from bgsub.alignment import shift_frame

    rng = np.random.default_rng(3)
    grey = ndimage.gaussian_filter(rng.uniform(0, 255, (36, 48)), 1.5)
    texture = np.repeat((40 + 170 * (grey - grey.min()) / np.ptp(grey))[..., None], 3, axis=-1).astype(np.uint8)
    folder.mkdir()
    for t, shake in enumerate(shakes):
        frame = shift_frame(texture, tuple(shake))
        if t >= len(shakes) - 10:
            x = 4 + 3 * (t - len(shakes) + 10)
            frame[12:22, x: x + 8] = 250
        iio.imwrite(folder / f"in{t + 1:06d}.png", frame)


def test_set_changes_a_setting_of_the_method(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """``--set align=false`` reaches the method: a shaking clip's masks change (and lose F: the default aligns it), a
    still clip's stay the same bytes (a still camera is not aligned), and the summary line names the setting; only
    the shaking clip without alignment gets the hint."""
    rng = np.random.default_rng(4)
    for name, shakes in {"still": np.zeros((40, 2)), "shaking": rng.uniform(-2.5, 2.5, (40, 2))}.items():
        _textured_clip(tmp_path / name, shakes)
        masks = {}
        for extra in ([], ["--set", "align=false"]):
            out = tmp_path / f"{name}{len(extra)}"
            code, stdout, stderr = _run(capsys, "segment", tmp_path / name, "-o", out, "--train", "30", *extra)
            assert code == 0, stderr
            assert ("default (gmm, K=3, align=False, threshold 7.81)" in stdout) == bool(extra)
            # the method measured the shake (to size its neighbourhood) and suggests the option that was set off
            assert ("--set align=true may help" in stderr) == (name == "shaking" and bool(extra)), stderr
            masks[len(extra)] = np.stack([iio.imread(out / "masks" / f"bin{n:06d}.png") for n in range(31, 41)])
        if name == "still":
            np.testing.assert_array_equal(masks[0], masks[2])
        else:
            truth = np.zeros(masks[0].shape, bool)  # the square, where the shaken camera saw it
            for i in range(10):
                truth[i, 12:22, 4 + 3 * i: 12 + 3 * i] = True
            f = {k: 2 * (m & truth).sum() / ((m > 0).sum() + truth.sum()) for k, m in masks.items()}
            assert (masks[0] != masks[2]).mean() > 0.01 and f[0] > f[2] + 0.02, f


def _independent_counts(masks_dir: Path, gt_dir: Path, numbers: list[int], roi: np.ndarray | None) -> np.ndarray:
    counts = np.zeros(4, np.int64)
    for n in numbers:
        fg = iio.imread(masks_dir / f"bin{n:06d}.png") == 255
        gt = iio.imread(gt_dir / f"gt{n:06d}.png")
        gt = gt[..., 0] if gt.ndim == 3 else gt
        inside = np.ones(gt.shape, bool) if roi is None else roi
        pos, neg = (gt == 255) & inside, ((gt == 0) | (gt == 50)) & inside
        counts += [(fg & pos).sum(), (fg & neg).sum(), (~fg & pos).sum(), (~fg & neg).sum()]
    return counts


def test_segment_cdnet_prints_metrics_of_an_independent_count(
    tiny_cdnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "segment", tiny_cdnet, "-o", out, "--method", "median", "-q")
    assert code == 0, stderr
    assert stderr == ""  # --quiet
    first, last = (int(v) for v in (tiny_cdnet / "temporalROI.txt").read_text().split())
    numbers = list(range(first, last + 1))
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"bin{n:06d}.png" for n in numbers]
    roi = iio.imread(tiny_cdnet / "ROI.bmp") > 0 if (tiny_cdnet / "ROI.bmp").exists() else None
    roi = roi[..., 0] if roi is not None and roi.ndim == 3 else roi
    tp, fp, fn, tn = _independent_counts(out / "masks", tiny_cdnet / "groundtruth", numbers, roi)
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert (row["tp"], row["fp"], row["fn"], row["tn"]) == (tp, fp, fn, tn)
    f = 2 * tp / (2 * tp + fp + fn)
    assert row["f_measure"] == pytest.approx(f, abs=1e-6)
    line = stdout.splitlines()[1]
    assert f"f_measure {f:.4f}" in line and f"recall {tp / (tp + fn):.4f}" in line
    assert f"precision {tp / (tp + fp):.4f}" in line and f"tp {tp} fp {fp} fn {fn} tn {tn}" in line


def test_segment_image_folder_with_groundtruth_option(
    tiny_cdnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "segment", tiny_cdnet / "input", "-o", out, "--method", "mean", "--train",
                                "30", "--groundtruth", tiny_cdnet / "groundtruth", "--threshold", "40", "-q")
    assert code == 0, stderr
    numbers = list(range(31, 41))
    tp, fp, fn, tn = _independent_counts(out / "masks", tiny_cdnet / "groundtruth", numbers, None)
    row = pd.read_csv(out / "summary.csv").iloc[0]
    assert (row["tp"], row["fp"], row["fn"], row["tn"], row["threshold"]) == (tp, fp, fn, tn, 40.0)
    assert "10 scored frames" in stdout


def test_methods_and_presets_list_one_line_each(capsys: pytest.CaptureFixture) -> None:
    code, stdout, _ = _run(capsys, "methods")
    assert code == 0
    lines = stdout.splitlines()
    assert [line.split()[0] for line in lines] == [*PRESETS, *METHOD_KINDS]
    code, stdout, _ = _run(capsys, "presets")
    assert code == 0 and [line.split()[0] for line in stdout.splitlines()] == list(PRESETS)
    assert "threshold 7.81" in stdout.splitlines()[0]


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run([sys.executable, "-m", "bgsub", "presets"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("default")


def _bad_inputs(tmp: Path, tiny: Path) -> dict[str, tuple[list, str]]:
    (tmp / "empty.mp4").write_bytes(b"")
    sizes = tmp / "sizes"
    sizes.mkdir()
    for i, shape in enumerate([(8, 8, 3), (8, 8, 3), (9, 8, 3)]):
        iio.imwrite(sizes / f"f{i}.png", np.zeros(shape, np.uint8))
    bad_gt = tmp / "badgt"
    bad_gt.mkdir()
    for n in range(31, 41):
        iio.imwrite(bad_gt / f"gt{n:06d}.png", np.zeros((5, 5), np.uint8))
    return {
        "missing": ([tmp / "nope.mp4"], "nope.mp4: no such file or folder"),
        "empty video": ([tmp / "empty.mp4"], "empty.mp4: cannot read video"),
        "sizes": ([sizes], "f2.png is 8x9, expected 8x8"),
        "gt size": ([tiny / "input", "--groundtruth", bad_gt, "--train", "30"], "is 5x5, expected 32x24"),
        "threshold word": ([tiny, "--threshold", "high"], "argument --threshold: invalid float value: 'high'"),
        "threshold nan": ([tiny, "--threshold", "nan"], "--threshold: must be a finite number"),
        "train 0": ([tiny, "--train", "0"], "--train: must be at least 1"),
        "train too long": ([tiny, "--train", "40"], "--train: leaves no test frames"),
        "fraction": ([tiny, "--train-fraction", "1.5"], "--train-fraction: expected a number in (0, 1)"),
        "method": ([tiny, "--method", "best"], "unknown method 'best'"),
        "preset": ([tiny, "--preset", "best"], "unknown preset 'best'"),
        "set form": ([tiny, "--set", "align"], "--set: expected KEY=VALUE, got 'align'"),
        "set value": ([tiny, "--preset", "default", "--set", "align=maybe"],
                      "--set align='maybe': align must be True or False, got 'maybe'"),
        "set key": ([tiny, "--preset", "default", "--set", "alignment=true"],
                    "--set alignment=True: got an unexpected keyword argument 'alignment'"),
        "set kind": ([tiny, "--set", "kind=median"], "--set kind=...: choose the method with --method"),
    }


BAD = ["missing", "empty video", "sizes", "gt size", "threshold word", "threshold nan", "train 0", "train too long",
       "fraction", "method", "preset", "set form", "set value", "set key", "set kind"]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_one_line_exit_1_no_output(
    case: str, tiny_cdnet: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    argv, expected = _bad_inputs(tmp_path, tiny_cdnet)[case]
    out = tmp_path / "results" / "out"
    method = [] if "--preset" in argv or "--method" in argv else ["--method", "mean"]
    try:
        code, _, stderr = _run(capsys, "segment", argv[0], "-o", out, *method, *argv[1:])
    except SystemExit as exc:  # argparse's own checks (a word for a number) exit from parse_args
        code, stderr = exc.code, capsys.readouterr().err
    assert code == 1
    assert stderr.startswith("bgsub: error: ") and stderr.count("\n") == 1, stderr
    assert expected in stderr
    assert not out.exists()
    assert not (out.parent.exists() and any(out.parent.iterdir()))  # no staging folder left either


def test_failed_run_leaves_an_older_output_untouched(tiny_cdnet: Path, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("older run")
    code, _, _ = _run(capsys, "segment", tiny_cdnet, "-o", out, "--train", "99")
    assert code == 1 and [p.name for p in out.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "tiny"]


def test_progress_without_a_terminal_writes_a_few_lines() -> None:
    out = io.StringIO()
    with Progress(5000, "segment", file=out) as bar:
        for _ in range(5000 // 64 + 1):
            bar.update(min(64, 5000 - bar.done))
    lines = out.getvalue().splitlines()
    assert 10 <= len(lines) <= 11 and "\r" not in out.getvalue() and lines[-1].startswith("bgsub: segment 5000/5000")


def test_progress_on_a_terminal_is_a_tqdm_bar() -> None:
    pytest.importorskip("tqdm")

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    with Progress(100, "segment", file=out) as bar:
        bar.update(100)
    assert "\r" in out.getvalue() and "100/100 frames" in out.getvalue()


def test_a_config_without_methods_runs_the_default_preset(tmp_path: Path) -> None:
    from bgsub.config import expand_runs, validate_config
    config = validate_config({"datasets": {"street": {"path": str(tmp_path / "street.mp4")}}})
    assert config["methods"] == {"gmm": {"preset": "default"}}
    (run,) = expand_runs(config["methods"])
    assert (run.name, run.threshold, run.postprocess) == ("gmm_k3", 7.81,
                                                         {"median": 5, "min_area": 30, "reference_size": 120})


def test_the_fitting_line_says_when_numba_compiles_the_kernels_first(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cold cache (a fresh install, or an update that changed the kernels): the fit compiles for minutes, and the
    fitting line says so; once the kind's fit kernels are cached, or on the numpy backend, it does not."""
    folder = tmp_path / "numba-cache"
    folder.mkdir()
    monkeypatch.setattr(cache, "_cache_folder", lambda: folder)
    monkeypatch.setenv("BGSUB_BACKEND", "numba")
    (folder / "online.update_frame-12.py311.nbi").write_bytes(b"")  # another kind's kernel
    assert "numba compiles its kernels" in compile_hint("gmm") and compile_hint("online_gmm") == ""
    assert compile_hint("mean") == ""  # nothing compiled
    video = tmp_path / "clip.mp4"
    write_video(video, _moving_square(), fps=10)
    code, _, stderr = _run(capsys, "segment", video, "-o", tmp_path / "cold", "--train", "24")
    assert code == 0 and "bgsub: fitting default" in stderr and "numba compiles its kernels" in stderr
    (folder / "em_lanes._fit3_lanes-391.py311.nbi").write_bytes(b"")
    assert compile_hint("gmm") == ""
    code, _, stderr = _run(capsys, "segment", video, "-o", tmp_path / "warm", "--train", "24")
    assert code == 0 and "bgsub: fitting default" in stderr and "numba compiles" not in stderr
    (folder / "em_lanes._fit3_lanes-391.py311.nbi").unlink()
    monkeypatch.setenv("BGSUB_BACKEND", "numpy")
    assert compile_hint("gmm") == ""  # no kernels on the reference path


def test_a_frame_larger_than_160x120_gets_the_default_s_filters_grown_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    """180x240 is 1.5x the 160x120 the default's filters are given at: the run says it filters with a 7x7 median and
    68-pixel blobs (half-width 2 x 1.5 = 3, 30 x 1.5^2 = 67.5), and its masks are those of the same run with those
    filters set by hand; a frame of 160x120 gets no note."""
    rng = np.random.default_rng(5)
    for name, (h, w) in {"large": (180, 240), "small": (120, 160)}.items():
        folder = tmp_path / name
        folder.mkdir()
        still = rng.uniform(40, 200, (h, w, 3)).astype(np.uint8)  # a still scene, a square crossing the last 4 frames
        for t in range(24):
            frame = still.copy()
            if t >= 20:
                frame[20:40, 10 * t - 190: 10 * t - 170] = 250
            if t >= 20:
                frame[120:128, 150:158] = 0  # an 8x8 dark square: left by the sizes as given, removed when grown
            iio.imwrite(folder / f"in{t + 1:06d}.png", frame)
    code, _, stderr = _run(capsys, "segment", tmp_path / "large", "-o", tmp_path / "out", "--train", "20")
    assert code == 0, stderr
    assert "mask filters for 240x180 frames: a 7x7 median, blobs under 68 pixels removed" in stderr, stderr
    code, stdout, stderr = _run(capsys, "segment", tmp_path / "large", "-o", tmp_path / "fixed", "--train", "20",
                                "--set", "postprocess={median: 7, min_area: 68}")
    assert code == 0 and "mask filters for" not in stderr, stderr
    code, stdout, stderr = _run(capsys, "segment", tmp_path / "large", "-o", tmp_path / "as_given", "--train", "20",
                                "--set", "postprocess={median: 5, min_area: 30}")
    assert code == 0, stderr
    masks = sorted((tmp_path / "out" / "masks").glob("bin*.png"))
    assert len(masks) == 4
    grown_differs = False
    for path in masks:
        grown = iio.imread(path)
        np.testing.assert_array_equal(grown, iio.imread(tmp_path / "fixed" / "masks" / path.name))
        grown_differs |= bool((grown != iio.imread(tmp_path / "as_given" / "masks" / path.name)).any())
    assert grown_differs  # the square: left by the sizes as given, removed by the grown ones
    code, _, stderr = _run(capsys, "segment", tmp_path / "small", "-o", tmp_path / "small_out", "--train", "20")
    assert code == 0 and "mask filters for" not in stderr, stderr


def test_cdnet_config_lists_a_tree_s_videos_for_the_workflow(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    dataset = tmp_path / "cdnet2014" / "dataset"
    for video, scene in (("baseline/pedestrians", "static"), ("shadow/cubicle", "shadows")):
        write_cdnet(make_scene(scene, seed=1, height=16, width=20, n_train=6, n_test=4), dataset / video)
    config_file = tmp_path / "cdnet.yaml"
    assert main(["cdnet-config", str(dataset), "-o", str(config_file)]) == 0
    assert capsys.readouterr().out == f"bgsub: 2 videos in 2 categories -> {config_file}\n"
    config = yaml.safe_load(config_file.read_text())
    assert config == {"datasets": {
        "pedestrians": {"path": str(dataset / "baseline" / "pedestrians"), "category": "baseline"},
        "cubicle": {"path": str(dataset / "shadow" / "cubicle"), "category": "shadow"},
    }}
    assert main(["cdnet-config", str(dataset), "--categories", "shadow"]) == 0  # printed, not written
    assert list(yaml.safe_load(capsys.readouterr().out)["datasets"]) == ["cubicle"]

    # the workflow takes it as a config of its own (make run CONFIG=...): the default method on both videos,
    # each video's category its own mean
    done = run_snakemake(tmp_path / "work", config, "results/categories.csv")
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(tmp_path / "work" / "results" / "summary.csv").set_index("dataset")
    assert sorted(summary.index) == ["cubicle", "pedestrians"] and set(summary["run"]) == {"gmm_k3"}
    categories = pd.read_csv(tmp_path / "work" / "results" / "categories.csv").set_index(["level", "category"])
    for video, category in (("pedestrians", "baseline"), ("cubicle", "shadow")):
        assert categories.loc[("category", category), "f_measure"] == pytest.approx(summary.loc[video, "f_measure"])
