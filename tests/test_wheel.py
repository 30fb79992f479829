"""The wheel is complete: installed alone in a fresh venv, outside the repository, it validates a config and fits
and scores (the config schema and the compiled kernels are package data / subpackages, not repository files)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys
from pathlib import Path

import bgsub
import bgsub.kernels.em  # the compiled kernels' module is in the wheel (compiling them is test_kernels' job)
from bgsub import pipeline
from bgsub.config import Dataset, expand_runs, validate_config
from bgsub.synth import make_scene, write_cdnet

write_cdnet(make_scene("static", seed=0, height=12, width=16, n_train=12, n_test=8, n_objects=1), Path("scene"))
config = validate_config({
    "datasets": {"scene": {"path": "scene"}},
    "methods": {"mean": {"threshold": 30, "sweep": [0, 150, 16]}, "gmm": {"n_components": 2}},
})
dataset = Dataset("scene", config["datasets"]["scene"])
pipeline.split("scene", dataset.spec, Path("out/split.json"), max_train_frames=config["max_train_frames"])
for run in expand_runs(config["methods"]):
    out = Path("out") / run.name
    pipeline.fit(dataset, run, Path("out/split.json"), out / "model.npz", out / "background.png")
    pipeline.score(dataset, run, Path("out/split.json"), out / "model.npz", out / "masks", out / "counts.npz")
runs = sorted(p for p in Path("out").iterdir() if p.is_dir())
print(json.dumps({"file": bgsub.__file__, "kernels": bgsub.kernels.em.__file__, "runs": [p.name for p in runs],
                  "masks": {p.name: len(list((p / "masks").glob("bin*.png"))) for p in runs}}))
"""


def _build_wheel(tmp_path: Path) -> Path:
    """``pip wheel`` of a copy of the project (setuptools writes build/ and *.egg-info beside the sources);
    without build isolation when this venv can build wheels, else isolated."""
    src, dist = tmp_path / "src", tmp_path / "dist"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "bgsub", src / "bgsub", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)]
    done = subprocess.run([*base, "--no-build-isolation"], capture_output=True, text=True)
    if done.returncode != 0:  # e.g. setuptools without the `wheel` package: let pip fetch the build backend
        done = subprocess.run(base, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = dist.glob("bgsub-*.whl")
    return wheel


def test_wheel_installs_and_runs_outside_the_repository(tmp_path: Path):
    wheel = _build_wheel(tmp_path)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.check_output(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
    # third-party packages of this venv, without the editable bgsub: a plain path line does not run the
    # editable install's own .pth/finder in that folder
    third_party = Path(np.__file__).resolve().parent.parent
    assert third_party == Path(sysconfig.get_paths()["purelib"]).resolve()
    (site / "main_site_packages.pth").write_text(f"{third_party}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["BGSUB_BACKEND"] = "numpy"  # no JIT compile of the fresh copy's kernels: seconds instead of a minute
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                              "--no-index", str(wheel)], capture_output=True, text=True, env=env)
    assert install.returncode == 0, install.stderr[-3000:]
    installed = site / "bgsub"
    assert (installed / "schemas" / "config.schema.yaml").is_file() and (installed / "kernels" / "em.py").is_file()

    work = tmp_path / "elsewhere"
    work.mkdir()
    done = subprocess.run([python, "-c", SCRIPT], cwd=work, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("file", "kernels"):  # the installed copy, not the repository's
        assert Path(report[key]).resolve().is_relative_to(env_dir.resolve()), report[key]
    assert report["runs"] == ["gmm_k2", "mean"]
    assert report["masks"] == {"gmm_k2": 8, "mean": 8}
