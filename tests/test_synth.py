"""Synthetic scenes: deterministic, labelled as documented, and each scene doing what it says."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from bgsub.synth import (
    CDNET_CATEGORY,
    MAX_SEEDS,
    NEW_SCENES,
    SCENE_SEEDS,
    SCENES,
    make_scene,
    scene_kinds,
    scene_seed,
    scene_seeds,
)

SMALL = {"height": 30, "width": 40, "n_train": 20, "n_test": 20}

# sha256 (first 16 hex digits) of frames, labels, background and n_train of make_scene(kind, seed=5, **SMALL),
# computed with the generator before the newer kinds were added (PYTHONPATH=/work/wt/base, commit c39a1d0);
# shadows and foliage recomputed when overlapping cast shadows stopped compounding (their only change since)
OLDER_SCENE_DIGESTS = {
    "static": "c1ba8bc66f0bf588",
    "dynamic": "42c2b6b7e14044bb",
    "illumination": "6b61ce6b6671bb57",
    "parked": "d3a12e52c06d87f3",
    "departed": "977cb6674b374b85",
    "shadows": "7d9865d6c4f764a4",
    "foliage": "a4a9ce1970bba7b8",
}


def _digest(scene) -> str:
    h = hashlib.sha256()
    for array in (scene.frames, scene.labels, scene.background):
        h.update(np.ascontiguousarray(array).tobytes())
    h.update(str(scene.n_train).encode())
    return h.hexdigest()[:16]


@pytest.mark.parametrize("scene", SCENES)
def test_deterministic_and_labelled(scene):
    a = make_scene(scene, seed=5, **SMALL)
    b = make_scene(scene, seed=5, **SMALL)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.frames.shape == (40, 30, 40, 3) and a.frames.dtype == np.uint8
    assert np.all(a.labels[:20] == 85)  # training frames are outside the temporal ROI
    assert set(np.unique(a.labels[20:])) <= {0, 50, 170, 255}
    assert not np.array_equal(make_scene(scene, seed=6, **SMALL).frames, a.frames)


def test_static_background_is_truth_plus_noise():
    s = make_scene("static", seed=0, noise_sigma=3.0, n_objects=0, **SMALL)
    residual = s.frames.astype(float) - s.background
    assert abs(residual.mean()) < 0.2 and residual.std() == pytest.approx(3.0, rel=0.1)
    assert np.all(s.labels[20:] == 0)


def test_dynamic_scene_has_multimodal_background_pixels():
    s = make_scene("dynamic", seed=0, n_objects=0, **SMALL)
    # a dynamic pixel switches between a few distinct colours: its colours spread far beyond sensor noise
    spread = s.frames.astype(float).std(axis=0).max(axis=-1)
    assert np.mean(spread > 20) > 0.05
    assert np.all(s.labels[20:] == 0)  # all of it is background


def test_illumination_darkens_gradually():
    s = make_scene("illumination", seed=0, n_objects=0, **SMALL)
    brightness = s.frames.reshape(40, -1).mean(axis=1)
    assert brightness[-1] < 0.75 * brightness[19]
    assert np.all(np.diff(brightness[20:]) < 2.0)  # no jumps


def test_shadows_are_labelled_50_and_darker():
    s = make_scene("shadows", seed=0, **SMALL)
    shadow = s.labels == 50
    assert shadow.any()
    t = np.nonzero(shadow.any(axis=(1, 2)))[0][0]
    ratio = s.frames[t][shadow[t]].astype(float).mean() / s.background[shadow[t]].astype(float).mean()
    assert 0.45 < ratio < 0.7


@pytest.mark.parametrize(("scene", "darkening"), [("shadows", 0.55), ("intermittent", 0.6)])
def test_overlapping_cast_shadows_darken_the_ground_once(scene, darkening):
    # one sun: where two objects' shadows overlap the ground is as dark as under one (heavy traffic, no noise, so
    # each shadow pixel's brightness ratio to the background is the darkening up to rounding)
    s = make_scene(scene, seed=3, noise_sigma=0.0, n_objects=40, height=60, width=80, n_train=5, n_test=30)
    shadow = s.labels[5:] == 50
    frames = s.frames[5:].astype(float)[shadow]
    background = np.broadcast_to(s.background.astype(float), s.frames[5:].shape)[shadow]
    lit = background.sum(-1) > 150  # bright enough that rounding moves the ratio by under 0.01
    ratio = frames[lit].sum(-1) / background[lit].sum(-1)
    assert lit.sum() > 500
    np.testing.assert_allclose(ratio, darkening, atol=0.02)


def test_parked_object_becomes_unknown_then_background():
    s = make_scene("parked", seed=0, n_objects=0, absorb_frames=5, **SMALL)
    test_labels = s.labels[20:]
    moving = (test_labels == 255).any(axis=(1, 2))
    assert moving.any() and not moving[-1]  # it moves, then it is no longer foreground
    last = s.frames[-1].astype(float)
    assert np.abs(last - s.background).max() > 50  # yet it is still there: background now


def test_parked_object_stays_foreground_while_it_stands_as_cdnet_labels_it():
    s = make_scene("parked", seed=0, n_objects=0, **SMALL)
    absorbed = make_scene("parked", seed=0, n_objects=0, absorb_frames=5, **SMALL)
    np.testing.assert_array_equal(s.frames, absorbed.frames)  # one scene, two labellings
    last = s.frames[-1].astype(float)
    car = np.abs(last - s.background).max(axis=-1) > 50
    assert car.sum() > 20
    assert np.all(s.labels[-1][car] >= 170)  # still foreground (its 1-pixel border unknown) at the end
    assert np.mean(s.labels[-1][car] == 255) > 0.5
    assert np.all(absorbed.labels[-1][car] == 0)  # where the other labelling has absorbed it
    foreground = (s.labels[20:] == 255).sum(axis=(1, 2))
    arrived = int(np.argmax(foreground > 0))
    assert np.all(foreground[arrived:] > 0)  # from the frame it drives in to the last one


@pytest.mark.parametrize("absorb_frames", [0, -3, 2.5, True, "30"])
def test_parked_labelling_rejects_a_nonsense_absorb_frames(absorb_frames):
    with pytest.raises(ValueError, match="absorb_frames must be a positive integer or None"):
        make_scene("parked", seed=0, absorb_frames=absorb_frames, **SMALL)


def test_departed_object_uncovers_background():
    s = make_scene("departed", seed=0, n_objects=0, **SMALL)
    first_train, last = s.frames[0].astype(float), s.frames[-1].astype(float)
    uncovered = np.abs(first_train - last).max(axis=-1) > 40
    assert uncovered.any()
    assert np.all(s.labels[-1][uncovered] == 0)  # the uncovered road is background


def test_foliage_sways_within_two_pixels_and_has_dark_grey_objects():
    s = make_scene("foliage", seed=0, n_objects=6, **SMALL)
    leaves = np.zeros(s.labels.shape[1:], bool)
    leaves[: 30 // 3 + 4, 40 // 8 : 40 - 40 // 8] = True
    moving = (s.labels == 255) | (s.labels == 170) | (s.labels == 50)
    frames = s.frames.astype(float)
    # leaf pixels change far beyond sensor noise between frames (they sway) ...
    still = ~moving[:-1] & ~moving[1:]
    change = np.abs(np.diff(frames, axis=0)).max(axis=-1)
    assert np.mean(change[:, leaves][still[:, leaves]] > 30) > 0.2
    assert np.mean(change[:, ~leaves][still[:, ~leaves]] > 30) < 0.05
    # ... yet every frame's leaves are the first frame's leaves shifted by at most 2 pixels (up to noise)
    for t in (5, 25, 35):
        inner = leaves.copy()
        inner[:2], inner[:, :2 + 40 // 8], inner[:, 40 - 40 // 8 - 2:] = False, False, False
        inner &= ~moving[t] & ~moving[0]
        errors = [np.abs(np.roll(frames[0], (dy, dx), axis=(0, 1))[inner] - frames[t][inner]).mean()
                  for dy in range(-4, 5) for dx in range(-4, 5)]
        assert min(errors) < 12
    # half the objects are dark grey: equal channels
    grey = [np.ptp(s.frames[t][s.labels[t] == 255].astype(float).mean(axis=0)) < 12
            for t in range(20, 40) if (s.labels[t] == 255).sum() > 20]
    assert any(grey)


@pytest.mark.parametrize("scene", sorted(OLDER_SCENE_DIGESTS))
def test_older_scenes_are_byte_identical(scene):
    # parked's labels then absorbed the parked object after 30 frames; its frames are the same either way
    labelling = {"absorb_frames": 30} if scene == "parked" else {}
    assert _digest(make_scene(scene, seed=5, **SMALL, **labelling)) == OLDER_SCENE_DIGESTS[scene]


def test_seed_table_covers_every_kind_with_distinct_validation_and_test_seeds():
    assert scene_kinds() == SCENES and set(SCENE_SEEDS) == set(SCENES) == set(CDNET_CATEGORY)
    validation = [SCENE_SEEDS[k]["validation"] for k in SCENES]
    test = [SCENE_SEEDS[k]["test"] for k in SCENES]
    assert not set(validation) & set(test) and len(set(test)) == len(test)
    assert scene_seed("water", "test") == SCENE_SEEDS["water"]["test"]
    with pytest.raises(ValueError, match="split"):
        scene_seed("water", "train")
    assert set(CDNET_CATEGORY.values()) >= {"baseline", "dynamicBackground", "cameraJitter", "badWeather",
                                            "intermittentObjectMotion", "shadow"}


def test_further_seeds_start_with_the_declared_one_and_are_never_shared():
    seeds = {(k, split): scene_seeds(k, split, MAX_SEEDS) for k in SCENES for split in ("validation", "test")}
    assert all(s[0] == SCENE_SEEDS[k][split] for (k, split), s in seeds.items())
    everything = [seed for s in seeds.values() for seed in s]
    assert len(set(everything)) == len(everything) == 2 * len(SCENES) * MAX_SEEDS  # no kind or split shares one
    assert scene_seeds("jitter", "test") == (SCENE_SEEDS["jitter"]["test"],)
    for bad in (0, MAX_SEEDS + 1, 2.0, True):
        with pytest.raises(ValueError, match="number of seeds"):
            scene_seeds("jitter", "validation", bad)
    with pytest.raises(ValueError, match="split"):
        scene_seeds("jitter", "train", 2)
    # skipping the seeds already seen continues the same sequence
    assert scene_seeds("water", "test", 3, skip=2) == seeds[("water", "test")][2:5]
    assert scene_seeds("water", "test", 1, skip=MAX_SEEDS - 1) == seeds[("water", "test")][-1:]
    for bad in (-1, MAX_SEEDS, 1.0, True):
        with pytest.raises(ValueError, match="seeds to skip"):
            scene_seeds("water", "test", 1, skip=bad)


@pytest.mark.parametrize("scene", NEW_SCENES)
def test_validation_and_test_seeds_give_different_scenes(scene):
    a = make_scene(scene, seed=scene_seed(scene, "validation"), **SMALL)
    b = make_scene(scene, seed=scene_seed(scene, "test"), **SMALL)
    assert not np.array_equal(a.background, b.background) and not np.array_equal(a.labels, b.labels)
    labels = a.labels[20:]
    assert set(np.unique(labels)) <= {0, 50, 85, 170, 255} and (labels == 255).any()


def _phase_correlation(a: np.ndarray, b: np.ndarray, upsample: int = 20) -> np.ndarray:
    """Shift (dy, dx) with ``b(x) = a(x - shift)``: the peak of the windowed, low-passed normalised
    cross-power spectrum, refined by evaluating its inverse DFT on a grid of 1/upsample pixel."""
    h, w = a.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    fa, fb = np.fft.fft2((a - a.mean()) * window), np.fft.fft2((b - b.mean()) * window)
    cross = fb * np.conj(fa)
    cross /= np.maximum(np.abs(cross), 1e-12)
    fy, fx = np.fft.fftfreq(h), np.fft.fftfreq(w)
    cross *= np.exp(-(fy[:, None] ** 2 + fx[None, :] ** 2) / (2 * 0.12**2))  # low-pass: a smooth peak
    peak = np.unravel_index(np.argmax(np.fft.ifft2(cross).real), (h, w))
    coarse = np.array([p if p <= n // 2 else p - n for p, n in zip(peak, (h, w))], float)
    offsets = np.arange(-upsample, upsample + 1) / upsample
    ys, xs = coarse[0] + offsets, coarse[1] + offsets
    surface = (np.exp(2j * np.pi * np.outer(ys, fy)) @ cross @ np.exp(2j * np.pi * np.outer(fx, xs))).real
    i, j = np.unravel_index(np.argmax(surface), surface.shape)
    return np.array([ys[i], xs[j]])


def test_jitter_frames_shift_as_recorded():
    s = make_scene("jitter", seed=scene_seed("jitter", "validation"), height=96, width=128, n_train=6, n_test=4,
                   n_objects=0)
    shifts = s.info["shifts"]
    radius = np.hypot(*shifts.T)
    assert np.all((radius >= 1) & (radius <= 3))
    grey = s.frames.astype(float).mean(axis=-1)
    for t in range(len(grey) - 1):
        estimate = _phase_correlation(grey[t], grey[t + 1])
        np.testing.assert_allclose(estimate, shifts[t + 1] - shifts[t], atol=0.25)
    assert np.all(s.labels[6:] == 0)  # a shaking background is still background


def test_jitter_ground_truth_shifts_with_the_objects():
    s = make_scene("jitter", seed=3, height=60, width=80, n_train=5, n_test=25)
    # the foreground of a frame is where the frame differs from the true background moved by that frame's shift
    on_objects, elsewhere = [], []
    for t in range(5, 30):
        fg = s.labels[t] == 255
        if fg.sum() < 20:
            continue
        dy, dx = np.rint(s.info["shifts"][t]).astype(int)
        moved = np.roll(s.background.astype(float), (dy, dx), axis=(0, 1))
        differs = np.abs(s.frames[t] - moved).max(axis=-1) > 25
        on_objects.append(differs[fg].mean())
        elsewhere.append(differs[s.labels[t] == 0].mean())
    assert len(on_objects) > 10 and np.mean(on_objects) > 0.6 and np.mean(elsewhere) < 0.15


def test_intermittent_objects_stay_foreground_while_stopped():
    s = make_scene("intermittent", seed=scene_seed("intermittent", "validation"), height=48, width=64,
                   n_train=10, n_test=80, n_objects=0)
    stopped = s.info["stopped"]
    frames_stopped = stopped[10:].any(axis=(1, 2))
    assert frames_stopped.sum() >= 50  # objects stand still for 50 frames or more
    for t in np.nonzero(stopped.any(axis=(1, 2)))[0]:
        if t >= 10:
            assert np.all(np.isin(s.labels[t][stopped[t]], (170, 255)))
            inner = stopped[t] & (s.labels[t] != 170)
            assert inner.any() and np.all(s.labels[t][inner] == 255)
    # a stopped object does not move: most of its pixels change by sensor noise only while it stands
    # (the others are hidden by something passing in front of it)
    t0 = np.nonzero(frames_stopped)[0][0] + 10
    both = stopped[t0] & stopped[t0 + 20]
    assert both.sum() > 10
    assert np.median(np.abs(s.frames[t0].astype(float) - s.frames[t0 + 20]).max(axis=-1)[both]) < 10


def test_intermittent_has_movers_in_the_training_frames():
    s = make_scene("intermittent", seed=scene_seed("intermittent", "validation"), height=48, width=64,
                   n_train=40, n_test=20)
    differs = np.abs(s.frames[:40].astype(float) - s.background).max(axis=-1) > 50
    assert (differs.sum(axis=(1, 2)) > 20).sum() >= 5


def test_weather_particles_are_background():
    s = make_scene("weather", seed=scene_seed("weather", "validation"), height=48, width=64, n_train=10,
                   n_test=20, n_objects=0)
    particles = s.info["particles"][10:]
    assert particles.mean() > 0.002
    assert np.all(s.labels[10:] == 0)  # snow is background
    # the flakes are bright against the (hazy) background, and short-lived: no pixel keeps one for long
    brighter = s.frames[10:].astype(float).mean(axis=-1) - s.background.astype(float).mean(axis=-1)
    assert brighter[particles].mean() > 25
    assert particles.sum(axis=0).max() <= 10
    with_movers = make_scene("weather", seed=scene_seed("weather", "validation"), height=48, width=64, n_train=10,
                             n_test=20)
    p = with_movers.info["particles"][10:]
    assert set(np.unique(with_movers.labels[10:][p])) <= {0, 50, 170, 255}


def test_weather_haze_lifts_the_dark_tones_more_far_away():
    s = make_scene("weather", seed=scene_seed("weather", "validation"), n_train=2, n_test=2, n_objects=0)
    # haze blends every pixel with a light grey: 35-50 % of it at the top of the picture, 12-25 % at the bottom
    assert s.background[:10].min() > 60 and s.background[-10:].min() > 20


def test_water_ripples_and_glints_are_background():
    s = make_scene("water", seed=scene_seed("water", "validation"), height=48, width=64, n_train=10, n_test=20,
                   n_objects=0)
    frames = s.frames.astype(float)
    spread = frames.std(axis=0).max(axis=-1)  # (H, W) over time, sensor noise alone gives about 3
    assert np.median(spread[30:]) > 9  # the surface moves far beyond sensor noise ...
    assert np.median(spread[22:25]) < 4.5  # ... the bank path does not
    assert (frames[:, 30:].max(axis=-1) > 220).mean() > 0.005  # specular glints
    assert np.all(s.labels[10:] == 0)


def test_exposure_gain_steps_and_drift():
    s = make_scene("exposure", seed=scene_seed("exposure", "validation"), height=48, width=64, n_train=30,
                   n_test=40, n_objects=0)
    gain = s.info["gain"]
    assert np.abs(np.diff(gain[30:])).max() > 0.1  # an auto-exposure step in the test frames
    brightness = s.frames.reshape(len(gain), -1).astype(float).mean(axis=1)
    assert np.corrcoef(brightness, gain)[0, 1] > 0.95
    assert np.all(s.labels[30:] == 0)


def test_trees_sway_with_the_wind_and_are_background():
    s = make_scene("trees", seed=scene_seed("trees", "validation"), height=60, width=80, n_train=20, n_test=40,
                   n_objects=0)
    frames, gust = s.frames.astype(float), s.info["gust"]
    assert gust.shape == (60,) and np.all((gust >= 0.3) & (gust <= 1.5))
    crown = frames[:, :40]  # the crown fills rows 0-44 of 60
    # the crown moves more from one frame to the next when the wind is stronger ...
    step = np.abs(np.diff(crown, axis=0)).mean(axis=(1, 2, 3))
    assert np.corrcoef(step, gust[1:])[0, 1] > 0.8
    # ... far enough for leaves and the sky through the gaps to take each other's place in many pixels
    grey = crown.mean(axis=-1)
    assert ((grey.max(axis=0) - grey.min(axis=0)) > 80).mean() > 0.2
    assert np.median(frames[:, 47:].std(axis=0).max(axis=-1)) < 4.5  # the lawn and the path do not move
    assert np.all(s.labels[20:] == 0)


@pytest.mark.parametrize("scene", NEW_SCENES)
def test_object_borders_are_unknown(scene):
    s = make_scene(scene, seed=scene_seed(scene, "validation"), height=48, width=64, n_train=5, n_test=15)
    labels = s.labels[5:]
    motion = labels == 255
    # every foreground pixel's 4-neighbours are foreground or unknown: a band of 170 rings each object
    padded = np.pad(labels, ((0, 0), (1, 1), (1, 1)), constant_values=0)
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        neighbour = padded[:, dy : dy + labels.shape[1], dx : dx + labels.shape[2]]
        assert np.all(np.isin(neighbour[motion], (170, 255)))


def test_the_config_schema_accepts_every_scene_kind():
    from bgsub.config import load_schema

    datasets = load_schema()["properties"]["datasets"]
    enums = [v for v in _walk(datasets) if isinstance(v, dict) and "scene" in v.get("properties", {})]
    assert enums and all(set(e["properties"]["scene"]["enum"]) == set(SCENES) for e in enums)


def _walk(node):
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk(child)
