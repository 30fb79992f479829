"""Compile the numba kernels into their on-disk cache before many processes need them.

Each kernel is compiled on first use and cached (``cache=True``); a process that finds the cache
loads it in about a second. On a fresh checkout the cache is empty, and processes started together
(pytest-xdist workers, Snakemake jobs, SLURM tasks) each compile the same kernels at once.
Running the common paths once on tiny frames, split over a few processes, fills the cache first.

Usage::

    python -m bgsub.precompile            # every part, on 2 processes
    python -m bgsub.precompile --jobs 1 --parts default,online

A part compiles what its path needs for uint8 RGB frames (the pipeline's frames); other dtypes,
channel counts and settings still compile on first use. With a warm cache every part loads in a
few seconds.
"""

from __future__ import annotations

import argparse
import multiprocessing
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bgsub.kernels.median import median_filter
from bgsub.methods import make_method
from bgsub.metrics import sweep_thresholds
from bgsub.presets import apply_preset, preset_settings
from bgsub.scoring import score_blocks
from bgsub.synth import make_scene

__all__ = ["PARTS", "run_part", "main"]


def _scene_frames() -> tuple[np.ndarray, np.ndarray]:
    scene = make_scene("shadows", seed=3, height=16, width=24, n_train=30, n_test=8, n_objects=3)
    return scene.frames[: scene.n_train], scene.frames[scene.n_train:]


def _default() -> None:
    """The default preset's fit (EM on its fitted components, calibration) and scoring (every default lever), its
    post-processing on each path (the filtered scores, their levels between a sweep's thresholds, the masks alone),
    and the median of other sizes (the filters grown for a larger frame)."""
    settings = apply_preset({"preset": "default"})
    kind, post, threshold = settings.pop("kind"), settings.pop("postprocess"), settings.pop("threshold")
    cuts = sweep_thresholds(*settings.pop("sweep"), threshold)
    train, test = _scene_frames()
    method = make_method(kind, **settings).fit(train)
    for path in ({}, {"cuts": cuts}, {"need_scores": False}):
        for _ in score_blocks(method, [(list(range(len(test))), test)], threshold=threshold, postprocess=post,
                              **path):
            pass
    median_filter(np.zeros((1, 3, 3), np.float32), 3)


def _gmm(n_components: int) -> Callable[[], None]:
    def part() -> None:
        """EM (k-means start, lane kernel) and the plain classification with ``n_components`` components."""
        train, test = _scene_frames()
        make_method("gmm", n_components=n_components).fit(train).foreground_scores(test)

    return part


def _online() -> None:
    """The adaptive GMM's update (MOG2's defaults, shadows on)."""
    train, test = _scene_frames()
    make_method("online_gmm").fit(train).foreground_scores(test)


#: The number of components the default preset's EM fits (the one EM kernel its part compiles).
_DEFAULT_EM = preset_settings("default").get("fit_components") or preset_settings("default")["n_components"]
#: The parts, in the order they are handed to the processes: the longest first, and the plain ``gmm`` of the
#: default's EM size last, when ``default`` has compiled the EM it shares.
PARTS: dict[str, Callable[[], None]] = {
    "default": _default,
    **{f"gmm_k{k}": _gmm(k) for k in sorted(range(1, 6), key=lambda k: k == _DEFAULT_EM)},
    "online": _online,
}


def run_part(name: str) -> float:
    """Run part ``name`` of :data:`PARTS`; return its time in seconds."""
    start = time.perf_counter()
    PARTS[name]()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Command line entry point (``python -m bgsub.precompile``)."""
    parser = argparse.ArgumentParser(prog="python -m bgsub.precompile", description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2, help="processes to compile in (default 2)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of {', '.join(PARTS)}")
    args = parser.parse_args(argv)
    names = [name for name in args.parts.split(",") if name]
    unknown = sorted(set(names) - set(PARTS))
    if unknown or not names:
        parser.error(f"--parts: unknown {unknown}, choose from {', '.join(PARTS)}")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    start = time.perf_counter()
    with ProcessPoolExecutor(min(args.jobs, len(names)), mp_context=multiprocessing.get_context("spawn")) as pool:
        times = dict(zip(names, pool.map(run_part, names)))
    parts = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in times.items())
    print(f"bgsub: numba kernels compiled or loaded in {time.perf_counter() - start:.0f} s ({parts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
