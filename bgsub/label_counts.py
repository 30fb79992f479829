"""How often a run's masks mark each ground-truth label as foreground.

CDnet folds hard shadows (label 50) into the negatives, so ``summary.csv``
cannot tell a false positive on a shadow from one on plain background. This
module counts them apart, from the masks a run wrote.

Command line (prints a markdown table)::

    python -m bgsub.label_counts resources/synthetic/shadows results/shadows online_gmm online_gmm_noshadow
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from bgsub.datasets import open_sequence
from bgsub.io import read_labels
from bgsub.metrics import MOTION, SHADOW, STATIC

__all__ = ["foreground_by_label", "label_table", "main"]

LABELS = {"static": STATIC, "shadow": SHADOW, "motion": MOTION}


def foreground_by_label(
    masks: NDArray[np.bool_], labels: NDArray[np.uint8], roi: NDArray[np.bool_] | None = None
) -> dict[str, tuple[int, int]]:
    """For each label, (pixels marked foreground, pixels with that label), inside the ROI.

    Examples
    --------
    >>> labels = np.array([[0, 50, 50, 255]], np.uint8)
    >>> foreground_by_label(np.array([[True, True, False, True]]), labels)
    {'static': (1, 1), 'shadow': (1, 2), 'motion': (1, 1)}
    """
    inside = np.ones(labels.shape, bool) if roi is None else np.broadcast_to(roi, labels.shape)
    out = {}
    for name, value in LABELS.items():
        pixels = (labels == value) & inside
        out[name] = (int(np.count_nonzero(masks & pixels)), int(np.count_nonzero(pixels)))
    return out


def label_table(dataset_folder: Path, results_folder: Path, runs: list[str]) -> pd.DataFrame:
    """Foreground rate on static, shadow and motion pixels of each run, over the scored frames."""
    split = json.loads((Path(results_folder) / "split.json").read_text())
    sequence = open_sequence("dataset", {"path": str(dataset_folder), "train": split["train"], "test": split["test"]})
    rows = []
    for run in runs:
        totals = {name: [0, 0] for name in LABELS}
        for number in split["scored_frames"]:
            mask = read_labels(Path(results_folder) / run / "masks" / f"bin{number:06d}.png") == 255
            labels = read_labels(sequence.ground_truth[number])
            for name, (marked, total) in foreground_by_label(mask, labels, sequence.roi).items():
                totals[name][0] += marked
                totals[name][1] += total
        row = {"run": run}
        for name, (marked, total) in totals.items():
            row[f"{name}_foreground"] = marked
            row[f"{name}_rate"] = marked / total if total else None
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bgsub.label_counts", description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="dataset folder (CDnet layout), e.g. resources/synthetic/shadows")
    parser.add_argument("results", type=Path, help="its results folder, e.g. results/shadows")
    parser.add_argument("runs", nargs="+", help="run names")
    args = parser.parse_args(argv)
    table = label_table(args.dataset, args.results, args.runs)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
