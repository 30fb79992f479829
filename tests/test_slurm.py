"""The pipeline through a real one-node SLURM cluster, tiled, equals a local untiled run.

Opt-in (it starts daemons as root): runs when ``BGSUB_SLURM=1`` (``make slurm-test`` sets it), and skips
with the reason when the cluster cannot start (not root, no slurm-wlm/munge, an existing Slurm setup);
under CI (``CI=true``) those reasons fail the test instead, so CI never passes on a round trip that did not run.
``scripts/slurm/start.sh`` starts munged, slurmctld and slurmd; ``scripts/slurm/stop.sh`` stops them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_snakemake

pytestmark = pytest.mark.slurm

TINY = {"height": 24, "width": 32, "n_train": 20, "n_test": 8, "n_objects": 3}
CONFIG = {
    "datasets": {"dyn": {"synthetic": {"scene": "dynamic", "seed": 1, **TINY}}},
    "methods": {"mean": {"threshold": 30, "sweep": [0, 150, 16]}},
}


def in_ci() -> bool:
    """True under CI (``CI=true``, as .ci/run is started), where the round trip must run."""
    return os.environ.get("CI", "").lower() in {"true", "1", "yes"}


def cannot_run(reason: str) -> None:
    """Skip with ``reason``; under CI fail instead, so a cluster that cannot start never passes CI."""
    if in_ci():
        pytest.fail(f"SLURM round trip required under CI=true, but it cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory):
    if os.environ.get("BGSUB_SLURM") != "1":  # the plain test suite (CI too): `make slurm-test` runs it
        pytest.skip("SLURM test is opt-in: run `make slurm-test` (or set BGSUB_SLURM=1; needs root)")
    if shutil.which("sbatch") is None and os.environ.get("BGSUB_SLURM_INSTALL") != "1":
        cannot_run("slurm-wlm not installed; `make slurm-test` installs it with apt-get")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        cannot_run("snakemake-executor-plugin-slurm not installed (pip install -e '.[slurm]')")
    state = tmp_path_factory.mktemp("slurm-state")
    start = subprocess.run([str(ROOT / "scripts" / "slurm" / "start.sh"), str(state)], capture_output=True,
                           text=True, timeout=300)
    if start.returncode == 77:
        cannot_run(start.stderr.strip().splitlines()[-1])
    assert start.returncode == 0, start.stderr
    yield state
    subprocess.run([str(ROOT / "scripts" / "slurm" / "stop.sh"), str(state)], capture_output=True, timeout=60)


def test_tiled_slurm_run_equals_local_run(tmp_path: Path, slurm_cluster: Path):
    local_dir, cluster_dir = tmp_path / "local", tmp_path / "cluster"
    local = run_snakemake(local_dir, CONFIG, "results/summary.csv")
    assert local.returncode == 0, local.stderr[-3000:]

    cluster = run_snakemake(
        cluster_dir, {**CONFIG, "tiles": 2}, "results/summary.csv", "--workflow-profile",
        str(ROOT / "profiles" / "slurm-local"), timeout=600,
    )
    log = cluster.stdout + cluster.stderr
    assert cluster.returncode == 0, log[-4000:]
    submitted = dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*?/rule_(\w+?)/", log))
    assert sorted(submitted.values()).count("fit_tile") == 2 and "score_tile" in submitted.values(), log[-3000:]
    print(f"SLURM jobs: {submitted}", file=sys.stderr)

    summary = (cluster_dir / "results" / "summary.csv").read_bytes()
    assert summary == (local_dir / "results" / "summary.csv").read_bytes()
    masks = sorted((local_dir / "results" / "dyn" / "mean" / "masks").glob("bin*.png"))
    assert len(masks) == TINY["n_test"]
    for mask in masks:
        assert (cluster_dir / "results" / "dyn" / "mean" / "masks" / mask.name).read_bytes() == mask.read_bytes()


@pytest.mark.parametrize("ci, outcome", [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_a_cluster_that_cannot_start_fails_under_ci_and_skips_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no munge"):
        cannot_run("no munge")
