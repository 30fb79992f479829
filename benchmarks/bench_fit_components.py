"""What ``fit_components`` costs: the default ``gmm``'s fit with EM on 3 components, and on 4 or 5 of which each
pixel keeps its 3 heaviest (:func:`bgsub.mixture.keep_heaviest`).

Run from the project root::

    .venv/bin/python benchmarks/bench_fit_components.py [--repeats 3] [--train-step 4]

Frames: CDnet highway training frames 1-469 (every ``--train-step``-th), 240x320, as ``bench_default.py``
fits them. The fits take turns (one of each per repeat, after a warm-up turn) and each figure is the median of
the repeats; ratios are between figures of this run. Scoring is not timed: the kept model has 3 components
whatever EM fitted, so the scoring path is the same code on arrays of the same shapes.
"""

from __future__ import annotations

import argparse
import os

from bench_default import CPU, default_method, interleaved, load_highway


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-step", type=int, default=4)
    args = parser.parse_args()
    train = load_highway(args.train_step, 900, 1)["train"]
    print(f"highway, {len(train)} training frames at {train.shape[1]}x{train.shape[2]}; load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    runs = {}
    for fit_components in (None, 4, 5):
        method, _, _, _ = default_method(fit_components=fit_components)
        runs[f"fit_components={fit_components}"] = lambda m=method: m.fit(train)
    seconds = interleaved(runs, args.repeats)
    base = seconds["fit_components=None"]
    print(f"{'fit':24s} {'wall s':>8s} {'CPU s':>8s} {'x default':>10s}   (medians of {args.repeats})")
    for name, value in seconds.items():
        print(f"{name:24s} {value:8.2f} {CPU[name]:8.2f} {value / base:10.2f}")
    print(f"load average at the end {' '.join(f'{v:.1f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
