"""Figures of an experiment: background images, mask grids and threshold curves.

Every function writes one PNG atomically and returns nothing.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from bgsub.io import atomic_path, read_image  # noqa: E402
from bgsub.pipeline import open_split  # noqa: E402

__all__ = ["plot_backgrounds", "plot_mask_grid", "plot_f_threshold", "save_figure", "TUNED_LABEL"]

logger = logging.getLogger(__name__)

TUNED_LABEL = "best over the sweep (tuned on the test frames)"


def save_figure(fig: plt.Figure, path: Path, dpi: int) -> None:
    """Save a figure as PNG atomically and close it."""
    tmp = atomic_path(Path(path))
    fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": None})
    plt.close(fig)
    os.replace(tmp, path)


def _show(ax: plt.Axes, image: NDArray, title: str) -> None:
    ax.imshow(image.squeeze(), cmap="gray" if image.ndim == 2 or image.shape[-1] == 1 else None,
              vmin=0, vmax=255, interpolation="nearest")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def plot_backgrounds(dataset: str, spec: dict[str, Any], split_path: Path, runs: list[str],
                     background_paths: list[Path], output: Path, *, dpi: int = 110) -> None:
    """Background image of every run side by side, after a test frame (and the true background if known)."""
    sequence, info = open_split(dataset, spec, split_path)
    panels = [(sequence.source.read([info["test"][0]])[0], f"test frame {info['test'][0]}")]
    truth = Path(spec["path"]) / "background.png"
    if truth.is_file():
        panels.append((read_image(truth), "true background"))
    panels += [(read_image(p), run) for run, p in zip(runs, background_paths)]
    cols = min(len(panels), 4)
    rows = -(-len(panels) // cols)
    h, w = panels[0][0].shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows * h / w + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (image, title) in zip(axes.flat, panels):
        _show(ax, image, title)
    fig.suptitle(f"{dataset}: background images", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def _grid_frames(info: dict[str, Any], n_frames: int) -> list[int]:
    candidates = info["scored_frames"] or list(range(info["test"][0], info["test"][1] + 1))
    picks = np.linspace(0, len(candidates) - 1, min(n_frames, len(candidates))).round().astype(int)
    return [candidates[i] for i in dict.fromkeys(picks.tolist())]


def plot_mask_grid(dataset: str, spec: dict[str, Any], split_path: Path, runs: list[str], mask_dirs: list[Path],
                   output: Path, *, n_frames: int = 4, dpi: int = 110) -> None:
    """A grid of test frames (rows): the frame, its ground truth if any, and the mask of every run."""
    sequence, info = open_split(dataset, spec, split_path)
    numbers = _grid_frames(info, n_frames)
    frames = sequence.source.read(numbers)
    has_gt = bool(info["scored_frames"])
    cols = 1 + has_gt + len(runs)
    h, w = frames.shape[1:3]
    fig, axes = plt.subplots(len(numbers), cols, figsize=(2.2 * cols, 2.2 * len(numbers) * h / w + 0.5),
                             squeeze=False)
    for row, (number, frame) in enumerate(zip(numbers, frames)):
        _show(axes[row, 0], frame, f"frame {number}")
        if has_gt:
            _show(axes[row, 1], sequence.labels(number), "ground truth")
        for col, (run, folder) in enumerate(zip(runs, mask_dirs), start=1 + has_gt):
            _show(axes[row, col], read_image(Path(folder) / f"bin{number:06d}.png"), run)
    fig.suptitle(f"{dataset}: masks at each run's configured threshold", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def plot_f_threshold(sweep_path: Path, summary_path: Path, output: Path, *, dpi: int = 110) -> None:
    """F-measure against threshold for every run, with the configured threshold and the best marked."""
    sweep = pd.read_csv(sweep_path)
    summary = pd.read_csv(summary_path)
    dataset = sweep["dataset"].iloc[0] if len(sweep) else ""
    runs = list(dict.fromkeys(sweep["run"]))
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3), squeeze=False, sharey=True)
    for ax, run in zip(axes.flat, runs):
        rows = sweep[sweep["run"] == run]
        ax.plot(rows["threshold"], rows["f_measure"], lw=1.2)
        conf = summary[summary["run"] == run].iloc[0]
        ax.axvline(conf["threshold"], color="k", ls=":", lw=1)
        ax.plot([conf["threshold"]], [conf["f_measure"]], "ko", ms=4, label=f"configured: F={conf['f_measure']:.3f}")
        if rows["f_measure"].notna().any():
            best = rows.loc[rows["f_measure"].idxmax()]
            ax.plot([best["threshold"]], [best["f_measure"]], "r^", ms=5,
                    label=f"best F={best['f_measure']:.3f} (tuned on test)")
        ax.set_title(run, fontsize=9)
        ax.set_xlabel("threshold (method's score units)", fontsize=8)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=7, loc="lower center")
    axes[0, 0].set_ylabel("F-measure")
    fig.suptitle(f"{dataset}: F-measure against threshold", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)
