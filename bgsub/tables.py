"""Result tables for people: a markdown table for the README and an HTML page for the report.

Command line (prints a markdown table of one dataset from ``results/summary.csv``)::

    python -m bgsub.tables results/summary.csv --dataset highway [--sweep results/highway/sweep.csv]
"""

from __future__ import annotations

import argparse
import html
import logging
import sys
from pathlib import Path

import pandas as pd

from bgsub.io import atomic_write

__all__ = ["result_table", "markdown_table", "write_summary_html", "main"]

logger = logging.getLogger(__name__)

TUNED = "best F over the sweep (tuned on the test frames)"


def result_table(summary: pd.DataFrame, sweep: pd.DataFrame | None = None) -> pd.DataFrame:
    """Recall, precision and F-measure of each (dataset, run) at its configured threshold.

    With ``sweep`` rows, adds the best F-measure over the sweep and its threshold
    (chosen on the test frames, so an optimistic figure).

    Examples
    --------
    >>> s = pd.DataFrame({"dataset": ["d"], "run": ["mean"], "threshold": [30.0], "recall": [0.5],
    ...                   "precision": [1.0], "f_measure": [2 / 3]})
    >>> result_table(s).round(3).values.tolist()
    [['d', 'mean', 30.0, 0.5, 1.0, 0.667]]
    """
    table = summary[["dataset", "run", "threshold", "recall", "precision", "f_measure"]].copy()
    if sweep is not None and len(sweep):
        defined = sweep[sweep["f_measure"].notna()]
        best = defined.loc[defined.groupby(["dataset", "run"], sort=False)["f_measure"].idxmax()]
        best = best[["dataset", "run", "f_measure", "threshold"]].rename(
            columns={"f_measure": "best_f", "threshold": "best_threshold"}
        )
        table = table.merge(best, on=["dataset", "run"], how="left")
    return table.reset_index(drop=True)


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:g}"
    return str(value)


def markdown_table(table: pd.DataFrame) -> str:
    """A GitHub markdown table of a :func:`result_table` (metrics to 3 decimals, empty = —)."""
    header = {"run": "method", "threshold": "threshold", "recall": "recall", "precision": "precision",
              "f_measure": "F-measure", "best_f": TUNED, "best_threshold": "at threshold", "dataset": "dataset"}
    columns = list(table.columns)
    lines = ["| " + " | ".join(header.get(c, c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) for v in row) + " |")
    return "\n".join(lines)


def write_summary_html(summary_path: Path, sweep_paths: list[Path], output: Path) -> None:
    """An HTML page of the results at the configured thresholds, beside the best F over each sweep."""
    summary = pd.read_csv(summary_path)
    sweeps = [pd.read_csv(p) for p in sweep_paths]
    sweep = pd.concat(sweeps, ignore_index=True) if sweeps else None
    table = result_table(summary, sweep)
    shown = table.map(_fmt).rename(columns={"run": "method", "f_measure": "F-measure", "best_f": TUNED,
                                            "best_threshold": "at threshold"})
    body = shown.to_html(index=False, border=0, escape=True)
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>bgsub results</title><style>"
        "body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse}"
        "td,th{padding:3px 8px;border-bottom:1px solid #ccc;text-align:right} th{background:#eee}"
        "</style></head><body><h3>Results at each run's configured threshold</h3>"
        f"<p>{html.escape(TUNED)}: an optimistic figure, since the threshold was chosen on the scored frames.</p>"
        f"{body}</body></html>\n"
    )
    with atomic_write(Path(output)) as tmp:
        tmp.write_text(page)


def main(argv: list[str] | None = None) -> int:
    """Print the markdown table of one dataset (``python -m bgsub.tables``)."""
    parser = argparse.ArgumentParser(prog="python -m bgsub.tables", description=__doc__.splitlines()[0])
    parser.add_argument("summary", type=Path, help="results/summary.csv")
    parser.add_argument("--dataset", required=True, help="dataset name, e.g. highway")
    parser.add_argument("--sweep", type=Path, help="results/{dataset}/sweep.csv, to add the best F over the sweep")
    args = parser.parse_args(argv)
    summary = pd.read_csv(args.summary)
    summary = summary[summary["dataset"] == args.dataset]
    if summary.empty:
        sys.stderr.write(f"bgsub: error: no rows of dataset {args.dataset!r} in {args.summary}\n")
        return 1
    sweep = pd.read_csv(args.sweep) if args.sweep else None
    table = result_table(summary, sweep).drop(columns=["dataset"])
    sys.stdout.write(markdown_table(table) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
