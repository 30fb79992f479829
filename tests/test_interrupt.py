"""Repeated and interrupted runs of the shipped config's methods give the same bytes.

The methods are config.yaml's (the default ``gmm`` with its levers and ``postprocess:``, at K=3
only; ``online_gmm`` and its variants; mean, median, ...) on one tiny generated scene
(tests/conftest.py ``shipped_config``). Each run goes up to ``results/summary.csv``; figures are
not needed for these properties. Compared: every file under ``results/`` but logs and benchmarks,
i.e. summary.csv, sweep.csv, frames.csv, split.json, and each run's model.npz, counts.npz,
background.png and every mask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from bgsub.presets import PRESETS
from tests.conftest import ROOT, SHIPPED_SCENE, SHIPPED_TARGET, result_files, run_snakemake, shipped_config

# the killed-and-resumed runs: the two stateful defaults, the default gmm and online_gmm
KILL_RUNS = ("gmm", "online_gmm")
KILL_RUN_NAMES = ("gmm_k3", "online_gmm")
BLOCKED_FRAME = SHIPPED_SCENE["n_train"] + 9  # first frame of the third block of 4 test frames


def test_the_shipped_gmm_is_the_default_preset():
    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]["gmm"]
    assert shipped["preset"] == "default" and set(shipped) == {"preset", "n_components"}  # overrides K only
    expanded = shipped_config()["methods"]["gmm"]
    assert {k: v for k, v in expanded.items() if k != "n_components"} == {
        k: v for k, v in PRESETS["default"].items() if k != "n_components"}


def assert_same_results(got: dict[str, bytes], want: dict[str, bytes]) -> None:
    assert sorted(got) == sorted(want)
    differ = [name for name in want if got[name] != want[name]]
    assert differ == [], f"{len(differ)} files differ, e.g. {differ[:5]}"


def test_serial_run_equals_parallel_run(tmp_path: Path, shipped_run: Path):
    want = result_files(shipped_run)
    masks = [name for name in want if "/masks/bin" in name]
    assert len(masks) == 8 * SHIPPED_SCENE["n_test"]  # 8 runs of config.yaml
    assert sum(name.endswith("model.npz") for name in want) == 8
    done = run_snakemake(tmp_path, shipped_config(), SHIPPED_TARGET, "--cores", "1", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert_same_results(result_files(tmp_path), want)


# Put first on PYTHONPATH, this sitecustomize makes every Python process of the run block (and leave a mark file)
# when it reads the frame named in BGSUB_TEST_BLOCK_READ: a controlled point inside a score job.
BLOCKING_HOOK = """
import os
if os.environ.get("BGSUB_TEST_BLOCK_READ"):
    import time
    import imageio.v3 as iio
    _imread = iio.imread
    def imread(uri, *args, **kwargs):
        if os.path.basename(str(uri)) == os.environ["BGSUB_TEST_BLOCK_READ"]:
            open(os.environ["BGSUB_TEST_BLOCK_MARK"] + f".{os.getpid()}", "w").close()
            while True:
                time.sleep(1)
        return _imread(uri, *args, **kwargs)
    iio.imread = imread
"""


def _blocking_env(workdir: Path, mark: Path) -> dict[str, str]:
    hooks = workdir / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(BLOCKING_HOOK)
    path = os.pathsep.join(p for p in (str(hooks), str(ROOT), os.environ.get("PYTHONPATH")) if p)
    frame = f"in{BLOCKED_FRAME:06d}.png"
    return {"PYTHONPATH": path, "BGSUB_TEST_BLOCK_READ": frame, "BGSUB_TEST_BLOCK_MARK": str(mark)}


def _start_snakemake(workdir: Path, config: dict, *args: str, env: dict[str, str]) -> subprocess.Popen:
    """Start the workflow in its own process group (so the whole tree can be killed)."""
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0", **env}
    with open(workdir / "snakemake.log", "wb") as log:
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_until(done, what: str, workdir: Path, proc: subprocess.Popen, timeout: float = 600) -> None:
    """Return once ``done()`` is true (or fail, with Snakemake's log, if Snakemake ends first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return
        if proc.poll() is not None:
            log = (workdir / "snakemake.log").read_text()[-3000:]
            pytest.fail(f"snakemake ended (status {proc.returncode}) before {what}:\n{log}")
        time.sleep(0.02)
    pytest.fail(f"not in time: {what}")


def _make_resume(workdir: Path) -> subprocess.CompletedProcess:
    """Rerun the way ``make run`` does (its ``resume`` recipe: stale lock removed, --rerun-incomplete)."""
    args = f"{SHIPPED_TARGET} --snakefile {ROOT / 'Snakefile'} --configfile {workdir / 'config.yaml'}"
    cmd = ["make", "-f", str(ROOT / "Makefile"), "--no-print-directory", "resume",
           f"VENV={Path(sys.executable).parent.parent}", "CORES=2", f"ARGS={args}"]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=900, env=env)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_run_stopped_after_a_fit_then_killed_inside_a_score_job_resumes_to_the_same_bytes(
    tmp_path: Path, shipped_run: Path
):
    config = shipped_config(KILL_RUNS)
    # (a) a run that ends after a given job: the default gmm's fit (and what it needs: synthesize, split)
    fitted = tmp_path / "results" / "shipped" / "gmm_k3" / "model.npz"
    first = run_snakemake(tmp_path, config, str(fitted.relative_to(tmp_path)), "--cores", "2", timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not (tmp_path / "results" / "shipped" / "online_gmm").exists()
    fit_stat = fitted.stat()

    # (b) the full run, killed inside the score jobs: a hook makes the read of one test frame block, so each
    # score job stops when it reads its third block, after writing the masks of the first two into .masks.tmp
    blocked = tmp_path / "blocked"
    proc = _start_snakemake(tmp_path, config, SHIPPED_TARGET, env=_blocking_env(tmp_path, blocked))
    try:
        _wait_until(lambda: len(list(tmp_path.glob("blocked.*"))) == 2, "both score jobs reached the blocked frame",
                    tmp_path, proc)
        for run in KILL_RUN_NAMES:  # each stopped inside, two blocks of masks written, none in place
            assert len(list((tmp_path / "results" / "shipped" / run / ".masks.tmp").glob("bin*.png"))) == 8
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
        proc.wait(timeout=60)
    assert not (tmp_path / SHIPPED_TARGET).exists()
    for run in KILL_RUN_NAMES:
        assert not (tmp_path / "results" / "shipped" / run / "masks").exists()
        assert not (tmp_path / "results" / "shipped" / run / "counts.npz").exists()

    # (c) resumed the way `make run` resumes: only the unfinished jobs run again
    rerun = _make_resume(tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert (fitted.stat().st_ino, fitted.stat().st_mtime_ns) == (fit_stat.st_ino, fit_stat.st_mtime_ns)  # not refitted
    leftovers = [str(p) for p in (tmp_path / "results").rglob("*") if ".tmp" in p.name]
    assert leftovers == []

    # the same bytes as the uninterrupted run, for these runs' files and their rows of the tables
    want = {name: data for name, data in result_files(shipped_run).items()
            if name.count("/") <= 1 or name.split("/")[1] in KILL_RUN_NAMES}
    for name, data in want.items():
        if name.endswith(".csv"):
            want[name] = rows_of(data, KILL_RUN_NAMES)
    assert_same_results(result_files(tmp_path), want)


def rows_of(table: bytes, runs: tuple[str, ...]) -> bytes:
    """The header and the rows of ``runs`` of a results CSV (in their order)."""
    header, *rows = table.decode().splitlines(keepends=True)
    at = header.rstrip("\n").split(",").index("run")
    return (header + "".join(row for row in rows if row.split(",")[at] in runs)).encode()
