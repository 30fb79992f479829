"""Summaries across videos and thresholds: CDnet category averages and the area under a PR curve.

CDnet 2014 averages in two steps: a video's metrics come from its confusion
counts summed over its scored frames (one row of ``results/summary.csv``); a
category's metric is the mean of its videos' metrics; the overall metric is
the mean of the category means (so every category weighs the same, whatever
its number of videos). A metric that is undefined for a video (0/0, an empty
cell) is left out of the mean; a mean over no defined value is empty.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from bgsub.io import write_csv
from bgsub.metrics import METRIC_NAMES

__all__ = [
    "CATEGORY_COLUMNS",
    "TIMING_COLUMNS",
    "aggregate_categories",
    "write_categories",
    "average_precision",
    "collect_timings",
]

logger = logging.getLogger(__name__)

CATEGORY_COLUMNS = ["level", "category", "dataset", "method", "n_components", "run", "n_videos", "n_categories",
                    *METRIC_NAMES]


def aggregate_categories(summary: pd.DataFrame, categories: dict[str, str]) -> pd.DataFrame:
    """Per-video, per-category and overall metrics of every run, by CDnet's averaging.

    Parameters
    ----------
    summary : DataFrame
        Rows of ``results/summary.csv`` (one per dataset and run, with the metrics
        computed from the video's summed counts).
    categories : dict of str to str
        Category of each dataset; datasets not in it (e.g. synthetic scenes,
        non-CDnet sequences) are left out.

    Returns
    -------
    DataFrame
        Columns :data:`CATEGORY_COLUMNS`; ``level`` is ``video``, ``category`` or
        ``overall``. Rows are ordered by level, then category, then run.

    Examples
    --------
    >>> summary = pd.DataFrame({"dataset": ["a", "b", "c"], "method": "m", "n_components": None, "run": "m",
    ...                         **{name: [0.2, 0.4, 0.9] for name in METRIC_NAMES}})
    >>> table = aggregate_categories(summary, {"a": "x", "b": "x", "c": "y"})
    >>> table.loc[table["level"] != "video", ["level", "category", "f_measure"]].round(3).values.tolist()
    [['category', 'x', 0.3], ['category', 'y', 0.9], ['overall', '', 0.6]]
    """
    videos = summary[summary["dataset"].isin(list(categories))].copy()
    videos["category"] = videos["dataset"].map(categories)
    keys = ["method", "n_components", "run"]
    videos = videos.assign(level="video", n_videos=1, n_categories=1)
    metrics = list(METRIC_NAMES)
    for name in metrics:
        videos[name] = pd.to_numeric(videos[name], errors="coerce")
    cats = (
        videos.groupby(["category", *keys], sort=True, dropna=False)
        .agg(**{name: (name, "mean") for name in metrics}, n_videos=("dataset", "size"))
        .reset_index()
        .assign(level="category", dataset="", n_categories=1)
    )
    overall = (
        cats.groupby(keys, sort=False, dropna=False)
        .agg(**{name: (name, "mean") for name in metrics}, n_videos=("n_videos", "sum"),
             n_categories=("category", "size"))
        .reset_index()
        .assign(level="overall", category="", dataset="")
    )
    videos = videos.sort_values(["category", "dataset", "run"])
    table = pd.concat([videos, cats, overall], ignore_index=True)[CATEGORY_COLUMNS]
    table["n_components"] = table["n_components"].astype("Int64")
    return table


def write_categories(summary_path: Path, categories: dict[str, str], output: Path) -> None:
    """Read ``results/summary.csv`` and write the CDnet averages (``results/categories.csv``)."""
    summary = pd.read_csv(summary_path, dtype={"n_components": "Int64"})
    unknown = sorted(set(categories) - set(summary["dataset"]))
    if unknown:
        logger.warning("datasets with a category but no summary rows (no ground truth?): %s", ", ".join(unknown))
    table = aggregate_categories(summary, categories)
    logger.info("%d categories over %d videos", table["category"][table["level"] == "category"].nunique(),
                int((table["level"] == "video").sum()))
    write_csv(output, table)


def average_precision(recall: ArrayLike, precision: ArrayLike) -> float | None:
    """Area under a precision-recall curve given at a set of thresholds, by step interpolation.

    ``sum_n (R_n - R_{n-1}) P_n`` over the points sorted by increasing recall,
    with ``R_0 = 0``: scikit-learn's ``average_precision_score`` when the points
    are every distinct threshold of the scores. Points with an undefined
    precision or recall (NaN, nothing detected) are dropped. A method with a
    binary output has one point and its area is ``R * P``.

    Parameters
    ----------
    recall, precision : array-like of shape (n,)

    Returns
    -------
    float or None
        None when no point is defined.

    Examples
    --------
    >>> average_precision([0.5, 1.0, 0.0], [1.0, 0.5, float("nan")])
    0.75
    """
    recall = np.asarray(recall, float)
    precision = np.asarray(precision, float)
    keep = np.isfinite(recall) & np.isfinite(precision)
    if not keep.any():
        return None
    recall, precision = recall[keep], precision[keep]
    # increasing recall; at equal recall the highest precision (the point reached with the fewest detections)
    order = np.lexsort((-precision, recall))
    recall, precision = recall[order], precision[order]
    steps = np.diff(np.concatenate([[0.0], recall]))
    return float(np.sum(steps * precision))


TIMING_COLUMNS = ["rule", "dataset", "run", "s", "cpu_time", "max_rss_mb", "frames", "fps"]


def _job_frames(rule: str, split: dict | None) -> int | None:
    if split is None:
        return None
    if rule == "fit":
        return len(split["train_frames"])
    if rule == "score":
        return split["test"][1] - split["test"][0] + 1
    return None


def _benchmark_job(path: Path, root: Path) -> dict[str, str] | None:
    """``{"rule", "dataset", "run"}`` of ``root/{rule}/{dataset}.tsv`` or ``root/{rule}/{dataset}/{run}[/...].tsv``."""
    parts = path.relative_to(root).with_suffix("").parts
    if len(parts) < 2:
        return None
    return {"rule": parts[0], "dataset": parts[1], "run": parts[2] if len(parts) > 2 else "",
            "part": "/".join(parts[3:])}


def collect_timings(benchmark_root: Path, split_paths: dict[str, Path], runs: list[str], output: Path) -> None:
    """Gather the Snakemake ``benchmark:`` files of the configured datasets and runs into one table.

    Parameters
    ----------
    benchmark_root : Path
        ``results/benchmarks``: files ``{rule}/{dataset}.tsv`` or ``{rule}/{dataset}/{run}[/{part}].tsv``.
    split_paths : dict of str to Path
        ``split.json`` of each configured dataset (for the number of frames a fit or score job read);
        benchmark files of other datasets (left from older configs) are ignored.
    runs : list of str
        The configured runs; files of other runs are ignored.
    output : Path
        CSV with columns :data:`TIMING_COLUMNS` (``results/timings.csv``), sorted by rule, dataset and run;
        ``fps`` = frames read per wall-clock second.
    """
    import json

    splits = {name: json.loads(Path(p).read_text()) for name, p in split_paths.items()}
    rows = []
    root = Path(benchmark_root)
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        job = _benchmark_job(path, root)
        if job is None or job["dataset"] not in splits or (job["run"] and job["run"] not in runs):
            continue
        bench = pd.read_csv(path, sep="\t")
        seconds = float(bench["s"].iloc[-1])
        frames = _job_frames(job["rule"], splits[job["dataset"]]) if not job["part"] else None
        rows.append({
            "rule": job["rule"] + (f"[{job['part']}]" if job["part"] else ""),
            "dataset": job["dataset"],
            "run": job["run"],
            "s": seconds,
            "cpu_time": float(bench["cpu_time"].iloc[-1]) if "cpu_time" in bench else None,
            "max_rss_mb": pd.to_numeric(bench["max_rss"], errors="coerce").iloc[-1] if "max_rss" in bench else None,
            "frames": frames,
            "fps": frames / seconds if frames and seconds > 0 else None,
        })
    table = pd.DataFrame(rows, columns=TIMING_COLUMNS)
    table["frames"] = table["frames"].astype("Int64")
    logger.info("%d benchmark files under %s", len(table), root)
    write_csv(output, table)
