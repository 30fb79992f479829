"""Where on highway's validation slice a setting's F differs from the default's: counts and F per band of
image rows.

Highway's camera looks down the road, so the top rows are its far end, where cars are small and traffic is
dense: some of those pixels show a car in 40-50 % of the training frames, and which of their colours the
mixture ranks as background decides their recall. Fit on frames 1-469, score 470-899 in order and count them
with the CDnet rules and ROI, exactly as ``validate_levers.py`` does (its ``real_sequences`` and ``_split``),
then split the counts by rows. Validation data only; it chooses nothing.

Usage::

    python benchmarks/highway_rows.py --set fit_components=5
    python benchmarks/highway_rows.py --set fit_components=5 --bands 0,20,40,80,240
"""

from __future__ import annotations

import argparse

import numpy as np
from validate_levers import BLOCK, MAX_TRAIN_FRAMES, _split, preset_with, real_sequences

from bgsub.datasets import open_sequence
from bgsub.methods import make_method
from bgsub.metrics import compute_metrics
from bgsub.scoring import score_blocks


def row_counts(settings: dict) -> dict[str, np.ndarray]:
    """Per-row ``tp``, ``fp``, ``fn`` (each ``(H,)``) of ``settings`` on highway 470-899."""
    method_kind, params, post, threshold = _split(settings)
    seq = open_sequence("highway", real_sequences("validation")["highway"])
    method = make_method(method_kind, **params).fit(seq.source.read(seq.train_numbers(MAX_TRAIN_FRAMES)))
    height = seq.frame_shape[0]
    counts = {name: np.zeros(height, np.int64) for name in ("tp", "fp", "fn")}
    scored = set(seq.scored_numbers())
    blocks = seq.source.iter_blocks(seq.test_numbers(), BLOCK)
    for numbers, _, masks in score_blocks(method, blocks, threshold=threshold, postprocess=post, need_scores=False):
        for number, mask in zip(numbers, masks):
            if number not in scored:
                continue
            labels = seq.labels(number)
            counted = (labels != 85) & (labels != 170) & (True if seq.roi is None else seq.roi)
            positive = labels == 255
            counts["tp"] += (counted & positive & mask).sum(axis=1)
            counts["fp"] += (counted & ~positive & mask).sum(axis=1)
            counts["fn"] += (counted & positive & ~mask).sum(axis=1)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="the variant: one setting of the default changed (JSON value: 5, null, true)")
    parser.add_argument("--bands", default="0,40,240", help="row boundaries, comma-separated")
    args = parser.parse_args()
    variant = preset_with(args.set)
    bounds = [int(b) for b in args.bands.split(",")]
    results = {"default": row_counts({"preset": "default"}), "+" + ",".join(args.set): row_counts(variant)}
    print(f"{'rows':10s} {'variant':28s} {'tp':>9s} {'fp':>8s} {'fn':>8s} {'F':>7s}")
    for lo, hi in [*zip(bounds[:-1], bounds[1:]), (bounds[0], bounds[-1])]:
        for name, counts in results.items():
            tp, fp, fn = (int(counts[k][lo:hi].sum()) for k in ("tp", "fp", "fn"))
            f = compute_metrics(tp, fp, fn, 0)["f_measure"]
            print(f"{f'{lo}-{hi - 1}':10s} {name:28s} {tp:9d} {fp:8d} {fn:8d} {f:7.4f}")


if __name__ == "__main__":
    main()
