"""Pixel tiling: a run fitted and scored as bands of rows equals the untiled run, byte for byte."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bgsub import pipeline
from bgsub.config import Dataset, Run, expand_runs
from bgsub.errors import InputError
from bgsub.methods import METHOD_KINDS, method_class
from bgsub.models import load_model
from bgsub.tiling import (
    estimate_resources,
    fit_tile,
    gather_models,
    gather_scores,
    is_tileable,
    pixel_axis,
    score_tile,
    slice_state,
    stitch_states,
    tile_bounds,
)
from tests.conftest import run_snakemake

# small, fast settings per kind; kinds absent here run with their defaults
FAST_PARAMS = {
    "gmm": {"n_components": 2},
    "gmm_background": {"n_components": 2},
    "online_gmm": {},
}


def _tileable_kinds() -> list:
    kinds = []
    for kind in METHOD_KINDS:
        try:
            method_class(kind)
        except (ImportError, AttributeError) as exc:
            kinds.append(pytest.param(kind, marks=pytest.mark.skip(reason=f"{kind} does not import: {exc}")))
            continue
        if not is_tileable(kind):
            reason = f"{kind} cannot be tiled (is_tileable is False)"
            kinds.append(pytest.param(kind, marks=pytest.mark.skip(reason=reason)))
            continue
        kinds.append(kind)
    return kinds


@given(height=st.integers(1, 300), tiles=st.integers(1, 300))
def test_tile_bounds_cover_rows_once_in_near_equal_bands(height: int, tiles: int):
    if tiles > height:
        with pytest.raises(InputError, match="config key tiles"):
            tile_bounds(height, tiles)
        return
    bounds = tile_bounds(height, tiles)
    assert len(bounds) == tiles
    assert bounds[0][0] == 0 and bounds[-1][1] == height
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
    sizes = [r1 - r0 for r0, r1 in bounds]
    assert min(sizes) >= 1 and max(sizes) - min(sizes) <= 1
    assert sizes == [len(part) for part in np.array_split(np.arange(height), tiles)]


def test_stitch_inverts_slice_for_every_layout():
    rng = np.random.default_rng(0)
    h, w = 10, 7
    state = {
        "front": rng.random((h, w, 3, 3)).astype(np.float32),  # (H, W, K, C) like the batch GMM
        "behind": rng.random((4, 3, h, w)).astype(np.float32),  # (K, C, H, W) like the online GMM
        "grid": rng.integers(0, 9, (h, w)).astype(np.uint8),
        "count": np.array(17, np.int64),  # no pixel grid: the same in every tile
    }
    bounds = tile_bounds(h, 3)
    tiles = [slice_state(state, h, w, rows) for rows in bounds]
    assert tiles[0]["behind"].shape == (4, 3, 4, w) and tiles[2]["front"].shape == (3, w, 3, 3)
    stitched = stitch_states(tiles, bounds, w)
    assert stitched.keys() == state.keys()
    for key in state:
        np.testing.assert_array_equal(stitched[key], state[key])
    tiles[1]["count"] = np.array(18, np.int64)
    with pytest.raises(ValueError, match="'count' is not per-pixel"):
        stitch_states(tiles, bounds, w)
    assert pixel_axis((4, 4), 4, 4) == 0
    with pytest.raises(ValueError, match="found at axes"):
        pixel_axis((4, 4, 4), 4, 4)


def _split(folder: Path, out: Path) -> tuple[dict, Path]:
    spec = {"path": str(folder)}
    split_path = out / "split.json"
    pipeline.split("tiny", spec, split_path, max_train_frames=500)
    return spec, split_path


def _run(kind: str, params: dict, threshold: float, sweep: list) -> Run:
    """The run of a config entry ``{kind: {**params, threshold, sweep}}``."""
    (run,) = expand_runs({kind: {**params, "threshold": threshold, "sweep": sweep}})
    return run


def _untiled(spec, split_path, kind, params, thresholds, out: Path) -> Path:
    run = out / "untiled"
    dataset, r = Dataset("tiny", spec), _run(kind, params, 20.0, [0, 100, 21])
    assert np.array_equal(r.thresholds(), thresholds)
    pipeline.fit(dataset, r, split_path, run / "model.npz", run / "background.png")
    pipeline.score(dataset, r, split_path, run / "model.npz", run / "masks", run / "counts.npz", block_size=4)
    return run


def _tiled(spec, split_path, kind, params, thresholds, out: Path, tiles: int) -> Path:
    dataset, r = Dataset("tiny", spec), _run(kind, params, 20.0, [0, 100, 21])
    run = out / f"tiled{tiles}"
    tile_dir = run / "tiles"
    tile_dir.mkdir(parents=True)
    models = [tile_dir / f"{i}.model.npz" for i in range(tiles)]
    for i, path in enumerate(models):
        fit_tile(dataset, r, split_path, tile=i, tiles=tiles, model_path=path, block_size=7)
    gather_models(split_path, models, run=r, model_path=run / "model.npz", background_path=run / "background.png")
    strips = [tile_dir / f"{i}.masks.npy" for i in range(tiles)]
    counts = [tile_dir / f"{i}.counts.npz" for i in range(tiles)]
    for i in range(tiles):
        score_tile(dataset, r, split_path, run / "model.npz", tile=i, tiles=tiles, strip_path=strips[i],
                   counts_path=counts[i], block_size=3)
    gather_scores(split_path, strips, counts, masks_dir=run / "masks", counts_path=run / "counts.npz")
    return run


def _model_arrays(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("kind", _tileable_kinds())
def test_tiled_run_equals_untiled_run(tmp_path: Path, tiny_cdnet: Path, kind: str):
    _check_tiled_equals_untiled(tmp_path, tiny_cdnet, kind, FAST_PARAMS.get(kind, {}))


def test_tiled_run_with_recurrent_episodes_equals_untiled_run(tmp_path: Path, tiny_cdnet: Path):
    """The training runs per component (``episodes_``, per pixel) stitch like the mixture."""
    reference = _check_tiled_equals_untiled(tmp_path, tiny_cdnet, "gmm",
                                            FAST_PARAMS["gmm"] | {"recurrent_episodes": 2, "var_max": 75.0})
    assert _model_arrays(reference / "model.npz")["episodes_"].sum() > 0


def _check_tiled_equals_untiled(tmp_path: Path, tiny_cdnet: Path, kind: str, params: dict) -> Path:
    """Fit and score ``kind`` untiled and in 2 and 5 row tiles: the same model arrays, masks and counts; the
    untiled run's folder."""
    # a spatial ROI that cuts through the tiles, so strips count only their own part of it
    roi = np.zeros((24, 32), np.uint8)
    roi[3:20, 5:30] = 255
    import imageio.v3 as iio

    iio.imwrite(tiny_cdnet / "ROI.bmp", roi)
    spec, split_path = _split(tiny_cdnet, tmp_path)
    thresholds = np.unique(np.concatenate([np.linspace(0, 100, 21), [20.0]]).astype(np.float32))
    reference = _untiled(spec, split_path, kind, params, thresholds, tmp_path)
    for tiles in (2, 5):  # 24 rows: bands of 12, and of 5/5/5/5/4
        run = _tiled(spec, split_path, kind, params, thresholds, tmp_path, tiles)
        want, have = _model_arrays(reference / "model.npz"), _model_arrays(run / "model.npz")
        assert want.keys() == have.keys()
        for key in want:  # the metadata (kind, settings, frame size) and every state array
            np.testing.assert_array_equal(have[key], want[key], err_msg=key)
        assert (run / "background.png").read_bytes() == (reference / "background.png").read_bytes()
        names = sorted(p.name for p in (reference / "masks").iterdir())
        assert names == sorted(p.name for p in (run / "masks").iterdir()) and len(names) == 10
        for name in names:
            assert (run / "masks" / name).read_bytes() == (reference / "masks" / name).read_bytes(), name
        want, have = _model_arrays(reference / "counts.npz"), _model_arrays(run / "counts.npz")
        assert want.keys() == have.keys()
        for key in want:
            np.testing.assert_array_equal(have[key], want[key], err_msg=key)
            assert have[key].dtype == want[key].dtype
        assert have["frames"][:, 1:].sum() > 0 and have["positive_hist"].sum() > 0  # something was counted
        load_model(run / "model.npz", expect_kind=kind)
    return reference


def test_workflow_routes_tiled_runs_and_matches_untiled_steps(tmp_path: Path):
    """Snakemake with tiles: 2 uses the tile rules, and its outputs equal untiled pipeline steps."""
    tiny = {"height": 24, "width": 32, "n_train": 20, "n_test": 8, "n_objects": 3}
    config = {
        "datasets": {"dyn": {"synthetic": {"scene": "dynamic", "seed": 1, **tiny}}},
        "methods": {"mean": {"threshold": 30, "sweep": [0, 150, 16]}},
        "tiles": 2,
    }
    work = tmp_path / "work"
    done = run_snakemake(work, config, "results/summary.csv")
    assert done.returncode == 0, done.stderr[-3000:]
    jobs = re.findall(r"\(Rule: (\w+)\)", done.stderr + done.stdout)
    assert jobs.count("fit_tile") == 2 and jobs.count("score_tile") == 2
    assert "fit" not in jobs and "score" not in jobs
    assert not list((work / "results" / "dyn" / "mean").glob("tiles2/*/*"))  # tile files are temporary

    spec = {"path": str(work / "resources" / "synthetic" / "dyn")}
    split_path = work / "results" / "dyn" / "split.json"
    run = {"name": "mean", "method": "mean", "n_components": None, "threshold": 30.0}
    ref = tmp_path / "ref"
    thresholds = np.unique(np.concatenate([np.linspace(0, 150, 16), [30.0]]).astype(np.float32))
    dataset, mean = Dataset("dyn", spec), _run("mean", {}, 30.0, [0, 150, 16])
    assert np.array_equal(mean.thresholds(), thresholds)
    pipeline.fit(dataset, mean, split_path, ref / "model.npz", ref / "background.png")
    pipeline.score(dataset, mean, split_path, ref / "model.npz", ref / "masks", ref / "counts.npz")
    pipeline.evaluate("dyn", [run], [ref / "counts.npz"], ref / "sweep.csv", ref / "summary.csv", ref / "frames.csv")
    tiled = work / "results" / "dyn"
    assert (tiled / "summary.csv").read_bytes() == (ref / "summary.csv").read_bytes()
    assert (tiled / "sweep.csv").read_bytes() == (ref / "sweep.csv").read_bytes()
    for mask in sorted((ref / "masks").iterdir()):
        assert (tiled / "mean" / "masks" / mask.name).read_bytes() == mask.read_bytes()



def test_resources_grow_with_frame_size_and_components_and_shrink_with_tiles():
    base = {"height": 576, "width": 720, "n_train": 500, "n_test": 7000}
    small = estimate_resources("fit", **{**base, "height": 240, "width": 320}, kind="gmm", n_components=3)
    big = estimate_resources("fit", **base, kind="gmm", n_components=3)
    more_k = estimate_resources("fit", **base, kind="gmm", n_components=5)
    tiled = estimate_resources("fit", **base, kind="gmm", n_components=3, tiles=8)
    retry = estimate_resources("fit", **base, kind="gmm", n_components=3, attempt=2)
    assert small["mem_mb"] < big["mem_mb"] < more_k["mem_mb"]
    assert small["runtime"] < big["runtime"] < more_k["runtime"]
    assert tiled["mem_mb"] < big["mem_mb"] and tiled["runtime"] < big["runtime"]
    assert retry == {"mem_mb": 2 * big["mem_mb"], "runtime": 2 * big["runtime"]}
    # EM on fit_components is costed at that many when fitting; scoring keeps n_components
    assert estimate_resources("fit", **base, kind="gmm", n_components=3, fit_components=5) == more_k
    assert estimate_resources("fit", **base, kind="gmm", n_components=3, fit_components=2) == big
    assert estimate_resources("score", **base, kind="gmm", n_components=3, fit_components=5) == \
        estimate_resources("score", **base, kind="gmm", n_components=3)
    # the training frames of one tile must fit in the request with room for float64 work arrays
    frames_mb = 500 * 576 * 720 * 3 / 2**20
    assert big["mem_mb"] > 3 * frames_mb and tiled["mem_mb"] > 3 * frames_mb / 8


def test_resources_come_from_the_methods_declared_costs():
    """Each class declares its cost (no branching on kind names); the estimates are those of the
    name-based model it replaced (values computed with c39a1d0)."""
    size = {"height": 240, "width": 320, "n_train": 500, "n_test": 1000}
    assert estimate_resources("fit", **size, kind="gmm", n_components=3) == {"mem_mb": 1639, "runtime": 12}
    assert estimate_resources("fit", **size, kind="mean") == {"mem_mb": 833, "runtime": 6}
    assert estimate_resources("fit", **size, kind="median") == {"mem_mb": 1602, "runtime": 6}
    assert estimate_resources("score", **size, kind="online_gmm", tiles=4, attempt=2) == {"mem_mb": 1074, "runtime": 14}
    assert method_class("gmm_background").resource_cost(3, 3) == method_class("gmm").resource_cost(3, 3)


def test_split_json_matches_what_estimates_read(tmp_path: Path, tiny_cdnet: Path):
    _, split_path = _split(tiny_cdnet, tmp_path)
    info = json.loads(split_path.read_text())
    assert {"height", "width", "channels", "train_frames", "test"} <= info.keys()


def test_runs_that_look_across_pixels_are_not_tiled():
    assert is_tileable("gmm", {"n_components": 2})
    assert not is_tileable("gmm", {"n_components": 2, "gain_compensation": True})  # one gain per whole frame
    assert not is_tileable("gmm", {"n_components": 2, "spatial_radius": 1})  # neighbours across tile borders
    assert not is_tileable("mean", {}, {"median": 5})  # a score filter crosses tile borders
