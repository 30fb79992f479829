"""The ablation: variants are runs of the workflow; while choosing, nothing of the reported slices is computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgsub import ablation
from bgsub.config import expand_runs
from bgsub.presets import preset_settings
from bgsub.tally import ScoreTally

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def config() -> dict:
    return ablation.load_config(ROOT)


def _dataset_of_target(target: str) -> str:
    return target.split("/")[1]


def test_choosing_computes_nothing_past_highway_frame_899_and_no_wavingtrees(config: dict):
    names = list(ablation.variants(config))
    plan = ablation.plan(config, names, ablation.CHOOSING_SLICES)
    datasets = {_dataset_of_target(t) for t in plan.targets}
    synthetic = {name for name, spec in config["datasets"].items() if "synthetic" in spec}
    assert datasets == {"highway_validation"} | synthetic and len(synthetic) == 7
    # the only real sequence asked for runs (and so reads) no test frame after 899; its training frames come before
    spec = config["datasets"]["highway_validation"]
    assert spec["test"][1] == 899 and "train" not in spec  # CDnet default: the frames before the temporal ROI (470)
    assert ablation.HIGHWAY_SLICES["validation"] == (470, 899)
    assert len(plan.targets) == len(names) * len(datasets)


def test_all_slices_ask_for_the_whole_highway_run_and_wavingtrees(config: dict):
    plan = ablation.plan(config, ["default"], ablation.ALL_SLICES)
    datasets = [_dataset_of_target(t) for t in plan.targets]
    assert datasets[:2] == ["highway", "wavingtrees"] and "highway_validation" not in datasets
    assert plan.datasets["test"] == plan.datasets["full"] == ["highway"]
    with pytest.raises(ValueError, match="unknown slices"):
        ablation.plan(config, ["default"], ("tuning",))
    with pytest.raises(ValueError, match="unknown variants"):
        ablation.plan(config, ["no_such_variant"], ("validation",))


def test_errors_without_the_test_slice_are_refused(tmp_path: Path):
    with pytest.raises(SystemExit):
        ablation.main(["--slices", "choosing", "--errors", str(tmp_path / "e.csv"), "--out", str(tmp_path / "a.csv")])


def test_variants_are_the_default_preset_with_one_change(config: dict):
    runs = ablation.variants(config)  # expand_runs checked every setting
    default = runs["default"]
    (from_preset,) = expand_runs({"gmm": {"preset": "default"}})
    assert (default.params, default.threshold, default.sweep, default.postprocess) == (
        from_preset.params, from_preset.threshold, from_preset.sweep, from_preset.postprocess)
    preset = preset_settings("default")
    for name, run in runs.items():
        changed = {k for k in {*run.params, *default.params} if run.params.get(k) != default.params.get(k)}
        if run.postprocess != default.postprocess:
            changed.add("postprocess")
        assert name == "default" or changed, name
        assert run.threshold == preset["threshold"], name  # one threshold for every variant and slice


def test_assemble_sums_per_frame_counts_by_slice(config: dict, tmp_path: Path):
    names = ["default", "no_gain"]
    plan = ablation.plan(config, names, ablation.ALL_SLICES)
    runs = ablation.variants(config)
    rng = np.random.default_rng(0)
    truth: dict = {}
    for target in plan.targets:
        dataset, run = target.split("/")[1:3]
        numbers = range(470, 1701) if dataset == "highway" else [248] if dataset == "wavingtrees" else range(101, 201)
        frames = np.array([(n, *rng.integers(0, 100, 4)) for n in numbers], np.int64)
        tally = ScoreTally(np.array([0.0, 1.0]), 1.0, [])
        tally.frames = [tuple(int(v) for v in row) for row in frames]
        path = tmp_path / target
        path.parent.mkdir(parents=True)
        tally.save(path)
        truth[dataset, run] = frames
    table = ablation.assemble(config, names, plan, results=tmp_path / "results")
    for variant in names:
        rows = table[table["variant"] == variant].set_index("slice")
        highway = truth["highway", runs[variant].name]
        test = highway[(highway[:, 0] >= 900) & (highway[:, 0] <= 1700)]
        assert rows.loc["test", "tp"] == test[:, 1].sum() and rows.loc["full", "tn"] == highway[:, 4].sum()
        assert rows.loc["validation", "fp"] == highway[highway[:, 0] <= 899, 2].sum()
        synthetic = sum(truth[d, runs[variant].name][:, 3].sum() for d in plan.datasets["synthetic"])
        assert rows.loc["synthetic", "fn"] == synthetic
        assert rows.loc["wavingtrees", "tp"] == truth["wavingtrees", runs[variant].name][0, 1]
        assert {f"synthetic_{d}" for d in plan.datasets["synthetic"]} <= set(rows.index)


def test_snakemake_gets_the_targets_before_options_that_take_several_values(monkeypatch: pytest.MonkeyPatch):
    seen: list = []

    class Done:
        returncode = 0

    monkeypatch.setattr(ablation.subprocess, "run", lambda command, **kwargs: seen.append(command) or Done())
    ablation._snakemake(["results/a/r/counts.npz", "results/b/r/counts.npz"], Path("config/ablation.yaml"), "2",
                        ["--dry-run"])
    (command,) = seen
    assert command[1:3] == ["results/a/r/counts.npz", "results/b/r/counts.npz"]
    assert command[-2:] == ["--configfile", "config/ablation.yaml"]  # nothing after it for --configfile to swallow
