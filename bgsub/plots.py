"""Figures of an experiment: background images, mask grids, threshold and PR curves, F against K,
F over time, timings, and animated mask overlays.

Every function writes one PNG (or GIF) atomically and returns nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from bgsub.aggregate import average_precision  # noqa: E402
from bgsub.io import VideoWriter, atomic_write, read_image  # noqa: E402
from bgsub.pipeline import open_split  # noqa: E402

__all__ = [
    "plot_backgrounds",
    "plot_mask_grid",
    "plot_f_threshold",
    "plot_pr_curves",
    "plot_f_measures",
    "plot_f_k",
    "plot_frame_f",
    "plot_timings",
    "write_mask_overlay",
    "write_overlay_page",
    "overlay_frames",
    "save_figure",
    "TUNED_LABEL",
]

logger = logging.getLogger(__name__)

TUNED_LABEL = "best over the sweep (tuned on the test frames)"


def save_figure(fig: plt.Figure, path: Path, dpi: int) -> None:
    """Save a figure as a 256-colour PNG atomically and close it.

    A palette of 256 colours (median cut, no dithering) keeps plots and image panels looking the
    same at a third of the size of matplotlib's RGBA PNG, which matters in the report: Snakemake
    embeds every figure in ``report.html``.
    """
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=dpi, format="png", metadata={"Software": None})
    plt.close(fig)
    buffer.seek(0)
    with Image.open(buffer) as image:
        palette = image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    with atomic_write(Path(path)) as tmp:
        palette.save(tmp, format="PNG", optimize=True)


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


def _runs(table: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(table["run"]))


def plot_pr_curves(sweep_path: Path, output: Path, *, dpi: int = 110) -> None:
    """Precision against recall over each run's threshold sweep, with its area (average precision).

    A method with binary output (the OpenCV peers) is a single point.
    """
    sweep = pd.read_csv(sweep_path)
    dataset = sweep["dataset"].iloc[0] if len(sweep) else ""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    for run in _runs(sweep):
        rows = sweep[sweep["run"] == run].sort_values("recall")
        ap = average_precision(rows["recall"], rows["precision"])
        label = f"{run} (AUC {ap:.3f})" if ap is not None else f"{run} (AUC n/a)"
        style = "o" if rows["precision"].notna().sum() <= 2 else "-"
        ax.plot(rows["recall"], rows["precision"], style, lw=1.3, ms=5, label=label)
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(f"{dataset}: precision-recall over the threshold sweep", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def best_f_rows(sweeps: list[pd.DataFrame]) -> pd.DataFrame:
    """The sweep row of highest F-measure of every (dataset, run) (its threshold is tuned on the test frames)."""
    sweep = pd.concat(sweeps, ignore_index=True) if sweeps else pd.DataFrame(columns=["dataset", "run", "f_measure"])
    sweep = sweep[sweep["f_measure"].notna()]
    return sweep.loc[sweep.groupby(["dataset", "run"], sort=False)["f_measure"].idxmax()]


def plot_f_measures(summary_path: Path, sweep_paths: list[Path], output: Path, *, dpi: int = 110) -> None:
    """Heatmap of the F-measure of every run (rows) on every dataset (columns), the value written in each cell.

    The big number is F at the run's configured threshold (the cell's colour); the small one under
    it, marked ``*``, is the best F over the sweep, whose threshold is tuned on the test frames.
    A run not scored on a dataset is a grey cell.
    """
    summary = pd.read_csv(summary_path)
    best = best_f_rows([pd.read_csv(p) for p in sweep_paths]).set_index(["dataset", "run"])["f_measure"]
    datasets = list(dict.fromkeys(summary["dataset"]))
    runs = _runs(summary)
    conf = summary.drop_duplicates(["dataset", "run"]).set_index(["run", "dataset"])["f_measure"]
    values = np.full((len(runs), len(datasets)), np.nan)
    for i, run in enumerate(runs):
        for j, dataset in enumerate(datasets):
            if (run, dataset) in conf.index and pd.notna(conf[(run, dataset)]):
                values[i, j] = float(conf[(run, dataset)])
    fig, ax = plt.subplots(figsize=(2.2 + 0.95 * max(1, len(datasets)), 1.3 + 0.42 * max(1, len(runs))))
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad("0.85")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i, run in enumerate(runs):
        for j, dataset in enumerate(datasets):
            value = values[i, j]
            tuned = best.get((dataset, run))
            if np.isnan(value):
                ax.text(j, i, "n/a", ha="center", va="center", fontsize=7, color="0.3")
                continue
            color = "black" if value > 0.6 else "white"
            ax.text(j, i - 0.1, f"{value:.3f}", ha="center", va="center", fontsize=8, color=color, weight="bold")
            if tuned is not None and pd.notna(tuned):
                ax.text(j, i + 0.27, f"{float(tuned):.3f}*", ha="center", va="center", fontsize=6.5, color=color,
                        style="italic")
    ax.set_xticks(np.arange(len(datasets)), datasets, fontsize=8, rotation=30, ha="right")
    ax.set_yticks(np.arange(len(runs)), runs, fontsize=8)
    ax.tick_params(length=0)
    ax.set_xticks(np.arange(len(datasets) + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(len(runs) + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", lw=1.5)
    ax.tick_params(which="minor", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02).set_label("F-measure at the configured threshold", fontsize=8)
    ax.set_title("F-measure at each run's configured threshold\n(small, *: " + TUNED_LABEL + ")", fontsize=9)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def plot_f_k(summary_path: Path, output: Path, *, dpi: int = 110) -> None:
    """F-measure against the number of components K, for every method run at more than one K."""
    summary = pd.read_csv(summary_path, dtype={"n_components": "Int64"})
    summary = summary[summary["n_components"].notna()]
    many = summary.groupby("method")["n_components"].nunique()
    methods = [m for m in dict.fromkeys(summary["method"]) if many.get(m, 0) > 1]
    fig, axes = plt.subplots(1, max(1, len(methods)), figsize=(4.2 * max(1, len(methods)), 3.4), squeeze=False,
                             sharey=True)
    for ax, method in zip(axes.flat, methods):
        rows = summary[summary["method"] == method]
        for dataset in dict.fromkeys(rows["dataset"]):
            one = rows[rows["dataset"] == dataset].sort_values("n_components")
            ax.plot(one["n_components"].astype(int), one["f_measure"], "o-", ms=4, label=dataset)
        ax.set_title(method, fontsize=9)
        ax.set_xlabel("K (n_components)")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    if not methods:
        axes[0, 0].text(0.5, 0.5, "no method was run with more than one K", ha="center", va="center")
    axes[0, 0].set_ylabel("F-measure at the configured threshold")
    axes[0, 0].set_ylim(0, 1)
    fig.suptitle("F-measure against the number of mixture components", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def plot_frame_f(frames_path: Path, output: Path, *, dpi: int = 110) -> None:
    """Per-frame F-measure over the scored frames, one line per run (a frame with no F is a gap)."""
    frames = pd.read_csv(frames_path)
    dataset = frames["dataset"].iloc[0] if len(frames) else ""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for run in _runs(frames):
        rows = frames[frames["run"] == run].sort_values("frame")
        ax.plot(rows["frame"], rows["f_measure"], "o-" if len(rows) < 30 else "-", lw=0.9, ms=3, label=run)
    ax.set_xlabel("frame number")
    ax.set_ylabel("F-measure of the frame")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left", ncols=2)
    ax.set_title(f"{dataset}: F-measure per scored frame (configured thresholds)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def plot_timings(timings_path: Path, output: Path, *, dpi: int = 110) -> None:
    """Wall-clock seconds of the fit and score jobs of every run, one panel per dataset, frames per second noted."""
    timings = pd.read_csv(timings_path)
    jobs = timings[timings["rule"].isin(["fit", "score"])]
    datasets = list(dict.fromkeys(jobs["dataset"]))
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(3.6 * max(1, len(datasets)), 3.4), squeeze=False)
    for ax, dataset in zip(axes.flat, datasets):
        rows = jobs[jobs["dataset"] == dataset]
        runs = list(dict.fromkeys(rows["run"]))
        y = np.arange(len(runs))
        left = np.zeros(len(runs))
        for rule, color in (("fit", "tab:blue"), ("score", "tab:orange")):
            part = rows[rows["rule"] == rule].set_index("run").reindex(runs)
            seconds = part["s"].fillna(0).to_numpy(float)
            ax.barh(y, seconds, left=left, color=color, label=rule)
            for yi, (sec, fps, x0) in enumerate(zip(seconds, part["fps"], left)):
                if sec > 0 and pd.notna(fps):
                    ax.text(x0 + sec / 2, yi, f"{fps:.0f} fps", ha="center", va="center", fontsize=6)
            left += seconds
        ax.set_yticks(y, runs, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlabel("seconds (wall clock)")
        ax.set_title(dataset, fontsize=9)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle("Time per job (Snakemake benchmarks; fps = frames read per second)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, output, dpi)


def overlay_frames(frames: NDArray[np.uint8], masks: NDArray[np.bool_], *, alpha: float = 0.6) -> NDArray[np.uint8]:
    """Draw masks in red over frames.

    Parameters
    ----------
    frames : ndarray of shape (T, H, W, C), uint8
        C = 1 (gray) or 3 (RGB).
    masks : ndarray of shape (T, H, W), bool

    Returns
    -------
    ndarray of shape (T, H, W, 3), uint8

    Examples
    --------
    >>> out = overlay_frames(np.zeros((1, 1, 2, 3), np.uint8), np.array([[[True, False]]]), alpha=1.0)
    >>> out[0, 0].tolist()
    [[255, 0, 0], [0, 0, 0]]
    """
    rgb = np.array(np.broadcast_to(frames, (*frames.shape[:3], 3)), np.uint8)
    red = np.array([255.0, 0.0, 0.0], np.float32)
    masks = np.asarray(masks, bool)
    rgb[masks] = np.clip(np.rint((1 - alpha) * rgb[masks].astype(np.float32) + alpha * red), 0, 255)
    return rgb


def _downscale(frames: NDArray[np.uint8], max_width: int) -> NDArray[np.uint8]:
    """Shrink ``(T, H, W, C)`` frames by an integer factor (block mean) so they are at most ``max_width`` wide."""
    factor = -(-frames.shape[2] // max_width)
    if factor <= 1:
        return frames
    t, h, w, c = frames.shape
    h2, w2 = h // factor, w // factor
    blocks = frames[:, : h2 * factor, : w2 * factor].reshape(t, h2, factor, w2, factor, c)
    return np.rint(blocks.mean(axis=(2, 4))).astype(np.uint8)


def _write_gif(path: Path, movie: NDArray[np.uint8], *, fps: float, colors: int = 64) -> None:
    """Write ``movie (T, H, W, 3)`` uint8 as a looping GIF with one shared palette (no dithering), atomically.

    One palette of ``colors`` colours, fitted on a sample of the frames, keeps the file small
    and the colours stable from frame to frame.
    """
    from PIL import Image

    sample = np.concatenate(list(movie[:: max(1, len(movie) // 8)]), axis=0)
    palette = Image.fromarray(sample).quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    images = [Image.fromarray(frame).quantize(palette=palette, dither=Image.Dither.NONE) for frame in movie]
    with atomic_write(Path(path)) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)


def write_mask_overlay(dataset: str, spec: dict[str, Any], split_path: Path, masks_dir: Path, output: Path, *,
                       max_frames: int = 60, max_width: int = 160, fps: float = 8.0) -> None:
    """A run's masks drawn in red over its test frames: an H.264 ``.mp4`` (or an animated ``.gif``, 64 colours).

    At most ``max_frames`` test frames, picked evenly; frames wider than
    ``max_width`` are shrunk by an integer factor. An mp4 is about a tenth of the GIF's size.
    """
    sequence, info = open_split(dataset, spec, split_path)
    test = list(range(info["test"][0], info["test"][1] + 1))
    picks = np.linspace(0, len(test) - 1, min(max_frames, len(test))).round().astype(int)
    numbers = [test[i] for i in dict.fromkeys(picks.tolist())]
    frames = sequence.source.read(numbers)
    masks = np.stack([read_image(Path(masks_dir) / f"bin{n:06d}.png")[..., 0] > 127 for n in numbers])
    movie = _downscale(overlay_frames(frames, masks), max_width)
    if Path(output).suffix.lower() == ".gif":
        _write_gif(Path(output), movie, fps=fps)
    else:
        with VideoWriter(Path(output), fps=fps, quality=5) as video:  # ~12 KB for 30 frames of 160x120
            for frame in movie:
                video.write(frame)
    logger.info("%s: %d frames of %dx%d in %s", dataset, len(movie), movie.shape[2], movie.shape[1], output)


def write_overlay_page(dataset: str, runs: list[str], videos: list[Path], output: Path) -> None:
    """One HTML page with every run's overlay video (mp4, embedded), for Snakemake's report.

    Snakemake's report shows images and HTML inline but offers other files (GIF, mp4) only as
    downloads, so the videos are embedded in a page of ``<video>`` elements, a few KB each.
    """
    import base64
    import html

    cells = []
    for run, path in zip(runs, videos):
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        cells.append(
            f'<figure><video src="data:video/mp4;base64,{data}" autoplay loop muted playsinline controls></video>'
            f"<figcaption>{html.escape(run)}</figcaption></figure>"
        )
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>"
        f"{html.escape(dataset)}: mask overlays</title><style>"
        "body{font-family:sans-serif;margin:8px} div{display:flex;flex-wrap:wrap;gap:8px}"
        "figure{margin:0} video{width:240px;image-rendering:pixelated} figcaption{font-size:12px}"
        f"</style></head><body><h3>{html.escape(dataset)}: masks (red) at each run's configured threshold</h3>"
        f"<div>{''.join(cells)}</div></body></html>\n"
    )
    with atomic_write(Path(output)) as tmp:
        tmp.write_text(page)
