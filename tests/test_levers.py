"""The scoring levers of the ``gmm`` method (bgsub.spatial), on small hand-made models and frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bgsub import kernels
from bgsub.datasets import open_sequence
from bgsub.gmm import GMMMethod
from bgsub.kernels.shadow import is_shadow
from bgsub.ranking import min_background_mahalanobis
from bgsub.spatial import frame_gains, score_frames, scoring_model, training_episodes
from bgsub.synth import make_scene


def _single_gaussian(background: np.ndarray, var: float) -> dict:
    """A one-component spherical model ``(H, W, 1)`` with mean ``background (H, W, C)``."""
    h, w, _ = background.shape
    return {
        "weights": np.ones((h, w, 1)),
        "means": background[:, :, None, :].astype(np.float32),
        "covariances": np.full((h, w, 1), var),
        "covariance_type": "spherical",
    }


def _model(background: np.ndarray, var: float, **kwargs) -> object:
    return scoring_model(**_single_gaussian(background, var), background_ratio=0.9, rank_by="weight", **kwargs)


def _textured_background(h: int = 12, w: int = 14) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform(40, 200, (h, w, 3)).astype(np.float32)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_levers_off_equal_the_plain_scores(covariance_type: str) -> None:
    scene = make_scene("dynamic", seed=1, height=16, width=20, n_train=40, n_test=8)
    plain = GMMMethod(n_components=2, covariance_type=covariance_type).fit(scene.frames[:40])
    state = plain.get_state()
    # var bounds that do not bind route the scores through bgsub.spatial: same numbers
    routed = GMMMethod(n_components=2, covariance_type=covariance_type, var_min=1e-9).set_state(state)
    expected = min_background_mahalanobis(scene.frames[40:], plain.model_, rank_by=plain.rank_by)
    np.testing.assert_allclose(routed.foreground_scores(scene.frames[40:]), expected, rtol=1e-4, atol=1e-3)


def test_variance_floor_and_ceiling_closed_form() -> None:
    background = np.full((2, 3, 3), 100.0, np.float32)
    frame = background + np.array([2.0, 0.0, 0.0], np.float32)  # |x - mu|^2 = 4
    # fitted variance 1: unbounded d2 = 4; floor 16 -> 4 / 16 = 0.25
    np.testing.assert_allclose(score_frames(frame[None], _model(background, 1.0)), 4.0, rtol=1e-6)
    np.testing.assert_allclose(score_frames(frame[None], _model(background, 1.0, var_min=16.0)), 0.25, rtol=1e-6)
    # fitted variance 400: ceiling 75 -> 4 / 75
    np.testing.assert_allclose(score_frames(frame[None], _model(background, 400.0, var_max=75.0)), 4 / 75, rtol=1e-5)


def test_gain_compensation_restores_a_darkened_frame() -> None:
    background = _textured_background()
    model = _model(background, 16.0)
    frame = background.copy()
    frame[3:6, 4:8] = [250.0, 10.0, 10.0]  # an object
    reference = score_frames(frame[None], model)
    dark = 0.7 * frame
    assert frame_gains(dark[None], background)[0] == pytest.approx(0.7, abs=1e-4)
    without = score_frames(dark[None], model)
    restored = score_frames(dark[None], model, gain=True)
    assert (without[0][reference[0] < 1e-3] > 16.27).all()  # darkened background looks like foreground
    np.testing.assert_allclose(restored, reference, atol=1e-2)  # the object survives, the rest is background
    assert (restored[0, 3:6, 4:8] > 100).all()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_clipped_channels_under_a_gain_step_stay_background(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """Auto-exposure raises the gain by 1.25: a bright background (230) clips at 255, which divided by the gain reads
    204, 26 grey levels below its model. With ``gain_clip`` the clipped channels read the background's value, and
    an object on the bright part stays foreground."""
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    background = _textured_background()
    background[:5] = 230.0  # a bright band (a sky) on top of the texture
    model = _model(background, 16.0)
    frame = background.copy()
    frame[1:4, 4:8] = [60.0, 60.0, 200.0]  # an object on the bright band
    lit = np.minimum(np.rint(1.25 * frame), 255.0).astype(np.uint8)
    clipped_band = np.zeros(frame.shape[:2], bool)
    clipped_band[:5] = True
    clipped_band[1:4, 4:8] = False
    plain = score_frames(lit[None], model, gain=True)[0]
    clip = score_frames(lit[None], model, gain=True, gain_clip=True)[0]
    assert (plain[clipped_band] > 16.27).all()  # the clipped band looks darker than its model
    assert (clip[clipped_band] < 1.0).all()  # read as at least its background: background
    assert (clip[1:4, 4:8] > 100).all()  # the object is still foreground
    np.testing.assert_array_equal(clip[5:], plain[5:])  # nothing clipped there: unchanged
    assert (score_frames(lit[None], model, gain_clip=True)[0] == score_frames(lit[None], model)[0]).all()  # no gain


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_sky_clipped_in_training_stays_background_when_the_exposure_drops(monkeypatch: pytest.MonkeyPatch,
                                                                           backend: str) -> None:
    """The training frames clipped a bright sky (its light 280 in the model's units), so its model sits at 255. The
    exposure then drops to 0.8: the sky reads 224, which divided by the gain is 280, 25 grey levels above its
    model. With ``gain_saturate`` the divided frame reads at most 255, as the training frames did: the sky is
    background again, and an object on it stays foreground."""
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    light = _textured_background()
    light[:5] = 280.0  # the sky, brighter than the sensor's ceiling
    model = _model(np.minimum(light, 255.0), 16.0)  # fitted on clipped training frames
    scene_light = light.copy()
    scene_light[1:4, 4:8] = [60.0, 60.0, 200.0]  # an object in front of the sky
    dim = np.rint(0.8 * scene_light).astype(np.uint8)  # nothing clips at the lower exposure
    sky = np.zeros(light.shape[:2], bool)
    sky[:5] = True
    sky[1:4, 4:8] = False
    plain = score_frames(dim[None], model, gain=True)[0]
    saturated = score_frames(dim[None], model, gain=True, gain_saturate=True)[0]
    assert (plain[sky] > 16.27).all()  # divided back to 280: brighter than its model
    assert (saturated[sky] < 1.0).all()  # at most 255, as in training: background
    assert (saturated[1:4, 4:8] > 100).all()  # the object is still foreground
    np.testing.assert_array_equal(saturated[5:], plain[5:])  # nothing above 255 there: unchanged
    assert (score_frames(dim[None], model, gain_saturate=True)[0] == score_frames(dim[None], model)[0]).all()


def test_spatial_context_absorbs_one_pixel_jitter() -> None:
    background = _textured_background()
    model = _model(background, 16.0)
    shifted = np.roll(background, 1, axis=1)  # camera moved one pixel
    inner = (slice(None), slice(None), slice(1, -1))
    assert np.median(score_frames(shifted[None], model)[inner]) > 50
    np.testing.assert_allclose(score_frames(shifted[None], model, radius=1)[inner], 0.0, atol=1e-3)


def test_spatial_context_keeps_a_real_object() -> None:
    background = np.full((12, 12, 3), 90.0, np.float32)
    frame = background.copy()
    frame[4:8, 4:8] = 200.0
    scores = score_frames(frame[None], _model(background, 16.0), radius=1)
    assert (scores[0, 4:8, 4:8] > 100).all() and (scores[0, :3] < 1e-3).all()


def test_shadow_suppression_scores_darker_copies_zero() -> None:
    background = np.full((4, 4, 3), [120.0, 100.0, 80.0], np.float32)
    frame = background.copy()
    frame[0, 0] = 0.6 * background[0, 0]  # a shadow: same chromaticity, darker
    frame[1, 1] = [40.0, 100.0, 150.0]  # a darker object of another colour
    scores = score_frames(frame[None], _model(background, 16.0), shadow_tau=0.5)
    assert scores[0, 0, 0] == 0.0
    assert scores[0, 1, 1] > 100
    assert score_frames(frame[None], _model(background, 16.0))[0, 0, 0] > 100  # off: it is foreground


def test_shadow_test_is_mog2s_closed_form() -> None:
    """The one shadow test both scoring paths run (``kernels.shadow.is_shadow``), against numbers worked by hand:
    mean (100, 80, 60) with mean variance 4 and ``shadow_var_threshold`` 9 (bound 36, or 36 a^2 scaled)."""
    means = np.zeros((1, 1, 2, 3), np.float32)
    means[0, 0, 0] = [100.0, 80.0, 60.0]
    means[0, 0, 1] = [20.0, 90.0, 200.0]
    mean_var = np.full((1, 1, 2), 4.0, np.float32)
    first_only = np.array([[[True, False]]])

    def test(sample, is_bg=first_only, tau=0.4, top=1.0, scaled=False) -> bool:
        return is_shadow(np.asarray(sample, np.float32), means, mean_var, is_bg, 0, 0, tau, top, 9.0, scaled)

    # x = 0.5 mu + (3, -3, 0): a = 0.5 + 60 / 20000 = 0.503, residual (2.7, -3.24, -0.18), squared 17.82
    off_copy = [53.0, 37.0, 30.0]
    assert test(off_copy)  # 17.82 < 36
    assert not test(off_copy, scaled=True)  # 17.82 > 36 * 0.503^2 = 9.11
    assert not test(off_copy, tau=0.504) and not test(off_copy, top=0.503)  # a outside [tau, top)
    exact = [50.0, 40.0, 30.0]  # a = 0.5 exactly: the band is closed below, open above
    assert test(exact, tau=0.5) and not test(exact, top=0.5)
    assert not test([53.0, 20.0, 30.0])  # another chromaticity: a = 0.435, residual (9.5, -14.8, 3.9), 324.5 > 36
    assert not test(exact, is_bg=np.zeros((1, 1, 2), bool))  # no background component: no shadow
    assert not test(exact, is_bg=np.array([[[False, True]]]))  # not a darker copy of the second
    means[0, 0, 0] = 0.0  # a black mean gives no ratio (and no NaN): the second component decides
    assert not test(exact, is_bg=np.ones((1, 1, 2), bool))
    assert test([10.0, 45.0, 100.0], is_bg=np.ones((1, 1, 2), bool))  # half the second mean


def test_adaptation_follows_a_slow_drift_and_is_deterministic() -> None:
    background = np.full((3, 4, 3), 100.0, np.float32)
    drifted = np.repeat((background + 6.0)[None], 200, axis=0)  # d2 = 3 * 36 / 16 = 6.75 < 16.27
    frozen = score_frames(drifted, _model(background, 16.0))
    adapted = score_frames(drifted, _model(background, 16.0), learning_rate=0.05, update_threshold=16.27)
    np.testing.assert_allclose(frozen, 6.75, rtol=1e-5)
    assert adapted[-1].max() < 1e-3 < adapted[0].min()
    again = score_frames(drifted, _model(background, 16.0), learning_rate=0.05, update_threshold=16.27)
    np.testing.assert_array_equal(adapted, again)


def test_adaptive_flag_and_state_round_trip() -> None:
    scene = make_scene("static", seed=0, height=10, width=12, n_train=20, n_test=6)
    method = GMMMethod(n_components=2, learning_rate=0.02, gain_compensation=True).fit(scene.frames[:20])
    assert method.adaptive and not GMMMethod().adaptive
    first = method.foreground_scores(scene.frames[20:])
    again = GMMMethod(**method.get_params()).set_state(method.get_state()).foreground_scores(scene.frames[20:])
    np.testing.assert_array_equal(first, again)  # set_state starts from the fitted model, not the adapted one
    json.dumps(method.get_params())


@pytest.mark.parametrize("bad", [{"spatial_radius": -1}, {"learning_rate": 2.0}, {"shadow_tau": 1.5},
                                 {"var_min": 10.0, "var_max": 5.0}, {"spatial_radius": True},
                                 {"max_spatial_radius": 2.5}, {"max_spatial_radius": -1},
                                 {"spatial_radius": 2, "max_spatial_radius": 1}, {"spatial_blob_fraction": 0.0},
                                 {"spatial_blob_fraction": 1.5}])
def test_bad_lever_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        GMMMethod(**bad)


def test_score_range_restricts_the_scored_frames(tiny_cdnet: Path) -> None:
    whole = open_sequence("tiny", {"path": str(tiny_cdnet)})
    part = open_sequence("tiny", {"path": str(tiny_cdnet), "score": [36, 38]})
    assert part.test_numbers() == whole.test_numbers()  # adaptive methods still run through every test frame
    assert part.scored_numbers() == [n for n in whole.scored_numbers() if 36 <= n <= 38] == [36, 37, 38]


# ---- the levers of issue 9: texture-preserving shadows, dynamism-gated spatial context, per-pixel thresholds


def _swaying_scene(n_train: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Training frames ``(T, 10, 12, 3)`` of a textured background whose left half sways by 0/1 pixel.

    Returns the frames and the still background.
    """
    rng = np.random.default_rng(seed)
    background = _textured_background(10, 12)
    frames = np.repeat(background[None], n_train, axis=0)
    for t in range(n_train):
        frames[t, :, :6] = np.roll(background, t % 2, axis=1)[:, :6]  # the left half sways
    frames += rng.normal(0, 1.0, frames.shape)
    return frames.astype(np.float32), background


def _hand_state(background: np.ndarray, var: float) -> dict:
    """The state of a one-component spherical mixture per pixel with mean ``background (H, W, C)``."""
    h, w, _ = background.shape
    return {"weights_": np.ones((h, w, 1)), "means_": background[:, :, None, :].astype(np.float64),
            "covariances_": np.full((h, w, 1), var), "precisions_cholesky_": np.full((h, w, 1), var ** -0.5),
            "converged_": np.ones((h, w), bool), "n_iter_": np.ones((h, w), np.int64),
            "lower_bound_": np.zeros((h, w))}


def _gated(background: np.ndarray, frames: np.ndarray, **params) -> GMMMethod:
    method = GMMMethod(n_components=1, covariance_type="spherical", spatial_radius=1, spatial_gate=0.2, **params)
    return method.set_state(_hand_state(background, 16.0)).calibrate(frames)


def test_training_dynamics_finds_the_swaying_pixels_and_not_passing_objects() -> None:
    frames, background = _swaying_scene()
    frames[::4, 3:7, 7:11] = 250.0  # an object on the still half in a quarter of the frames: far from everything
    method = _gated(background, frames)
    rescued = method.dynamics_["rescued"]
    assert np.median(rescued[:, 1:5]) > 0.2  # sway: own model misses, the neighbour's explains it
    assert rescued[:, 7:].max() == 0.0  # still pixels and the passing object: never rescued
    assert method._spatial_gate()[:, 7:].sum() == 0 and method._spatial_gate()[:, 1:5].mean() > 0.5
    state = method.get_state()
    assert GMMMethod(**method.get_params()).set_state(state)._spatial_gate().tolist() == method._spatial_gate().tolist()


def test_gated_spatial_context_keeps_recall_on_still_pixels() -> None:
    frames, background = _swaying_scene()
    gated = _gated(background, frames)
    everywhere = GMMMethod(**{**gated.get_params(), "spatial_gate": None}).set_state(gated.get_state())
    frame = background.copy()
    frame[:, 8] = background[:, 9]  # a still pixel takes its neighbour's colour: a change there, not a sway
    frame[:, 3] = background[:, 2]  # a swaying pixel does the same: background
    g, e = gated.foreground_scores(frame[None])[0], everywhere.foreground_scores(frame[None])[0]
    assert (g[:, 8] > 16.27).mean() > 0.5 and (e[:, 8] < 1.0).all()  # ungated context hides the change
    assert (g[:, 3] < 1.0).all() and (e[:, 3] < 1.0).all()


def _leaf_grid(h: int = 16, w: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """A grey background with a leaf-green pixel every 4 px, and where a mover could hide: ``(H, W, 3)`` each."""
    background = np.full((h, w, 3), 150.0, np.float32)
    leaves = np.zeros((h, w), bool)
    leaves[1::4, 1::4] = True
    background[leaves] = [40.0, 110.0, 40.0]
    return background, leaves


@pytest.mark.parametrize("gated", [True, False])
def test_a_mover_in_the_leaves_colour_stays_foreground_with_spatial_blob_fraction(gated: bool) -> None:
    background, leaves = _leaf_grid()
    model = _model(background, 16.0)
    frame = background.copy()
    frame[3:13, 3:13] = [40.0, 110.0, 40.0]  # a mover in the leaves' colour, in front of them
    gate = np.ones(background.shape[:2], bool) if gated else None  # None: the neighbourhood at every pixel
    plain = score_frames(frame[None], model, radius=1, spatial_gate=gate)[0]
    blob = score_frames(frame[None], model, radius=1, spatial_gate=gate, blob_fraction=0.8)[0]
    inside = (slice(5, 11), slice(5, 11))  # where the whole 5x5 window is the mover
    assert (plain[inside] < 1.0).mean() > 0.5  # the leaves next to most of its pixels explain them
    assert (blob[inside][~leaves[inside]] > 100).all()  # inside a solid blob: own components only
    assert (blob[inside][leaves[inside]] == 0).all()  # (where a leaf is, its own model explains the colour)


def test_a_swaying_leaf_stays_background_with_spatial_blob_fraction() -> None:
    background, leaves = _leaf_grid()
    model = _model(background, 16.0)
    frame = np.full_like(background, 150.0)
    frame[np.roll(leaves, 1, axis=1)] = [40.0, 110.0, 40.0]  # every leaf one pixel to the right
    gate = np.ones(background.shape[:2], bool)
    own = score_frames(frame[None], model)[0]
    blob = score_frames(frame[None], model, radius=1, spatial_gate=gate, blob_fraction=0.8)[0]
    assert (own > 100).sum() == 2 * leaves.sum()  # a leaf's old and new pixel: an edge, not a blob
    np.testing.assert_allclose(blob, 0.0, atol=1e-3)


def test_dynamics_survive_get_state_and_are_required() -> None:
    frames, _ = _swaying_scene(n_train=12)
    method = GMMMethod(n_components=1, covariance_type="spherical", adaptive_threshold=3.0).fit(frames)
    again = GMMMethod(**method.get_params()).set_state(method.get_state())
    np.testing.assert_array_equal(again.foreground_scores(frames[:2]), method.foreground_scores(frames[:2]))
    bare = {k: v for k, v in method.get_state().items() if not k.startswith("dynamics_")}
    with pytest.raises(RuntimeError, match="calibrate"):
        GMMMethod(**method.get_params()).set_state(bare).foreground_scores(frames[:2])


def test_adaptive_threshold_divides_by_the_bounded_training_quantile() -> None:
    frames, _ = _swaying_scene()
    plain = GMMMethod(n_components=1, covariance_type="spherical", var_min=16.0).fit(frames)
    adaptive = GMMMethod(**{**plain.get_params(), "adaptive_threshold": 3.0, "adaptive_quantile": 0.9})
    adaptive.set_state(plain.get_state()).calibrate(frames)
    train_scores = plain.foreground_scores(frames)
    scale = np.clip(np.quantile(train_scores, 0.9, axis=0) / 7.81, 1.0, 3.0)  # the numpy reference
    np.testing.assert_allclose(adaptive._score_scale(), scale, rtol=1e-4)
    np.testing.assert_allclose(adaptive.foreground_scores(frames[:3]), train_scores[:3] / scale, rtol=1e-4)
    assert scale[:, 8:].max() == 1.0  # a still pixel keeps the global threshold


def _shadow_model(background: np.ndarray) -> object:
    return _model(background, 16.0)


def _copy_and_object(background: np.ndarray, ratio: float) -> np.ndarray:
    """The background with a patch ``ratio`` times as bright (its texture kept: a shadow below 1, a highlight
    above) at [2:8, 2:8], and an object of the same mean brightness ratio with a texture of its own at [9:15, 9:15]."""
    frame = background.copy()
    frame[2:8, 2:8] = ratio * background[2:8, 2:8]
    rng = np.random.default_rng(1)
    flat = ratio * background[9:15, 9:15].mean(axis=(0, 1))
    frame[9:15, 9:15] = flat + rng.normal(0, 15, (6, 6, 3))
    return frame


def test_texture_test_tells_a_shadow_from_a_dark_textured_object() -> None:
    background = _textured_background(16, 16)
    frame = _copy_and_object(background, 0.6)  # a shadow, and a darker object with its own texture
    mog2 = score_frames(frame[None], _shadow_model(background), shadow_tau=0.5)[0]
    textured = score_frames(frame[None], _shadow_model(background), shadow_tau=0.5, shadow_texture=1.0)[0]
    assert (textured[3:7, 3:7] == 0).all()  # the shadow's interior (its 3x3 windows lie inside it)
    assert (textured[10:14, 10:14] > 16.27).all()  # the object is kept
    assert (mog2[2:8, 2:8] == 0).all()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_masked_texture_test_keeps_a_shadows_edges_and_still_tells_a_dark_object(
        monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    background = _textured_background(16, 16)
    frame = background.copy()
    frame[2:8, 2:8] = 0.6 * background[2:8, 2:8]  # a shadow
    rng = np.random.default_rng(1)
    grey = 0.6 * background[9:15, 9:15].mean(axis=(0, 1))
    frame[9:15, 9:15] = grey + rng.normal(0, 15, (6, 6, 3))  # a darker object with its own texture
    frame[12, 2] = 0.6 * background[12, 2]  # one darkened pixel alone

    def scores(masked: bool) -> np.ndarray:
        return score_frames(frame[None], _shadow_model(background), shadow_tau=0.5, shadow_texture=1.0,
                            shadow_texture_masked=masked)[0]

    plain, masked = scores(False), scores(True)
    edge = np.zeros((16, 16), bool)
    edge[2:8, 2:8] = True
    edge[3:7, 3:7] = False
    corners = np.zeros((16, 16), bool)
    corners[[2, 2, 7, 7], [2, 7, 2, 7]] = True
    assert (plain[edge & ~corners] > 16.27).all()  # their whole windows reach into the lit background
    assert (masked[edge & ~corners] == 0).all()  # 6 of their 9 window pixels are shadow: judged on those
    assert (masked[corners] > 16.27).all()  # 4 of 9: not most of the window
    assert (masked[3:7, 3:7] == 0).all()
    assert (masked[9:15, 9:15] > 16.27).all()  # the object's own pixels count, its edges too: kept
    assert masked[12, 2] > 16.27  # 1 of 9


def test_highlight_band_takes_brighter_copies_that_keep_the_texture() -> None:
    background = _textured_background(16, 16)
    frame = _copy_and_object(background, 1.3)  # a patch lit more, and a brighter object with its own texture
    tests = {"shadow_tau": 0.5, "shadow_texture": 1.0, "shadow_texture_masked": True}
    shadows_only = score_frames(frame[None], _shadow_model(background), **tests)[0]
    highlights = score_frames(frame[None], _shadow_model(background), shadow_max=2.0, **tests)[0]
    assert (shadows_only[3:7, 3:7] > 16.27).all()  # brighter is no shadow
    assert (highlights[3:7, 3:7] == 0).all()
    assert (highlights[10:14, 10:14] > 16.27).all()  # its own texture: it stays foreground
    narrow = score_frames(frame[None], _shadow_model(background), shadow_max=1.25, **tests)[0]
    assert (narrow[3:7, 3:7] > 16.27).all()  # ratio 1.3 is outside [0.5, 1.25)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_mixture_texture_test_takes_a_shadow_on_the_second_texture(monkeypatch: pytest.MonkeyPatch,
                                                                   backend: str) -> None:
    """Leaves that sway: every pixel's background is texture A (weight 0.6) or A moved by one pixel (0.4). A shadow
    cast while the moved texture shows fails the texture test against the background image (A) and passes it
    against the mixture; a dark object with a texture of its own stays foreground either way."""
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    still = _textured_background(16, 16)
    moved = np.roll(still, 1, axis=1)
    h, w, _ = still.shape
    model = {"weights": np.broadcast_to([0.6, 0.4], (h, w, 2)), "means": np.stack([still, moved], axis=2),
             "covariances": np.full((h, w, 2), 16.0), "covariance_type": "spherical"}
    frame = _copy_and_object(moved, 0.6)  # a shadow on the moved texture, and a dark textured object
    tests = {"shadow_tau": 0.5, "shadow_texture": 1.0, "shadow_texture_masked": True}

    def scores(mixture: bool) -> np.ndarray:
        fitted = scoring_model(**model, background_ratio=0.99, rank_by="weight")
        return score_frames(frame[None], fitted, shadow_texture_mixture=mixture, **tests)[0]

    image, mixture = scores(False), scores(True)
    assert (image[3:7, 3:7] > 16.27).mean() > 0.9  # against A alone, the moved texture is no darker copy
    corners = np.zeros((h, w), bool)
    corners[[2, 2, 7, 7], [2, 7, 2, 7]] = True  # 4 of their 9 window pixels are shadow: not most
    shadow = np.zeros((h, w), bool)
    shadow[2:8, 2:8] = True
    assert (mixture[shadow & ~corners] == 0).all()  # against either texture: the shadow and its edges
    assert (mixture[corners] > 16.27).all()
    assert (mixture[9:15, 9:15] > 16.27).all()  # the object's own texture: kept
    assert (mixture[~_patches(h, w)] == image[~_patches(h, w)]).all()  # elsewhere nothing changes


def _patches(h: int, w: int) -> np.ndarray:
    """The two patches of :func:`_copy_and_object`."""
    inside = np.zeros((h, w), bool)
    inside[2:8, 2:8] = inside[9:15, 9:15] = True
    return inside


def test_deep_shadow_passes_only_the_unscaled_distortion_bound() -> None:
    background = _textured_background(12, 12)
    rng = np.random.default_rng(2)
    frame = 0.2 * background + rng.normal(0, 3.0, background.shape).astype(np.float32)  # deep shadow, noise 3
    inner = (slice(1, -1), slice(1, -1))
    mog2 = score_frames(frame[None], _shadow_model(background), shadow_tau=0.1)[0]
    textured = score_frames(frame[None], _shadow_model(background), shadow_tau=0.1, shadow_texture=1.0)[0]
    assert (mog2[inner] > 0).mean() > 0.5  # MOG2's bound shrinks with a^2 = 0.04: noise breaks it
    assert (textured[inner] == 0).mean() > 0.75
    band = score_frames(frame[None], _shadow_model(background), shadow_tau=0.1, shadow_max=0.15,
                        shadow_texture=1.0)[0]
    assert (band[inner] > 0).all()  # brightness ratio 0.2 is outside [0.1, 0.15)


def test_fitting_more_components_keeps_two_flicker_colours_apart_from_two_passers_by() -> None:
    """Two background colours that flicker (60 % / 40 %) and two passers-by (8 and 7 frames) need four
    components. With three, EM merges the two colours into one broad component, and ``var_max`` narrows it
    again at scoring, so both colours score as foreground. Fitted with five and kept to the three heaviest
    (``fit_components``), each colour has its own component and the passers-by stay foreground."""
    colours = np.array([[60, 160, 120], [60, 160, 200], [200, 40, 40], [220, 220, 30]], float)
    rng = np.random.default_rng(0)
    choice = rng.choice(2, size=(100, 8, 8), p=[0.6, 0.4])
    choice[20:28], choice[70:77] = 2, 3
    frames = np.clip(colours[choice] + rng.normal(0, 3, choice.shape + (3,)), 0, 255).astype(np.uint8)
    probes = np.broadcast_to(colours[:, None, None, :], (4, 8, 8, 3)).astype(np.uint8)
    settings = dict(n_components=3, reg_covar=4.0, rank_by="weight_over_sigma", background_ratio=0.7,
                    var_min=16, var_max=75)
    threshold = 7.81

    plain = GMMMethod(**settings).fit(frames).foreground_scores(probes) > threshold
    assert plain[:2].mean(axis=(1, 2)).min() > 0.9  # both background colours are foreground almost everywhere

    method = GMMMethod(**settings, fit_components=5).fit(frames)
    assert method._fitted().n_components == 3
    foreground = method.foreground_scores(probes) > threshold
    assert foreground[:2].mean(axis=(1, 2)).max() < 0.05  # both colours are background ...
    assert foreground[2:].all()  # ... and the passers-by are not


def _three_colour_pixels(rare_frames: np.ndarray, n_train: int = 120, seed: int = 0) -> np.ndarray:
    """``(n_train, 4, 4, 3)`` frames whose every pixel shows grey 60 or grey 140 (about 0.6 / 0.4 of the frames
    outside ``rare_frames``, drawn at random) and red in the frames ``rare_frames`` names, with noise of sigma 2."""
    rng = np.random.default_rng(seed)
    frames = np.where(rng.random(n_train) < 0.6, 60.0, 140.0)[:, None, None, None] * np.ones((1, 4, 4, 3))
    frames[rare_frames] = (200.0, 40.0, 40.0)
    return np.clip(frames + rng.normal(0, 2, frames.shape), 0, 255).astype(np.uint8)


def _red_scores(frames: np.ndarray, **kwargs) -> np.ndarray:
    method = GMMMethod(n_components=3, background_ratio=0.7, rank_by="weight", var_min=16.0, var_max=75.0,
                       random_state=0, **kwargs).fit(frames)
    return method.foreground_scores(np.full((1, 4, 4, 3), (200, 40, 40), np.uint8))[0]


def test_a_rare_colour_that_keeps_coming_back_is_background_with_recurrent_episodes() -> None:
    """Red in 24 of 120 frames, one frame at a time (24 episodes, weight 0.2): background_ratio 0.7 is reached by
    the two greys (0.48 + 0.32), so red is foreground; it recurs, so ``recurrent_episodes`` admits it."""
    frames = _three_colour_pixels(np.arange(2, 120, 5))
    assert (_red_scores(frames) > 7.81).all()
    assert (_red_scores(frames, recurrent_episodes=8) < 7.81).all()


def test_a_colour_that_stood_in_one_run_stays_foreground_with_recurrent_episodes() -> None:
    """Red in frames 40-63 (one episode of 24 frames, the same weight 0.2): a stopped mover, not background."""
    frames = _three_colour_pixels(np.arange(40, 64))
    assert (_red_scores(frames, recurrent_episodes=8) > 7.81).all()


def test_training_episodes_count_runs_of_the_nearest_component() -> None:
    """A one-pixel model of two components (grey 50, grey 150): the frames 50, 50, 150, 150, 50, 200 (far from
    both), 50 give the first component 3 runs and the second 1."""
    model = scoring_model(np.array([[[0.6, 0.4]]]), np.array([[[[50.0] * 3, [150.0] * 3]]]),
                          np.full((1, 1, 2), 16.0), "spherical", background_ratio=0.5, rank_by="weight")
    frames = np.array([50, 50, 150, 150, 50, 200, 50], np.float32)[:, None, None, None] * np.ones((1, 1, 1, 3))
    np.testing.assert_array_equal(training_episodes(frames, model)[0, 0], [3, 1])


def test_episodes_survive_get_state_and_are_required() -> None:
    frames = _three_colour_pixels(np.arange(2, 120, 5))
    method = GMMMethod(n_components=3, var_min=16.0, var_max=75.0, recurrent_episodes=8, random_state=0).fit(frames)
    again = GMMMethod(**method.get_params()).set_state(method.get_state())
    np.testing.assert_array_equal(again.foreground_scores(frames[:2]), method.foreground_scores(frames[:2]))
    bare = {k: v for k, v in method.get_state().items() if k != "episodes_"}
    with pytest.raises(RuntimeError, match="episodes"):
        GMMMethod(**method.get_params()).set_state(bare).foreground_scores(frames[:2])
