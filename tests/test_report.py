"""The CDnet overlay path end to end on tiny data: config/cdnet.yaml's methods merged over a base config, two
CDnet-layout videos (one with an ROI.bmp excluding pixels) in one category, the report, and `make figures`' plan."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest
import yaml

from bgsub.io import read_labels
from bgsub.metrics import counted_pixels
from tests.conftest import ROOT, run_snakemake

pytest.importorskip("cv2")

SWEEP = {"threshold": 30, "sweep": [0, 150, 16]}


def _roi_video(tiny_cdnet: Path, folder: Path) -> Path:
    """A copy of the tiny video whose ROI.bmp leaves out its 10 leftmost columns."""
    shutil.copytree(tiny_cdnet, folder)
    roi = np.full(read_labels(tiny_cdnet / "ROI.bmp").shape, 255, np.uint8)
    roi[:, :10] = 0
    iio.imwrite(folder / "ROI.bmp", roi)
    return folder


def _counted(folder: Path) -> int:
    """Pixels CDnet counts in a video, from its files: scored frames, inside ROI.bmp, labels 0/50/255."""
    first, last = (int(v) for v in (folder / "temporalROI.txt").read_text().split())
    roi = read_labels(folder / "ROI.bmp") > 0
    total = 0
    for n in range(first, last + 1):
        positive, negative = counted_pixels(read_labels(folder / "groundtruth" / f"gt{n:06d}.png"), roi)
        total += int(positive.sum() + negative.sum())
    return total


def _mp4_frames(path: Path) -> int:
    import imageio_ffmpeg

    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)
    try:
        return sum(1 for _ in reader)
    finally:
        reader.close()


def test_cdnet_overlay_report_and_figures_plan(tmp_path: Path, tiny_cdnet: Path):
    work = tmp_path / "work"
    video_b = _roi_video(tiny_cdnet, tmp_path / "video_b")
    base = {"datasets": {"video_a": {"path": str(tiny_cdnet), "category": "baseline"}},
            "methods": {"mean": dict(SWEEP), "median": dict(SWEEP)},
            "figures": {"dpi": 40, "gif_frames": 6, "grid_frames": 2}}
    overlay = yaml.safe_load((ROOT / "config" / "cdnet.yaml").read_text())
    overlay["datasets"] = {"video_b": {"path": str(video_b), "category": "baseline"}}  # the real ones live in ../shared
    (tmp_path / "overlay.yaml").write_text(yaml.safe_dump(overlay))

    done = run_snakemake(work, base, "--configfile", str(tmp_path / "overlay.yaml"))
    assert done.returncode == 0, done.stderr[-3000:]
    results = work / "results"

    summary = pd.read_csv(results / "summary.csv")
    runs = ["mean", "median", "opencv_mog2", "opencv_knn"]
    expected = sorted((d, r) for d in ("video_a", "video_b") for r in runs)
    assert sorted(zip(summary["dataset"], summary["run"])) == expected
    by = summary.set_index(["dataset", "run"])
    assert by.loc[("video_b", "mean"), "threshold"] == 30  # the overlay's `mean: {}` kept the base settings
    assert by.loc[("video_a", "opencv_knn"), "threshold"] == 0.5  # the peers' default threshold

    # ROI.bmp: video_b counts only its pixels inside the ROI, as counted independently from its files
    counts = summary.assign(total=summary[["tp", "fp", "fn", "tn"]].sum(axis=1)).set_index(["dataset", "run"])
    assert _counted(video_b) < _counted(tiny_cdnet)
    for run in runs:
        assert counts.loc[("video_b", run), "total"] == _counted(video_b)
        assert counts.loc[("video_a", run), "total"] == _counted(tiny_cdnet)

    # category = mean of its videos' F (each from summed counts); overall = mean of the category means
    categories = pd.read_csv(results / "categories.csv")
    for run in runs:
        rows = categories[categories["run"] == run].set_index("level")
        videos_f = [by.loc[(d, run), "f_measure"] for d in ("video_a", "video_b")]
        assert rows.loc["category", "f_measure"] == pytest.approx(np.mean(videos_f), abs=1e-6)
        assert rows.loc["overall", "f_measure"] == pytest.approx(np.mean(videos_f), abs=1e-6)

    for dataset in ("video_a", "video_b"):
        for name in ("backgrounds.png", "masks.png", "f_threshold.png", "pr.png", "f_frames.png"):
            assert (results / dataset / "figures" / name).stat().st_size > 0
        for run in runs:
            assert 1 <= _mp4_frames(results / dataset / "figures" / f"overlay_{run}.mp4") <= 6
        assert (results / dataset / "figures" / "overlays.html").read_text().count("data:video/mp4;base64,") == 4
    for name in ("f_measure.png", "timings.png"):
        assert (results / "figures" / name).stat().st_size > 0
    assert not (results / "figures" / "f_k.png").exists()  # no method ran at more than one K
    timings = pd.read_csv(results / "timings.csv")
    for rule in ("fit", "score"):
        assert sorted(timings.loc[timings["rule"] == rule, "run"]) == sorted(runs * 2)
    assert "opencv_knn" in (results / "summary.html").read_text()

    report = run_snakemake(work, base, "--configfile", str(tmp_path / "overlay.yaml"),
                           "--report", str(results / "report.html"))
    assert report.returncode == 0, report.stderr[-3000:]
    assert (results / "report.html").stat().st_size > 10_000

    # `make figures`: forcing the figure and report rules plans nothing else (no fit, no score)
    rules = [r for r in re.findall(r"^rule (\w+):", "".join(
        (ROOT / "workflow" / "rules" / f).read_text() for f in ("figures.smk", "report.smk")), flags=re.M)]
    plan = run_snakemake(work, base, "--configfile", str(tmp_path / "overlay.yaml"), "--dry-run",
                         "--forcerun", *rules)
    planned = set(re.findall(r"^(?:local)?rule (\w+):", plan.stdout, flags=re.M))
    assert planned and planned <= {*rules, "all"}, planned
