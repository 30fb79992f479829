"""Peak memory of the pipeline steps does not grow with the length of the video.

Generates two 640x480 videos (default 500 and 5,000 frames; a static textured
background, sensor noise and a moving box) with imageio-ffmpeg into a scratch
folder, then runs the pipeline steps of :mod:`bgsub.pipeline` on each (split;
fit, score for ``mean`` and ``median``; evaluate), every step in a fresh
subprocess, and prints the peak resident set size of each step (the Python
process; ffmpeg's decoder is a separate process of constant size) and the ratio
long / short. Both videos use the same protocol: the default 60 % train
fraction and ``max_train_frames`` 500 (the long video's 3,000 training
frames are subsampled to 500, the short one trains on its 300).

It also times reopening the long video with and without the frame count
recorded by the split (``open_sequence(..., known=split)``), the decode the
fit and score steps no longer repeat.

Usage::

    .venv/bin/python benchmarks/bench_memory.py                  # 500 vs 5000 frames, 640x480
    .venv/bin/python benchmarks/bench_memory.py --frames 50 500 --height 120 --width 160   # quick look

The scratch folder (default: a new folder in /tmp) is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
METHODS = {"mean": {"threshold": 30.0}, "median": {"threshold": 30.0}}
SWEEP = [0, 150, 151]  # thresholds of the score step (the configured one added)
MAX_TRAIN_FRAMES = 500
BLOCK_SIZE = 64


def write_scene_video(path: Path, n_frames: int, height: int, width: int, seed: int = 0) -> None:
    """Stream a synthetic scene into a video file, one frame at a time (never all in memory)."""
    import imageio_ffmpeg

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([(xx * 255 // width), (yy * 255 // height), ((xx + yy) * 127 // (width + height))], -1)
    background = (background + rng.integers(0, 40, (height, width, 3))).clip(0, 255).astype(np.int16)
    noise = rng.normal(0, 4, (8, height, width, 3)).astype(np.int16)  # cycled: generation stays cheap
    box_h, box_w = height // 5, width // 8
    writer = imageio_ffmpeg.write_frames(str(path), (width, height), fps=25, quality=6, macro_block_size=1)
    writer.send(None)
    for t in range(n_frames):
        frame = background + noise[t % len(noise)]
        x = (t * 7) % (width - box_w)
        y = (height - box_h) // 2
        frame[y : y + box_h, x : x + box_w] = (220, 40, 40)
        writer.send(np.ascontiguousarray(frame.clip(0, 255).astype(np.uint8)))
    writer.close()


def run_step(step: dict) -> dict:
    """Run one pipeline step in this process; return its time and this process's peak RSS (kB)."""
    from bgsub import pipeline
    from bgsub.config import Dataset, expand_runs

    work = Path(step["work"])
    spec = {"path": step["video"]}
    split_path = work / "split.json"
    start = time.perf_counter()
    if step["name"] == "split":
        pipeline.split("video", spec, split_path, max_train_frames=MAX_TRAIN_FRAMES)
    elif step["name"] == "fit":
        run = work / step["method"]
        (method,) = expand_runs({step["method"]: {}})
        pipeline.fit(Dataset("video", spec), method, split_path, run / "model.npz", run / "background.png")
    elif step["name"] == "score":
        run = work / step["method"]
        (method,) = expand_runs({step["method"]: {"threshold": METHODS[step["method"]]["threshold"],
                                                  "sweep": SWEEP}})
        pipeline.score(Dataset("video", spec), method, split_path, run / "model.npz", run / "masks",
                       run / "counts.npz", block_size=BLOCK_SIZE)
    elif step["name"] == "evaluate":
        runs = [{"name": m, "method": m, "n_components": None, "threshold": s["threshold"]} for m, s in METHODS.items()]
        pipeline.evaluate("video", runs, [work / m / "counts.npz" for m in METHODS], work / "sweep.csv",
                          work / "summary.csv", work / "frames.csv")
    elif step["name"] == "reopen":
        from bgsub.datasets import open_sequence

        info = json.loads(split_path.read_text()) if step.get("known") else None
        open_sequence("video", spec, known=info)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}


def measure(step: dict) -> dict:
    """Run ``step`` in a fresh Python process, so each peak is the step's own."""
    done = subprocess.run(
        [sys.executable, __file__, "--step", json.dumps(step)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"step {step} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def steps_of(work: Path, video: Path) -> list[tuple[str, dict]]:
    base = {"work": str(work), "video": str(video)}
    steps = [("split", {**base, "name": "split"})]
    steps += [(f"fit {m}", {**base, "name": "fit", "method": m}) for m in METHODS]
    steps += [(f"score {m}", {**base, "name": "score", "method": m}) for m in METHODS]
    steps += [("evaluate", {**base, "name": "evaluate"})]
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, nargs=2, default=[500, 5000], metavar=("SHORT", "LONG"))
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--scratch", type=Path, default=None, help="folder for the videos and outputs (default: /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        print(json.dumps(run_step(json.loads(args.step))))
        return

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="bgsub_bench_memory_"))
    scratch.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, dict]] = {}
    try:
        for n in args.frames:
            video = scratch / f"video_{n}_{args.width}x{args.height}.mp4"
            if not video.exists():
                start = time.perf_counter()
                write_scene_video(video, n, args.height, args.width)
                print(f"generated {video.name}: {video.stat().st_size / 1e6:.0f} MB in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
            work = scratch / f"work_{n}"
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir()
            results[n] = {}
            for label, step in steps_of(work, video):
                results[n][label] = measure(step)
                r = results[n][label]
                print(f"  {n:>6} frames  {label:<13} {r['self_kb'] / 1024:8.0f} MB  {r['seconds']:7.1f} s", flush=True)
            for known in (False, True):
                results[n][f"reopen known={known}"] = measure(
                    {"work": str(work), "video": str(video), "name": "reopen", "known": known}
                )
            split = json.loads((work / "split.json").read_text())
            print(f"  {n} frames: {len(split['train_frames'])} training frames, "
                  f"test {split['test'][0]}-{split['test'][1]}", flush=True)
            shutil.rmtree(work, ignore_errors=True)

        short, long = args.frames
        print(f"\nPeak RSS per step (MB), {args.width}x{args.height}, default split, "
              f"max_train_frames {MAX_TRAIN_FRAMES}, block_size {BLOCK_SIZE}")
        print(f"{'step':<14}{short:>9} fr{long:>9} fr{'ratio':>8}{'time ' + str(short):>12}{'time ' + str(long):>12}")
        for label, _ in steps_of(scratch, scratch):
            a, b = results[short][label], results[long][label]
            print(f"{label:<14}{a['self_kb'] / 1024:>12.0f}{b['self_kb'] / 1024:>12.0f}"
                  f"{b['self_kb'] / a['self_kb']:>8.2f}{a['seconds']:>11.1f}s{b['seconds']:>11.1f}s")
        peak = {n: max(r["self_kb"] for k, r in results[n].items() if not k.startswith("reopen")) for n in args.frames}
        print(f"{'run peak':<14}{peak[short] / 1024:>12.0f}{peak[long] / 1024:>12.0f}{peak[long] / peak[short]:>8.2f}")
        print(f"\nReopening the {long}-frame video (what fit and score do): counting pass "
              f"{results[long]['reopen known=False']['seconds']:.1f} s, with the split's count "
              f"{results[long]['reopen known=True']['seconds']:.2f} s")
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
