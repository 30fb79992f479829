"""The ablation's protocol: while choosing, only the validation slice and the synthetic scenes are read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bgsub import ablation


def _fake_open(calls: list) -> object:
    def open_real(name: str, spec: dict, run: tuple[int, int], last: int | None = None) -> ablation._Data:
        calls.append((name, run, last))
        return ablation._Data(name, np.zeros((2, 2, 2, 3), np.uint8), (1, 1), run, lambda n: None, None)

    return open_real


def test_validation_slice_reads_nothing_past_frame_899(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list = []
    monkeypatch.setattr(ablation, "_open_real", _fake_open(calls))
    monkeypatch.setattr(ablation, "_masks", lambda data, settings, cache: {})
    table = ablation.run_ablation({"default": {}}, tmp_path, slices=("validation",))
    assert calls == [("highway", (470, 899), 899)]  # no WavingTrees, no highway frame after 899
    assert table["slice"].tolist() == ["validation"]


def test_all_slices_read_both_sequences(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list = []
    monkeypatch.setattr(ablation, "_open_real", _fake_open(calls))
    monkeypatch.setattr(ablation, "_masks", lambda data, settings, cache: {})
    table = ablation.run_ablation({"default": {}}, tmp_path, slices=("validation", "test", "full", "wavingtrees"))
    assert [c[0] for c in calls] == ["highway", "wavingtrees"] and calls[0][1:] == ((470, 1700), 1700)
    assert table["slice"].tolist() == ["validation", "test", "full", "wavingtrees"]


def test_bad_slices_and_errors_without_the_test_slice_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown slices"):
        ablation.run_ablation({"default": {}}, tmp_path, slices=("tuning",))
    with pytest.raises(SystemExit):
        ablation.main(["--slices", "choosing", "--errors", str(tmp_path / "e.csv"), "--out", str(tmp_path / "a.csv")])


def test_variants_are_known_settings_of_the_method() -> None:
    from bgsub.gmm import GMMMethod

    for name, changes in ablation.VARIANTS.items():
        settings = {**ablation.DEFAULTS, **changes}
        params = {k: v for k, v in settings.items() if k not in ("postprocess", "threshold")}
        GMMMethod(**params)  # raises on an unknown or out-of-range setting
        assert name == "default" or changes, name


def test_fit_cache_is_keyed_by_the_training_frames(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (6, 3, 4, 3), dtype=np.uint8)
    settings = {"n_components": 2, "covariance_type": "full", "reg_covar": 4.0}
    first = ablation._Data("scene", frames, (1, 6), (1, 6), lambda n: None, None)
    state = ablation._fitted_state(first, settings, tmp_path)
    again = ablation._fitted_state(first, settings, tmp_path)  # read back from the cache
    np.testing.assert_array_equal(again["means_"], state["means_"])
    changed = frames.copy()
    changed[0, 0, 0] += 1
    other = ablation._fitted_state(ablation._Data("scene", changed, (1, 6), (1, 6), lambda n: None, None),
                                   settings, tmp_path)
    assert len(list(tmp_path.glob("scene_*.npz"))) == 2  # same name, other frames: fitted anew
    assert not np.array_equal(other["means_"], state["means_"])
