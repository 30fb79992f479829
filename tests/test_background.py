"""Mean and median baselines, and saving/loading fitted methods."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgsub.errors import InputError
from bgsub.methods import make_method
from bgsub.models import FORMAT_VERSION, load_model, save_model


@pytest.fixture
def frames() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (9, 5, 7, 3), dtype=np.uint8)


def test_mean_and_median_match_numpy(frames):
    mean = make_method("mean").fit(frames)
    median = make_method("median").fit(frames)
    np.testing.assert_allclose(mean.background_, frames.astype(float).mean(axis=0), rtol=1e-6)
    np.testing.assert_array_equal(median.background_, np.median(frames, axis=0))
    scores = mean.foreground_scores(frames[:2])
    expected = np.sqrt(((frames[:2].astype(float) - frames.astype(float).mean(axis=0)) ** 2).sum(axis=-1))
    assert scores.dtype == np.float32 and scores.shape == (2, 5, 7)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_median_in_bands_equals_whole(frames):
    big = np.random.default_rng(1).integers(0, 256, (31, 300, 40, 3), dtype=np.uint8)  # several row bands
    np.testing.assert_array_equal(make_method("median").fit(big).background_, np.median(big, axis=0))


def test_model_round_trip(tmp_path: Path, frames):
    method = make_method("median").fit(frames)
    save_model(tmp_path / "m.npz", method, extra={"frame_shape": [5, 7, 3]})
    loaded = load_model(
        tmp_path / "m.npz", expect_kind="median", expect_params={}, expect_extra={"frame_shape": [5, 7, 3]}
    )
    np.testing.assert_array_equal(loaded.foreground_scores(frames), method.foreground_scores(frames))
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:  # plain arrays only
        assert "background_" in data.files


def test_model_from_other_config_or_version_is_refused(tmp_path: Path, frames):
    save_model(tmp_path / "m.npz", make_method("mean").fit(frames), extra={"frame_shape": [5, 7, 3]})
    with pytest.raises(InputError, match="other kind"):
        load_model(tmp_path / "m.npz", expect_kind="median")
    with pytest.raises(InputError, match="other data"):
        load_model(tmp_path / "m.npz", expect_extra={"frame_shape": [6, 7, 3]})
    with np.load(tmp_path / "m.npz", allow_pickle=False) as data:
        arrays = dict(data)
    arrays["__bgsub_meta__"] = np.array(str(arrays["__bgsub_meta__"]).replace(
        f'"format_version": {FORMAT_VERSION}', '"format_version": 999'))
    np.savez(tmp_path / "old.npz", **arrays)
    with pytest.raises(InputError, match="format version 999"):
        load_model(tmp_path / "old.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError, match="junk.npz: not a bgsub model"):
        load_model(tmp_path / "junk.npz")
