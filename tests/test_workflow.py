"""The Snakemake workflow end to end on tiny data: outputs, reruns and errors."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pandas as pd
import pytest

from bgsub.pipeline import SUMMARY_COLUMNS
from tests.conftest import run_snakemake

TINY = {"height": 24, "width": 32, "n_train": 20, "n_test": 8, "n_objects": 3}
SUMMARY = "results/summary.csv"
METHODS = {"mean": {"threshold": 30, "sweep": [0, 150, 16]}, "median": {"threshold": 30, "sweep": [0, 150, 16]}}


def _config(tiny_cdnet: Path, gif: Path) -> dict:
    return {
        "datasets": {
            "dyn": {"synthetic": {"scene": "dynamic", "seed": 1, **TINY}},
            "cdnet": {"path": str(tiny_cdnet)},
            "clip": {"path": str(gif), "train_fraction": 0.6},
        },
        "methods": copy.deepcopy(METHODS),
    }


@pytest.fixture
def gif(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "clip.gif"
    iio.imwrite(path, rng.integers(0, 256, (10, 12, 16, 3), dtype=np.uint8), loop=0)
    return path


def test_end_to_end_outputs_and_rerun_scope(tmp_path: Path, tiny_cdnet: Path, gif: Path):
    work = tmp_path / "work"
    config = _config(tiny_cdnet, gif)
    done = run_snakemake(work, config)
    assert done.returncode == 0, done.stderr[-3000:]

    summary = pd.read_csv(work / "results" / "summary.csv")
    assert list(summary.columns) == SUMMARY_COLUMNS
    assert sorted(zip(summary["dataset"], summary["run"])) == [
        ("cdnet", "mean"), ("cdnet", "median"), ("dyn", "mean"), ("dyn", "median")
    ]  # the GIF has no ground truth: masks and images, no rows
    assert summary["n_components"].isna().all()
    assert not summary[["tp", "fp", "fn", "tn"]].isna().any().any()

    for dataset, frames in (("dyn", range(21, 29)), ("cdnet", range(31, 41)), ("clip", range(7, 11))):
        for run in METHODS:
            masks = sorted((work / "results" / dataset / run / "masks").glob("*.png"))
            assert [m.name for m in masks] == [f"bin{n:06d}.png" for n in frames]
            assert set(np.unique(iio.imread(masks[0]))) <= {0, 255}
            assert (work / "results" / dataset / run / "background.png").is_file()
        assert (work / "results" / dataset / "figures" / "masks.png").is_file()
    assert (work / "results" / "dyn" / "figures" / "f_threshold.png").is_file()
    sweep = pd.read_csv(work / "results" / "dyn" / "sweep.csv")
    assert len(sweep) == 2 * 16 and list(sweep.columns) == SUMMARY_COLUMNS
    # progress lines in the rule logs: frames done / total, fps, time left (the last line: the time taken)
    for step, line in (("fit", "reading training frames 30/30"), ("score", "scoring 10/10")):
        log = (work / "results" / "logs" / step / "cdnet" / "mean.log").read_text()
        assert re.search(rf"cdnet/mean: {line} frames \(100 %\), [\d.]+ fps in \d+:\d\d", log), log

    # nothing to do when nothing changed
    again = run_snakemake(work, config, "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr
    # a new sweep for `mean` reruns its scoring (and what reads it), never a fit
    config["methods"]["mean"]["sweep"] = [0, 100, 11]
    plan = run_snakemake(work, config, "--dry-run")
    jobs = set(re.findall(r"^rule (\w+):", plan.stdout, flags=re.M))
    assert "score" in jobs and "evaluate" in jobs
    assert "fit" not in jobs and "split" not in jobs and "synthesize" not in jobs
    assert len(re.findall(r"^rule score:", plan.stdout, flags=re.M)) == 3  # mean on 3 datasets, not median


def test_models_not_kept_are_deleted_once_scored_and_refitted_on_demand(tmp_path: Path):
    config = {"datasets": {"dyn": {"synthetic": {"scene": "dynamic", "seed": 1, **TINY}}},
              "methods": copy.deepcopy(METHODS), "keep_models": False}
    work = tmp_path / "work"
    done = run_snakemake(work, config, SUMMARY)  # the figures read no models: test_end_to_end draws them
    assert done.returncode == 0, done.stderr[-3000:]
    results = work / "results" / "dyn"
    assert not list(results.glob("*/model.npz"))
    for run in METHODS:
        assert (results / run / "background.png").is_file() and len(list((results / run / "masks").glob("*.png"))) == 8
    again = run_snakemake(work, config, SUMMARY, "--dry-run")  # deleted models do not make the run out of date
    assert "Nothing to be done" in again.stdout + again.stderr
    before = pd.read_csv(work / "results" / "summary.csv")
    config["methods"]["mean"]["threshold"] = 40  # a new threshold needs the model again: it is refitted
    plan = run_snakemake(work, config, SUMMARY, "--dry-run")
    assert re.findall(r"^rule (fit|score):", plan.stdout, flags=re.M) == ["fit", "score"], plan.stdout[-3000:]
    assert run_snakemake(work, config, SUMMARY).returncode == 0
    assert not list(results.glob("*/model.npz"))
    after = pd.read_csv(work / "results" / "summary.csv").set_index("run")
    assert after.loc["mean", "threshold"] == 40 and before.set_index("run").loc["median"].equals(after.loc["median"])


def _error_line(result) -> str:
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("bgsub: error:")]
    assert lines, result.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda c: c.update(colour="red"), "config key (top level): Additional properties"),
        (lambda c: c["methods"]["mean"].update(threshold="high"), "config key methods.mean.threshold"),
        (lambda c: c["datasets"]["cdnet"].update(train=[1, 500]), "config key datasets.cdnet.train"),
        (lambda c: c["datasets"]["cdnet"].update(path="/no/such/folder"), "/no/such/folder"),
        (lambda c: c["methods"]["mean"].update(kind="nonsense"), "unknown method kind 'nonsense'"),
        (lambda c: c["methods"]["mean"].update(colour=3), "config key methods.mean"),
        (lambda c: c["methods"]["mean"].update(preset="nonsense"), "config key methods.mean.preset: unknown preset"),
    ],
)
def test_bad_config_one_line_error_no_results(tmp_path: Path, tiny_cdnet: Path, gif: Path, change, key):
    config = _config(tiny_cdnet, gif)
    del config["datasets"]["dyn"]
    change(config)
    work = tmp_path / "work"
    result = run_snakemake(work, config)
    assert result.returncode != 0
    assert key in _error_line(result)
    assert not (work / "results" / "summary.csv").exists()


def test_bad_ground_truth_stops_before_any_result(tmp_path: Path, tiny_cdnet: Path, gif: Path):
    iio.imwrite(tiny_cdnet / "groundtruth" / "gt000035.png", np.zeros((10, 10), np.uint8))
    config = _config(tiny_cdnet, gif)
    config["datasets"] = {"cdnet": config["datasets"]["cdnet"]}
    work = tmp_path / "work"
    result = run_snakemake(work, config)
    assert result.returncode != 0
    assert "gt000035.png is 10x10, expected 32x24" in _error_line(result)
    assert not (work / "results" / "cdnet" / "split.json").exists()
    assert not list((work / "results").glob("cdnet/*/model.npz"))


def test_runs_come_from_presets_and_travel_as_plain_data():
    from bgsub.config import Run, expand_runs
    from bgsub.presets import preset_settings

    runs = expand_runs({"gmm": {"preset": "default", "n_components": [1, 3]}, "online": {"preset": "online"}})
    assert [r.name for r in runs] == ["gmm_k1", "gmm_k3", "online"]
    preset = preset_settings("default")
    assert runs[1].threshold == preset["threshold"] and runs[1].postprocess == preset["postprocess"]
    assert runs[1].params["var_min"] == preset["var_min"] and runs[2].kind == "online_gmm"
    for run in runs:  # what a rule's params carry: repr-able data (Snakemake reruns a job when it changes)
        assert Run.from_dict(run.to_dict()) == run
        fit_only = run.to_dict(fit=True)
        assert "threshold" not in fit_only and "sweep" not in fit_only and "postprocess" not in fit_only
        assert Run.from_dict(fit_only).model_params == run.model_params


# The default path, checked from the outside on the shipped config's run (tests/conftest.py `shipped_run`):
# each run's masks are its scores, post-processed as configured, above its threshold, computed here from the
# stored model in one pass over the test frames (the workflow scores blocks of 4); its summary counts are
# those of the mask PNGs against the ground truth by CDnet's rules, counted here by hand.
SHIPPED_RUNS = ["gmm_k3", "gmm_batch_k3", "gmm_background_k3", "mean", "median", "online_gmm", "online_gmm_warm",
                "online_gmm_noshadow"]


def _stack(folder: Path, pattern: str, numbers: range) -> np.ndarray:
    return np.stack([iio.imread(folder / (pattern % n)) for n in numbers])


@pytest.mark.parametrize("run", SHIPPED_RUNS)
def test_masks_are_thresholded_postprocessed_scores_and_counts_are_the_masks(shipped_run: Path, run: str):
    from bgsub.models import load_model
    from bgsub.postprocess import postprocess_scores
    from tests.conftest import shipped_config

    results = shipped_run / "results" / "shipped"
    data = shipped_run / "resources" / "synthetic" / "shipped"
    method_name = run.removesuffix("_k3")
    settings = shipped_config()["methods"][method_name]
    first, last = json.loads((results / "split.json").read_text())["test"]
    numbers = range(first, last + 1)
    frames = _stack(data / "input", "in%06d.png", numbers)

    masks = _stack(results / run / "masks", "bin%06d.png", numbers)
    assert masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 255}
    raw = load_model(results / run / "model.npz").foreground_scores(frames)  # adaptive ones learn: a fresh copy each
    scores = postprocess_scores(load_model(results / run / "model.npz").foreground_scores(frames),
                                settings.get("postprocess"))
    want = scores > settings["threshold"]
    np.testing.assert_array_equal(masks == 255, want)
    assert 0 < want.sum() < want.size
    if run == "gmm_k3":  # the default's post-processing (5x5 median, blobs under 30 px removed) changes masks here
        assert (want != (raw > settings["threshold"])).sum() > 50

    # CDnet counts by hand: frames of the test range inside temporalROI.txt; pixels inside ROI.bmp whose label is
    # 255 (motion, positive), 0 or 50 (static, shadow: negative); 85 and 170 are not counted
    roi_first, roi_last = map(int, (data / "temporalROI.txt").read_text().split())
    scored = [i for i, n in enumerate(numbers) if roi_first <= n <= roi_last]
    labels = _stack(data / "groundtruth", "gt%06d.png", numbers)[scored]
    fg, inside = masks[scored] == 255, (iio.imread(data / "ROI.bmp") > 0)[None]
    positive, negative = inside & (labels == 255), inside & ((labels == 0) | (labels == 50))
    counts = {"tp": fg & positive, "fp": fg & negative, "fn": ~fg & positive, "tn": ~fg & negative}
    row = pd.read_csv(shipped_run / "results" / "summary.csv").set_index("run").loc[run]
    assert {k: int(row[k]) for k in counts} == {k: int(v.sum()) for k, v in counts.items()}
    assert row["tp"] > 0 and row["fp"] + row["fn"] > 0  # not a trivial scene
