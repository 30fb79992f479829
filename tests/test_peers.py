"""OpenCV peers: our wrapper gives OpenCV's own masks, survives a save/load round trip, and is skipped without cv2."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bgsub.config import expand_runs
from bgsub.errors import InputError
from bgsub.synth import make_scene

cv2 = pytest.importorskip("cv2", reason="OpenCV (cv2) is not installed: the peers are optional (extra `peers`)")

from bgsub.methods import make_method  # noqa: E402
from bgsub.models import load_model, save_model  # noqa: E402
from bgsub.peers import OpenCVKNNMethod, OpenCVMOG2Method  # noqa: E402

CREATE = {"opencv_mog2": cv2.createBackgroundSubtractorMOG2, "opencv_knn": cv2.createBackgroundSubtractorKNN}


@pytest.fixture(scope="module")
def clip():
    """A small clip with moving objects and cast shadows: (train frames, test frames)."""
    scene = make_scene("shadows", seed=5, height=24, width=32, n_train=25, n_test=12, n_objects=4)
    return scene.frames[: scene.n_train], scene.frames[scene.n_train :]


def _opencv_masks(kind: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """OpenCV's own subtractor at its defaults, fed BGR frames: raw masks (0, 127 shadow, 255) of the test frames."""
    cv2.setRNGSeed(0)  # KNN draws from OpenCV's generator; the wrapper seeds it with random_state=0
    subtractor = CREATE[kind]()
    for frame in train:
        subtractor.apply(np.ascontiguousarray(frame[..., ::-1]))
    return np.stack([subtractor.apply(np.ascontiguousarray(frame[..., ::-1])) for frame in test])


@pytest.mark.parametrize("kind", ["opencv_mog2", "opencv_knn"])
def test_scores_are_opencv_masks_with_shadows_as_background(kind, clip):
    train, test = clip
    raw = _opencv_masks(kind, train, test)
    assert (raw == 127).any() and (raw == 255).any()  # the clip exercises shadows and foreground
    method = make_method(kind).fit(train)
    scores = method.foreground_scores(test)
    assert scores.dtype == np.float32 and scores.shape == test.shape[:3]
    np.testing.assert_array_equal(scores, (raw == 255).astype(np.float32))
    cls = type(method)
    assert cls.adaptive and (scores > cls.default_threshold).sum() == (raw == 255).sum()


@pytest.mark.parametrize("kind", ["opencv_mog2", "opencv_knn"])
def test_model_survives_save_and_load(kind, clip, tmp_path: Path):
    train, test = clip
    method = make_method(kind, history=50).fit(train)
    save_model(tmp_path / "model.npz", method, extra={"frame_shape": list(train.shape[1:])})
    background, scores = method.background_image(), method.foreground_scores(test)
    # loading replays the training frames into a fresh subtractor (reseeding OpenCV's generator for KNN)
    loaded = load_model(tmp_path / "model.npz", expect_kind=kind, expect_params=method.get_params())
    assert loaded.get_params() == method.get_params()
    np.testing.assert_array_equal(loaded.background_image(), background)
    np.testing.assert_array_equal(loaded.foreground_scores(test), scores)


def test_background_image_is_opencvs_in_rgb(clip):
    train, _ = clip
    subtractor = cv2.createBackgroundSubtractorMOG2()
    for frame in train:
        subtractor.apply(np.ascontiguousarray(frame[..., ::-1]))
    image = OpenCVMOG2Method().fit(train).background_image()
    assert image.dtype == np.uint8 and image.shape == train.shape[1:]
    np.testing.assert_array_equal(image, subtractor.getBackgroundImage()[..., ::-1])


def test_float_and_gray_frames(clip):
    train, test = clip
    as_uint8 = OpenCVKNNMethod().fit(train).foreground_scores(test)
    as_float = OpenCVKNNMethod().fit(train.astype(np.float64)).foreground_scores(test.astype(np.float32))
    np.testing.assert_array_equal(as_float, as_uint8)
    gray = OpenCVMOG2Method().fit(train[..., :1])
    assert gray.foreground_scores(test[..., :1]).shape == test.shape[:3]
    assert gray.background_image().shape == (*train.shape[1:3], 1)


def test_settings_are_checked():
    assert OpenCVMOG2Method(var_threshold=25).get_params()["var_threshold"] == 25.0
    with pytest.raises(ValueError, match="history"):
        OpenCVKNNMethod(history=0)
    with pytest.raises(InputError, match="methods.opencv_mog2"):
        expand_runs({"opencv_mog2": {"no_such_setting": 1}})


def test_runs_without_opencv_are_skipped_with_one_notice(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ModuleNotFoundError
    monkeypatch.delitem(sys.modules, "bgsub.peers")
    methods = {"mean": {}, "opencv_mog2": {}, "opencv_knn": {"threshold": 0.5}}
    with caplog.at_level(logging.WARNING, logger="bgsub.config"):
        runs = expand_runs(methods)
    assert [run.name for run in runs] == ["mean"]
    notices = [r.getMessage() for r in caplog.records]
    assert len(notices) == 1 and "opencv_mog2, opencv_knn" in notices[0] and "[peers]" in notices[0]
    with pytest.raises(InputError, match="no method can run"):
        expand_runs({"opencv_knn": {}})


def test_online_gmm_counts_equal_opencv_mog2_on_highway(shared_data: Path):
    """README's claim: on CDnet highway, online_gmm (MOG2's algorithm and defaults) gives OpenCV MOG2's counts.

    Mirrors what ``make report ARGS="--configfile config/cdnet.yaml"`` runs for both (without the workflow):
    fit on frames 1-469 (``max_train_frames`` of config.yaml keeps them all), score 470-1700 in blocks of
    ``block_size`` at each run's threshold, count by CDnet's rules over the temporal ROI and ROI.bmp.
    Measured: every mask pixel of the 1231 test frames equal, so the counts are equal too.
    """
    from bgsub.datasets import open_sequence
    from bgsub.metrics import confusion_counts
    from bgsub.presets import apply_preset
    from tests.conftest import ROOT

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    sequence = open_sequence("highway", {"path": str(shared_data / "highway")})
    assert (sequence.test, sequence.temporal_roi) == ((470, 1700), (470, 1700))
    train = sequence.source.read(sequence.train_numbers(config["max_train_frames"]))
    assert len(train) == 469
    runs = {"online_gmm": apply_preset(config["methods"]["online_gmm"])["threshold"],
            "opencv_mog2": OpenCVMOG2Method.default_threshold}
    methods = {kind: make_method(kind).fit(train) for kind in runs}
    counts = {kind: np.zeros(4, np.int64) for kind in runs}
    scored, differ = set(sequence.scored_numbers()), 0
    for numbers, frames in sequence.source.iter_blocks(sequence.test_numbers(), config["block_size"]):
        masks = {kind: methods[kind].foreground_scores(frames) > threshold for kind, threshold in runs.items()}
        differ += int((masks["online_gmm"] != masks["opencv_mog2"]).sum())
        for i, number in enumerate(numbers):
            if number in scored:
                labels = sequence.labels(number)
                for kind in runs:
                    counts[kind] += confusion_counts(masks[kind][i], labels, sequence.roi)
    assert len(scored) == 1231 and counts["online_gmm"].sum() > 0
    assert differ == 0
    assert dict(zip(("tp", "fp", "fn", "tn"), counts["online_gmm"].tolist())) == dict(
        zip(("tp", "fp", "fn", "tn"), counts["opencv_mog2"].tolist())
    )
