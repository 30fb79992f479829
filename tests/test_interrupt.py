"""Interrupted and repeated runs: a killed run resumes to the same bytes; runs are deterministic.

Each test runs Snakemake on a small synthetic scene up to ``results/summary.csv``
(figures are not needed for these properties and cost seconds each).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from bgsub.models import load_model
from tests.conftest import ROOT, run_snakemake

CONFIG = {
    "datasets": {
        "dyn": {"synthetic": {"scene": "dynamic", "seed": 1, "height": 24, "width": 32, "n_train": 30, "n_test": 10}},
    },
    "methods": {"mean": {"threshold": 30, "sweep": [0, 150, 31]}, "median": {"threshold": 30, "sweep": [0, 150, 31]}},
}
TARGET = "results/summary.csv"


@pytest.fixture(scope="module")
def serial_summary(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """``results/summary.csv`` of an uninterrupted serial run (``--cores 1``)."""
    work = tmp_path_factory.mktemp("serial")
    done = run_snakemake(work, CONFIG, TARGET, "--cores", "1")
    assert done.returncode == 0, done.stderr[-3000:]
    return (work / TARGET).read_bytes()


def test_serial_and_parallel_runs_give_the_same_bytes(tmp_path: Path, serial_summary: bytes):
    done = run_snakemake(tmp_path, CONFIG, TARGET, "--cores", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / TARGET).read_bytes() == serial_summary
    assert serial_summary.count(b"\n") == 1 + 2  # header + 2 methods


def _start_snakemake(workdir: Path, *args: str) -> subprocess.Popen:
    """Start the workflow in its own process group (so the whole tree can be killed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def _wait_for_fit(workdir: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Return as soon as a fit job has started (its log file exists)."""
    logs = workdir / "results" / "logs" / "fit"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if logs.is_dir() and any(p.is_file() for p in logs.rglob("*.log")):
            return
        if proc.poll() is not None:
            pytest.fail(f"snakemake ended (status {proc.returncode}) before any fit started")
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("no fit job started in time")


def _make_resume(workdir: Path) -> subprocess.CompletedProcess:
    """Rerun the way ``make run`` does (its ``resume`` recipe: stale lock removed, --rerun-incomplete)."""
    args = f"{TARGET} --snakefile {ROOT / 'Snakefile'} --configfile {workdir / 'config.yaml'}"
    cmd = ["make", "-f", str(ROOT / "Makefile"), "--no-print-directory", "resume",
           f"VENV={Path(sys.executable).parent.parent}", "CORES=2", f"ARGS={args}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("sig", [signal.SIGKILL])
def test_killed_during_fit_then_rerun_gives_the_same_summary(tmp_path: Path, serial_summary: bytes, sig):
    proc = _start_snakemake(tmp_path, TARGET)
    _wait_for_fit(tmp_path, proc)
    os.killpg(proc.pid, sig)  # snakemake and every job it started
    proc.wait(timeout=30)
    assert not (tmp_path / TARGET).exists()
    # whatever was left looks unfinished or is complete: every model file that exists loads
    for model in (tmp_path / "results").glob("*/*/model.npz"):
        assert load_model(model).background_image() is not None
    assert not list((tmp_path / "results").glob("*/*/counts.npz"))

    rerun = _make_resume(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (tmp_path / TARGET).read_bytes() == serial_summary
    leftovers = [p for p in (tmp_path / "results").rglob("*") if ".tmp" in p.name]
    assert leftovers == [] or all(p.name.startswith(".") for p in leftovers)
    masks = sorted((tmp_path / "results" / "dyn" / "mean" / "masks").glob("*.png"))
    assert [m.name for m in masks] == [f"bin{n:06d}.png" for n in range(31, 41)]
    np.testing.assert_array_equal(np.unique([m.stat().st_size > 0 for m in masks]), [True])
