"""Shared fixtures: paths, tiny CDnet folders and a Snakemake runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, settings
from scipy import ndimage

from bgsub.synth import make_scene, write_cdnet

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"

# Hypothesis: CI draws the same examples on every run (derandomized: a failure there is reproducible, never a
# flake of one unlucky draw); locally each run explores new random examples. HYPOTHESIS_PROFILE=ci|dev overrides.
# (Hypothesis loads a built-in "ci" profile of its own when it sees CI; both are set here from its plain
# "default" so the choice below is the only one.)
# CI's machine is shared and slow: like Hypothesis's own CI profile, no deadline and no too_slow health check.
# Locally no deadline either: a test's first example loads (or compiles) its numba kernels, 0.3 s or more, and
# Hypothesis then reports the test as flaky; speed is measured in benchmarks/, not by a unit test's clock.
settings.register_profile(
    "ci", settings.get_profile("default"), derandomize=True, database=None, print_blob=True, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", settings.get_profile("default"), derandomize=False, print_blob=True, deadline=None)


#: Test files that ``make test`` keeps on one pytest-xdist worker: those that compile the same kernels for K and
#: dtypes the precompile leaves out (each compiled once, on one worker, then loaded from numba's cache): the EM
#: kernels, and the default path's block kernel; and those sharing the ``shipped_run`` session fixture (computed
#: once). Every other file is a group of its own (``--dist loadfile``).
XDIST_GROUPS = {
    "compiled_em": ("test_gmm.py", "test_kernels.py", "test_properties.py"),
    "block_kernels": ("test_default_kernels.py", "test_levers.py"),
    "shipped": ("test_interrupt.py", "test_workflow.py"),
}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups into the test ids
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each test in its xdist group (:data:`XDIST_GROUPS`, else its file); used by ``--dist loadgroup``."""
    group_of = {name: group for group, names in XDIST_GROUPS.items() for name in names}
    for item in items:
        name = item.path.name
        item.add_marker(pytest.mark.xdist_group(group_of.get(name, name)))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: object, ids: list[str]) -> None:
    """Stop at once when ``--dist loadgroup`` would drop the groups: pytest-xdist marks a grouped test by its id,
    which pytest 9.2 no longer lets a plugin change (https://github.com/pytest-dev/pytest-xdist/issues/1386)."""
    if node.config.getoption("dist") == "loadgroup" and ids and not any("@" in nodeid for nodeid in ids):
        raise pytest.UsageError(
            f"pytest-xdist ignores the test groups with pytest {pytest.__version__}: install the locked versions "
            "(requirements.lock, `make test`)"
        )


def hypothesis_profile(environ: dict[str, str] = os.environ) -> str:
    """The Hypothesis profile for this run: ``HYPOTHESIS_PROFILE``, else ``ci`` under ``CI=true``, else ``dev``."""
    if environ.get("HYPOTHESIS_PROFILE"):
        return environ["HYPOTHESIS_PROFILE"]
    return "ci" if environ.get("CI", "").lower() in {"true", "1", "yes"} else "dev"


settings.load_profile(hypothesis_profile())


@pytest.fixture
def shared_data() -> Path:
    """The real sequences beside the project; tests needing them skip when absent."""
    if not (SHARED_DATA / "highway" / "input").is_dir():
        pytest.skip(f"real sequences not found at {SHARED_DATA} (../shared/data beside the project)")
    return SHARED_DATA


@pytest.fixture
def tiny_cdnet(tmp_path: Path) -> Path:
    """A small synthetic scene with shadows written in CDnet layout (30 train + 10 test frames, 24x32)."""
    folder = tmp_path / "tiny"
    scene = make_scene("shadows", seed=3, height=24, width=32, n_train=30, n_test=10, n_objects=4)
    write_cdnet(scene, folder)
    return folder


def run_snakemake(workdir: Path, config: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the project's workflow in ``workdir`` with ``config`` written as its config file."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [
        str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(ROOT / "Snakefile"),
        "--directory", str(workdir), "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args,
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


# The shipped config.yaml's methods (the default `gmm`, its preset, at K=3 only, to save time) on one tiny
# generated scene: swaying leaves beside a road with shadows. Blocks of 4 test frames, so a score job writes
# its masks in three steps (tests/test_interrupt.py stops one inside).
SHIPPED_SCENE = {"scene": "foliage", "seed": 6, "height": 24, "width": 32, "n_train": 30, "n_test": 12, "n_objects": 3}
SHIPPED_TARGET = "results/summary.csv"


def shipped_config(runs: tuple[str, ...] | None = None) -> dict:
    """``config.yaml``'s methods (``gmm`` at K=3; only ``runs`` when given) on the scene ``shipped``."""
    from bgsub.presets import apply_preset

    shipped = yaml.safe_load((ROOT / "config.yaml").read_text())["methods"]
    methods = {name: apply_preset(settings) for name, settings in shipped.items()}
    methods["gmm"]["n_components"] = [3]
    if runs is not None:
        methods = {name: methods[name] for name in runs}
    return {"datasets": {"shipped": {"synthetic": dict(SHIPPED_SCENE)}}, "methods": methods, "block_size": 4}


def result_files(workdir: Path) -> dict[str, bytes]:
    """Every file under ``results/`` but the logs and benchmarks (which hold times), by relative path."""
    results = workdir / "results"
    return {
        str(p.relative_to(results)): p.read_bytes()
        for p in sorted(results.rglob("*"))
        if p.is_file() and p.relative_to(results).parts[0] not in {"logs", "benchmarks"}
    }


@pytest.fixture(scope="session")
def shipped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted ``--cores 2`` run of :func:`shipped_config` up to ``results/summary.csv``."""
    work = tmp_path_factory.mktemp("shipped")
    done = run_snakemake(work, shipped_config(), SHIPPED_TARGET, "--cores", "2", timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return work


def random_frames(rng: np.random.Generator, t: int, h: int, w: int, c: int = 3) -> np.ndarray:
    return rng.integers(0, 256, (t, h, w, c), dtype=np.uint8)


def write_video(path: Path, frames: np.ndarray, fps: int = 10) -> None:
    """Write ``frames (T, H, W, 3)`` uint8 as a video with imageio-ffmpeg (closing ffmpeg cleanly)."""
    import imageio_ffmpeg

    t, h, w, _ = frames.shape
    writer = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, quality=8, macro_block_size=1)
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()


def textured_road(height: int, width: int, seed: int = 0, smoothing: float = 1.0) -> np.ndarray:
    """A textured grey-brown road, ``(height, width, 3)`` float64 on the 0-255 scale (grain of ``smoothing`` px)."""
    rng = np.random.default_rng(seed)
    grey = ndimage.gaussian_filter(rng.normal(0, 1, (height, width)), smoothing)
    grey = 110 + 25 * grey / grey.std()
    return np.stack([grey, 0.95 * grey, 0.85 * grey], axis=-1)


def textured_car(size: int = 14, seed: int = 1) -> np.ndarray:
    """A textured red object, ``(size, size, 3)`` float64."""
    rng = np.random.default_rng(seed)
    body = ndimage.gaussian_filter(rng.normal(0, 1, (size, size)), 1.0)
    body = 150 + 30 * body / body.std()
    return np.stack([body + 40, 0.4 * body, 0.4 * body], axis=-1)


def pixels(values: np.ndarray) -> np.ndarray:
    """``values`` on the 0-255 scale as a camera records them: rounded, clipped, uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def mixture_clip(
    seed: int, n_frames: int = 200, grid: tuple[int, int] = (4, 6), n_channels: int = 3, dtype: type = np.uint8
) -> np.ndarray:
    """Pixels drawn from random 1-3 component mixtures, (T, H, W, C) on 0-255.

    uint8 (rounded and clipped) by default, as the pipeline's frames: their fits run the EM kernels that
    ``make test``'s precompile has compiled, where a float dtype would compile each K again for it (10-60 s each).
    Another ``dtype`` keeps the values drawn."""
    rng = np.random.default_rng(seed)
    frames = np.empty((n_frames, *grid, n_channels))
    for i in range(grid[0]):
        for j in range(grid[1]):
            n_true = rng.integers(1, 4)
            centres = rng.uniform(20, 235, (n_true, n_channels))
            labels = rng.choice(n_true, n_frames, p=rng.dirichlet(np.ones(n_true) * 3))
            spread = rng.uniform(2, 10, (n_true, n_channels))
            frames[:, i, j] = centres[labels] + spread[labels] * rng.standard_normal((n_frames, n_channels))
    return pixels(frames) if np.dtype(dtype) == np.uint8 else frames.astype(dtype)
