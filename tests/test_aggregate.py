"""CDnet averaging (video -> category -> overall), the PR area, and the timing table, against hand computations."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from bgsub.aggregate import CATEGORY_COLUMNS, aggregate_categories, average_precision, collect_timings
from bgsub.metrics import COUNT_NAMES, ThresholdSweep, compute_metrics
from bgsub.pipeline import SUMMARY_COLUMNS


def _summary(counts: dict[tuple[str, str], tuple[int, int, int, int]]) -> pd.DataFrame:
    rows = [{"dataset": d, "method": r, "n_components": None, "run": r, "threshold": 1.0,
             **dict(zip(COUNT_NAMES, c)), **compute_metrics(*c)} for (d, r), c in counts.items()]
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def test_category_and_overall_means_match_a_hand_computation():
    # (tp, fp, fn, tn) summed over each video's frames
    summary = _summary({
        ("a", "m"): (8, 2, 2, 88),    # recall 0.8,  precision 0.8, F 0.8
        ("b", "m"): (3, 1, 1, 95),    # recall 0.75, precision 0.75, F 0.75
        ("c", "m"): (1, 0, 3, 96),    # recall 0.25, precision 1.0, F 0.4
        ("synthetic", "m"): (50, 0, 0, 50),  # no category: left out
    })
    table = aggregate_categories(summary, {"a": "baseline", "b": "baseline", "c": "dynamic"})
    assert list(table.columns) == CATEGORY_COLUMNS
    assert table["level"].tolist() == ["video"] * 3 + ["category"] * 2 + ["overall"]
    videos = table[table["level"] == "video"]
    assert videos["dataset"].tolist() == ["a", "b", "c"]
    cats = table[table["level"] == "category"].set_index("category")
    assert cats.loc["baseline", "f_measure"] == pytest.approx((0.8 + 0.75) / 2)
    assert cats.loc["baseline", "recall"] == pytest.approx((0.8 + 0.75) / 2)
    assert cats.loc["dynamic", "precision"] == pytest.approx(1.0)
    assert cats.loc["baseline", "n_videos"] == 2
    overall = table[table["level"] == "overall"].iloc[0]
    # the mean of the category means (0.775 and 0.4), not of the three videos (0.65)
    assert overall["f_measure"] == pytest.approx((0.775 + 0.4) / 2)
    assert overall["pwc"] == pytest.approx(((4.0 + 2.0) / 2 + 3.0) / 2)
    assert overall["n_videos"] == 3 and overall["n_categories"] == 2


def test_undefined_metrics_are_left_out_of_means_and_never_nan_strings():
    summary = _summary({("a", "m"): (0, 0, 5, 95), ("b", "m"): (2, 2, 0, 96), ("c", "m"): (0, 0, 0, 100)})
    table = aggregate_categories(summary, {"a": "x", "b": "x", "c": "y"})
    cats = table[table["level"] == "category"].set_index("category")
    assert cats.loc["x", "precision"] == pytest.approx(0.5)  # a has no precision (nothing detected)
    assert pd.isna(cats.loc["y", "recall"])  # c has nothing to detect: no recall at all
    overall = table[table["level"] == "overall"].iloc[0]
    assert overall["recall"] == pytest.approx(0.5)  # mean of x (0 and 1 -> 0.5); y undefined


def test_several_runs_are_averaged_separately():
    summary = _summary({("a", "m1"): (1, 1, 0, 8), ("a", "m2"): (1, 0, 1, 8)})
    table = aggregate_categories(summary, {"a": "x"})
    overall = table[table["level"] == "overall"].set_index("run")
    assert overall.loc["m1", "precision"] == pytest.approx(0.5)
    assert overall.loc["m2", "precision"] == pytest.approx(1.0)


def test_average_precision_equals_scikit_learn_over_every_threshold():
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.3
    scores = np.where(truth, rng.integers(3, 20, 400), rng.integers(0, 12, 400)).astype(np.float32)
    # thresholds just below every distinct score: `score > t` is then `score >= value`, as scikit-learn counts
    sweep = ThresholdSweep(np.unique(scores) - 0.5)
    sweep.update(scores[None], np.where(truth, 255, 0).astype(np.uint8)[None])
    counts = sweep.counts()
    metrics = [compute_metrics(*(int(counts[k][i]) for k in COUNT_NAMES)) for i in range(len(sweep.thresholds))]
    recall = [np.nan if m["recall"] is None else m["recall"] for m in metrics]
    precision = [np.nan if m["precision"] is None else m["precision"] for m in metrics]
    assert average_precision(recall, precision) == pytest.approx(average_precision_score(truth, scores), abs=1e-12)


def test_average_precision_of_a_binary_method_and_of_nothing():
    assert average_precision([0.6, 0.0], [0.5, np.nan]) == pytest.approx(0.3)
    assert average_precision([np.nan], [np.nan]) is None


def test_timings_table_reads_benchmarks_of_configured_jobs(tmp_path: Path):
    bench = tmp_path / "benchmarks"
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    for rel, seconds in (("fit/d/mean.tsv", 2.0), ("score/d/mean.tsv", 4.0), ("split/d.tsv", 1.0),
                         ("fit/old/mean.tsv", 9.0), ("fit/d/gone.tsv", 9.0)):
        (bench / rel).parent.mkdir(parents=True, exist_ok=True)
        (bench / rel).write_text(header + f"{seconds}\t0:00:02\t100.5\t1\t1\t1\t0\t0\t50\t1.5\n")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"train_frames": list(range(1, 11)), "test": [11, 30]}))
    collect_timings(bench, {"d": split}, ["mean"], tmp_path / "timings.csv")
    table = pd.read_csv(tmp_path / "timings.csv").fillna({"run": ""})
    assert table[["rule", "dataset", "run"]].values.tolist() == [["fit", "d", "mean"], ["score", "d", "mean"],
                                                                   ["split", "d", ""]]
    assert table["fps"].tolist()[:2] == [pytest.approx(10 / 2.0), pytest.approx(20 / 4.0)]
    assert table["max_rss_mb"].tolist() == [100.5] * 3


def test_markdown_table_has_configured_and_tuned_f(tmp_path: Path, capsys):
    from bgsub.tables import main

    summary = _summary({("hw", "mean"): (8, 2, 2, 88), ("hw", "knn"): (0, 0, 5, 95)})
    summary.to_csv(tmp_path / "summary.csv", index=False)
    sweep = pd.concat([summary.assign(threshold=t, f_measure=f) for t, f in ((0.0, 0.5), (1.0, 0.9))])
    sweep.to_csv(tmp_path / "sweep.csv", index=False)
    assert main([str(tmp_path / "summary.csv"), "--dataset", "hw", "--sweep", str(tmp_path / "sweep.csv")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| method | threshold | recall | precision | F-measure | best F")
    assert lines[2] == "| mean | 1.000 | 0.800 | 0.800 | 0.800 | 0.900 | 1.000 |"
    assert lines[3] == "| knn | 1.000 | 0.000 | — | 0.000 | 0.900 | 1.000 |"
    assert main([str(tmp_path / "summary.csv"), "--dataset", "nope"]) == 1
