"""Choose the default thresholds of the image-distance methods on highway's validation slice.

    .venv/bin/python benchmarks/choose_thresholds.py [--data ../shared/data/highway]

Fits ``mean``, ``median`` and ``gmm_background`` (K=3) on CDnet highway's training frames
(1-469), sweeps the threshold on the validation slice only (frames 470-899, the one slice the
project may tune on) and prints the threshold of best F for each. Frames 900-1700 are never read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from bgsub.datasets import open_sequence
from bgsub.methods import make_method
from bgsub.metrics import ThresholdSweep, compute_metrics, sweep_thresholds

VALIDATION = (470, 899)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/highway")
    args = parser.parse_args()
    sequence = open_sequence("highway", {"path": str(args.data), "train": [1, 469], "test": list(VALIDATION)})
    train = sequence.source.read(sequence.train_numbers())
    thresholds = sweep_thresholds(0, 150, 151)
    print("| method | best threshold on 470-899 | F there |\n|---|---|---|")
    for kind, params in (("mean", {}), ("median", {}), ("gmm_background", {"n_components": 3})):
        method = make_method(kind, **params).fit(train)
        sweep = ThresholdSweep(thresholds)
        for numbers, frames in sequence.source.iter_blocks(sequence.scored_numbers(), 64):
            for number, scores in zip(numbers, method.foreground_scores(frames)):
                sweep.update(scores, sequence.labels(number), sequence.roi)
        counts = sweep.counts()
        f = np.array([compute_metrics(*(int(counts[k][i]) for k in ("tp", "fp", "fn", "tn")))["f_measure"] or 0.0
                      for i in range(len(thresholds))])
        best = int(np.argmax(f))
        print(f"| {kind} | {thresholds[best]:g} | {f[best]:.3f} |")


if __name__ == "__main__":
    main()
