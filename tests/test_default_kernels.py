"""The compiled path of the default method (bgsub.kernels.default_path, .median, .area) against the reference.

The reference is what ``BGSUB_BACKEND=numpy`` runs: ``bgsub.spatial.score_frames``'s per-frame loop
(numpy gain and texture test, its own small numba distance kernel) and ``bgsub.postprocess``'s SciPy
median and union-find area opening. The compiled path must give the same masks and scores within
``rtol = atol = 1e-5`` (``|fast - ref| <= 1e-5 + 1e-5 |ref|``: relative for the large scores a
threshold sees, absolute near 0, where the shadow test's zeros and tiny distances make a relative
bound meaningless). It gives the reference's bits (``pytest -s`` prints the counts of scores that differ);
the tolerance leaves room for a platform whose float64 library rounds otherwise. The filters are
selections of their input, so they must be equal bit for bit.

Small synthetic scenes keep the file fast (few compiled specialisations: uint8 frames, float32 maps).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.ndimage as ndi
from hypothesis import given
from hypothesis import strategies as st

from bgsub.methods import make_method
from bgsub.metrics import sweep_thresholds
from bgsub.postprocess import area_opening, postprocess_cut_scores, postprocess_masks, postprocess_scores
from bgsub.presets import preset_settings
from bgsub.scoring import score_blocks
from bgsub.synth import make_scene

numba = pytest.importorskip("numba")

from bgsub import kernels  # noqa: E402
from bgsub.kernels.area import area_open, area_open_levels  # noqa: E402
from bgsub.kernels.levels import median_levels, score_levels  # noqa: E402
from bgsub.kernels.median import median5, median_filter, selection_network  # noqa: E402

TOL = 1e-5


def default_settings(**overrides: object) -> tuple[dict, dict, float]:
    settings = preset_settings("default")
    settings.pop("kind")
    settings.pop("sweep")
    post = settings.pop("postprocess")
    threshold = float(overrides.pop("threshold", settings.pop("threshold")))  # type: ignore[arg-type]
    settings.pop("threshold", None)
    settings.update(overrides)
    return settings, post, threshold


def fit_default(monkeypatch: pytest.MonkeyPatch, train: np.ndarray, settings: dict):
    """The default fitted on the numpy path: the tiny fits are quick there, and this file then compiles no EM
    kernel for its K = 1 and grey cases (only the scoring kernels under test)."""
    monkeypatch.setenv(kernels.ENV_VAR, "numpy")
    return make_method("gmm", **settings).fit(train)


def run_both(monkeypatch: pytest.MonkeyPatch, train: np.ndarray, test: np.ndarray, **overrides: object):
    """Fit the default (with ``overrides``) once, score ``test`` in two blocks on each backend from the same model."""
    settings, post, threshold = default_settings(**overrides)
    method = fit_default(monkeypatch, train, settings)
    method.foreground_scores(train[:1])  # builds the scoring model
    fitted = copy.deepcopy(method._scoring)
    out = {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        method._scoring = copy.deepcopy(fitted)
        method._ghost = None  # the ghost detector's state starts afresh too
        half = len(test) // 2
        scores = np.concatenate([method.foreground_scores(test[:half]), method.foreground_scores(test[half:])])
        out[backend] = (scores, postprocess_scores(scores, post), method._scoring.means.copy(), method._ghost)
    return out, threshold


def assert_agree(out: dict, threshold: float) -> None:
    (ref, ref_post, ref_means), (fast, fast_post, fast_means) = out["numpy"][:3], out["numba"][:3]
    for name, want, got in (("scores", ref, fast), ("post-processed", ref_post, fast_post)):
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL, err_msg=name)
        np.testing.assert_array_equal(got > np.float32(threshold), want > np.float32(threshold), err_msg=name)
    np.testing.assert_allclose(fast_means, ref_means, rtol=TOL, atol=TOL, err_msg="adapted means")
    # what differs at all (shown with pytest -s): nothing here; before the reference's luma spelled out its
    # arithmetic (bgsub.spatial._luma), a BLAS that summed otherwise moved a gain by an ulp
    differ = fast != ref
    worst = float(np.max(np.abs(fast - ref) / np.maximum(np.abs(ref), 1.0)))
    print(f"scores differing from the reference: {differ.sum()} of {differ.size},"
          f" largest |d| / max(|ref|, 1) {worst:.1e}")


def scene(name: str, seed: int, height: int = 30, width: int = 40, n_train: int = 30, n_test: int = 16):
    s = make_scene(name, seed=seed, height=height, width=width, n_train=n_train, n_test=n_test, n_objects=3)
    return s.frames[: s.n_train], s.frames[s.n_train :]


@pytest.mark.parametrize("name", ["shadows", "foliage", "illumination"])
def test_default_matches_reference(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    train, test = scene(name, seed=3)
    out, threshold = run_both(monkeypatch, train, test)
    assert_agree(out, threshold)


@pytest.mark.parametrize("name", ["shadows", "foliage"])
def test_masked_texture_test_matches_reference(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``shadow_texture_masked`` (a second pass that reads the neighbours' candidacy) and the whole-window test, on
    both paths alike."""
    train, test = scene(name, seed=3)
    out, threshold = run_both(monkeypatch, train, test, shadow_texture_masked=True)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test, shadow_texture_masked=False)
    assert_agree(plain, threshold)  # the whole-window test too (the second freeze's default)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the masked test changed scores: it was compared


@pytest.mark.parametrize("name", ["foliage", "trees"])
def test_blob_gate_matches_reference(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """``spatial_blob_fraction`` (the gate read frame by frame from the own components' foreground) on both paths
    alike."""
    train, test = scene(name, seed=3, n_train=40, n_test=24)
    test = test.copy()
    test[:, 6:24, 8:32] = test[:, 4:22, 6:30]  # a block moved by 2 px: solid own foreground, explained nearby
    out, threshold = run_both(monkeypatch, train, test, spatial_blob_fraction=0.5)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the blob gate changed scores: it was compared


def test_highlight_band_matches_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """``shadow_max`` above 1 (brighter copies pass the shadow tests) on both paths alike, on a scene with a
    patch lit 30 % more in the test frames."""
    train, test = scene("shadows", seed=3)
    test = test.copy()
    test[:, 4:16, 6:22] = np.clip(np.rint(1.3 * test[:, 4:16, 6:22].astype(np.float32)), 0, 255).astype(np.uint8)
    out, threshold = run_both(monkeypatch, train, test, shadow_max=2.0)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test, shadow_max=1.0)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the band changed scores: it was compared


def test_clipped_channels_match_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """``gain_clip`` on both paths alike, on a scene whose test frames are lit 60 % more and clip."""
    train, test = scene("shadows", seed=3)
    test = np.clip(np.rint(1.6 * test.astype(np.float32)), 0, 255).astype(np.uint8)
    assert (test == 255).mean() > 0.02
    out, threshold = run_both(monkeypatch, train, test, gain_clip=True)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test, gain_clip=False)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the imputation changed scores: it was compared


@pytest.mark.parametrize("clip", [True, False])
def test_saturated_quotients_match_reference(monkeypatch: pytest.MonkeyPatch, clip: bool) -> None:
    """``gain_saturate`` on both paths alike, with and without ``gain_clip``: trained on frames lit 60 % more (which
    clip), scored on frames at the original exposure, whose bright pixels divide back above 255."""
    train, test = scene("shadows", seed=3)
    train = np.clip(np.rint(1.6 * train.astype(np.float32)), 0, 255).astype(np.uint8)
    assert (train == 255).mean() > 0.02
    out, threshold = run_both(monkeypatch, train, test, gain_saturate=True, gain_clip=clip)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test, gain_saturate=False, gain_clip=clip)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the ceiling changed scores: it was compared


@pytest.mark.parametrize("masked", [True, False])
def test_mixture_texture_test_matches_reference(monkeypatch: pytest.MonkeyPatch, masked: bool) -> None:
    """``shadow_texture_mixture`` (the window against every background component) on both paths alike, masked and
    over the whole window, on the swaying leaves that cast shadows."""
    train, test = scene("foliage", seed=4, height=40, width=56)  # shadows fall on the leaves in its test frames
    out, threshold = run_both(monkeypatch, train, test, shadow_texture_mixture=True, shadow_texture_masked=masked)
    assert_agree(out, threshold)
    plain, _ = run_both(monkeypatch, train, test, shadow_texture_mixture=False, shadow_texture_masked=masked)
    assert (out["numba"][0] != plain["numba"][0]).any()  # the mixture changed scores: it was compared


def test_ghost_absorption_matches_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    """A car stands in every training frame, then drives off: its ghost is absorbed on both paths alike
    (the ghost test between each frame's scores and its update, inside the kernel), in blocks that split the
    absorption."""
    s = make_scene("departed", seed=4, height=40, width=56, n_train=30, n_test=50, n_objects=2)
    train, test = s.frames[: s.n_train], s.frames[s.n_train:]
    out, threshold = run_both(monkeypatch, train, test, ghost_frames=10)
    assert_agree(out, threshold)
    without, _ = run_both(monkeypatch, train, test, ghost_frames=None)
    absorbed = (without["numba"][0] > threshold) & (out["numba"][0] <= threshold)
    assert absorbed[-1].sum() > 100  # the ghost was absorbed, so the paths were compared on it


@pytest.mark.parametrize("clip", [True, False])
def test_ghost_absorption_in_the_kernel_reads_the_frame_as_scored(monkeypatch: pytest.MonkeyPatch, clip: bool) -> None:
    """Inside the kernel, ghost absorption reads each frame as the reference's ``_compensated`` reads it (divided
    by its gain, clipped channels imputed) and the background image before the frame's update: on frames lit
    40 % more (they clip), the departed car's ghost is absorbed alike on both paths, and the two detectors end in
    the same state (counters and previous frame), so the next block starts alike."""
    s = make_scene("departed", seed=4, height=40, width=56, n_train=30, n_test=50, n_objects=2)
    train, test = s.frames[: s.n_train], s.frames[s.n_train:]
    test = np.clip(np.rint(1.4 * test.astype(np.float32)), 0, 255).astype(np.uint8)
    assert (test == 255).mean() > 0.05  # the sensor clips
    out, threshold = run_both(monkeypatch, train, test, ghost_frames=10, gain_clip=clip)
    assert_agree(out, threshold)
    without, _ = run_both(monkeypatch, train, test, ghost_frames=None, gain_clip=clip)
    absorbed = (without["numba"][0] > threshold) & (out["numba"][0] <= threshold)
    assert absorbed[-1].sum() > 100
    ref, fast = out["numpy"][3], out["numba"][3]
    for name in ("stable_count_", "ghost_count_", "last_frame_"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(ref, name), err_msg=name)


def test_uint8_frames_score_as_their_float32_values(monkeypatch: pytest.MonkeyPatch) -> None:
    """A uint8 frame takes tables (its quotients by the gain, its luma); the same values as float32 take the
    arithmetic. Scores and adapted means must be equal bit for bit, on a scene whose gain steps."""
    train, test = scene("illumination", seed=6)
    settings, _, _ = default_settings()
    method = fit_default(monkeypatch, train, settings)
    method.foreground_scores(train[:1])  # builds the scoring model
    fitted = copy.deepcopy(method._scoring)
    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    out = {}
    for dtype in (np.uint8, np.float32):
        method._scoring = copy.deepcopy(fitted)
        out[dtype] = (method.foreground_scores(test.astype(dtype)), method._scoring.means.copy())
    np.testing.assert_array_equal(out[np.float32][0], out[np.uint8][0])
    np.testing.assert_array_equal(out[np.float32][1], out[np.uint8][1])
    assert not np.array_equal(out[np.uint8][1], fitted.means)  # the model learnt: the update was compared too


def test_edge_cases_k1_constant_pixels_dark_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """K = 1; constant and saturated pixels; a frame too dark to measure a gain; the spatial context at
    every pixel (no gate), so the image borders clip every window; odd and even counts of gain pixels."""
    train, test = scene("shadows", seed=5, height=17, width=23)
    train, test = train.copy(), test.copy()
    for frames in (train, test):
        frames[:, :4, :5] = 77  # constant pixels
        frames[:, -3:, -2:] = 255  # saturated
        frames[:, 5, :] = 0  # a black row: luma below the gain floor
    test[3] = 5  # a whole frame too dark for a gain ratio
    test[4, :, :11] = 0
    for k in (1, 3):
        out, threshold = run_both(monkeypatch, train, test, n_components=k, spatial_gate=None)
        assert_agree(out, threshold)


def test_grey_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    """One channel (luma = the channel) with K = 3 and the texture test."""
    train, test = scene("shadows", seed=2, height=24, width=28)
    grey = lambda f: np.round(f.mean(axis=-1, keepdims=True)).astype(np.uint8)  # noqa: E731
    out, threshold = run_both(monkeypatch, grey(train), grey(test), dynamics_threshold=2.71, threshold=2.71)
    assert_agree(out, threshold)


def test_threads_give_the_same_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = scene("foliage", seed=1)
    settings, post, _ = default_settings()
    method = fit_default(monkeypatch, train, settings)
    method.foreground_scores(train[:1])
    fitted = copy.deepcopy(method._scoring)
    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    results = []
    try:
        for threads in (1, 2):
            kernels.set_num_threads(threads)
            method._scoring = copy.deepcopy(fitted)
            results.append(postprocess_scores(method.foreground_scores(test), post))
    finally:
        kernels.set_num_threads(None)
    np.testing.assert_array_equal(results[0], results[1])


def score_maps(seed: int, shape: tuple[int, int, int]) -> np.ndarray:
    """Smooth blobs, noise, exact ties (quantised values, zeros) in float32."""
    rng = np.random.default_rng(seed)
    maps = rng.gamma(1.0, 3.0, shape).astype(np.float32)
    maps[:, ::3] = np.round(maps[:, ::3])  # ties
    maps[rng.random(shape) < 0.2] = 0.0
    h, w = shape[1:]
    maps[:, h // 3 : h // 2, w // 4 : w // 2] += 20.0
    return maps


@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 2), (1, 4, 7), (3, 31, 45)])
def test_median5_equals_scipy(shape: tuple[int, int, int]) -> None:
    maps = score_maps(0, shape)
    want = ndi.median_filter(maps, size=(1, 5, 5), mode="nearest")
    np.testing.assert_array_equal(median5(maps), want)


@pytest.mark.parametrize("size", [1, 3, 7, 9, 17])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 2), (1, 4, 7), (2, 31, 45), (1, 1, 20)])
def test_median_filter_equals_scipy(shape: tuple[int, int, int], size: int) -> None:
    """Any odd size (the grown filters of a larger frame), windows wider than the frame included, bit for bit."""
    maps = score_maps(size, shape)
    want = ndi.median_filter(maps, size=(1, size, size), mode="nearest")
    got = median_filter(maps, size)
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))


def test_selection_network_selects_the_median() -> None:
    pairs = selection_network()
    rng = np.random.default_rng(1)
    original = rng.integers(0, 4, (2000, 25)).astype(float)  # many ties
    values = original.copy()
    for i, j in pairs:
        lo, hi = np.minimum(values[:, i], values[:, j]), np.maximum(values[:, i], values[:, j])
        values[:, i], values[:, j] = lo, hi
    np.testing.assert_array_equal(values[:, 12], np.median(original, axis=1))


@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), spread=st.sampled_from([1e-6, 1e-3, 0.3, 1e3]),
       ties=st.booleans())
def test_gain_median_equals_numpy(seed: int, n: int, spread: float, ties: bool) -> None:
    """The gain's median by bit histograms (``_gain``) is ``np.median`` of the ratios to the bit, odd and even counts,
    values within one top-bits bucket (a tiny spread) or across many, ties and zeros; and its histogram is left
    all zero for the next frame."""
    from bgsub.kernels.default_path import _gain

    rng = np.random.default_rng(seed)
    values = np.abs(1.0 + spread * rng.standard_normal(n)).astype(np.float32)
    if ties:
        values[rng.random(n) < 0.5] = values[0]
        values[rng.random(n) < 0.1] = 0.0
    rows = np.zeros((4, n), np.float32)
    counts = rng.multinomial(n, [0.25] * 4)  # the ratios come in rows of different lengths
    ends = np.cumsum(counts)
    for y, (start, end) in enumerate(zip(ends - counts, ends)):
        rows[y, : end - start] = values[start:end]
    histogram = np.zeros(1 << 16, np.int64)
    got = _gain(rows, counts.astype(np.int64), np.empty(n, np.float32), histogram)
    assert np.float32(got).view(np.uint32) == np.float32(np.median(values)).view(np.uint32)
    assert not histogram.any()


@pytest.mark.parametrize("min_area", [2, 5, 30])
def test_area_open_equals_reference(min_area: int) -> None:
    maps = score_maps(2, (3, 29, 37))
    maps[1] = np.round(maps[1] / 4)  # large plateaus of equal values
    maps[2, 5, 5] = -0.0
    np.testing.assert_array_equal(area_open(maps, min_area), area_opening(maps, min_area))
    tiny = score_maps(3, (2, 3, 4))  # fewer pixels than min_area
    np.testing.assert_array_equal(area_open(tiny, min_area), area_opening(tiny, min_area))


def test_postprocess_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    maps = score_maps(4, (4, 26, 33))
    out = {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        out[backend] = postprocess_scores(maps, {"median": 5, "min_area": 30})
    np.testing.assert_array_equal(out["numba"], out["numpy"])


@given(seed=st.integers(0, 2**32 - 1), height=st.integers(1, 24), width=st.integers(1, 24),
       median=st.sampled_from([0, 1, 3, 5, 7]), min_area=st.sampled_from([0, 1, 2, 5, 30, 1000]),
       threshold=st.sampled_from([-1.0, 0.0, 0.5, 1.0, 2.5, 20.0]), ties=st.booleans())
def test_masks_of_thresholded_scores_equal_thresholded_filtered_scores(
    seed: int, height: int, width: int, median: int, min_area: int, threshold: float, ties: bool,
) -> None:
    """The binary median and area opening (kernels.binary) on ``scores > t`` give ``filtered(scores) > t``,
    including frames smaller than ``min_area`` (the grey opening keeps a frame that is all above ``t``)."""
    maps = score_maps(seed, (2, height, width))
    if ties:
        maps = np.round(maps / 8)
    config = {"median": median, "min_area": min_area}
    np.testing.assert_array_equal(postprocess_masks(maps, threshold, config),
                                  postprocess_scores(maps, config) > threshold)


def test_masks_only_scoring_gives_the_same_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    """``score_blocks(need_scores=False)`` (a video without ground truth, the command line) writes the masks
    the scores path writes, for the default method on a scene."""
    train, test = scene("foliage", seed=5, height=60, width=80)
    settings, post, threshold = default_settings()
    method = fit_default(monkeypatch, train, settings)
    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    blocks = [(list(range(i, i + 4)), test[i : i + 4]) for i in range(0, len(test), 4)]
    masks = {}
    for need_scores in (True, False):
        scorer = copy.deepcopy(method)
        out = list(score_blocks(scorer, blocks, threshold=threshold, postprocess=post, need_scores=need_scores))
        assert all((scores is None) != need_scores for _, scores, _ in out)
        masks[need_scores] = np.concatenate([m for _, _, m in out])
    assert masks[True].any() and not masks[True].all()
    np.testing.assert_array_equal(masks[False], masks[True])


@pytest.mark.parametrize("size", [1, 3, 5, 9, 17])
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 3, 2), (1, 4, 7), (2, 31, 45), (1, 1, 20)])
def test_median_of_levels_equals_scipy(shape: tuple[int, int, int], size: int) -> None:
    """The sliding-histogram median of byte levels, windows wider than the frame and the extreme levels included."""
    rng = np.random.default_rng(size)
    levels = rng.integers(0, 83, shape).astype(np.uint8)
    levels[..., :1] = 255
    levels[..., -1:] = 0
    np.testing.assert_array_equal(median_levels(levels, size), ndi.median_filter(levels, size=(1, size, size),
                                                                                 mode="nearest"))


def test_levels_and_their_area_opening_equal_the_float_path() -> None:
    """``score_levels`` counts the cuts strictly below each score (a score on a cut, below the first, above the
    last); the counting-sort area opening of levels is the radix-sort one's on the same values."""
    cuts = sweep_thresholds(0, 40, 81, 7.81)
    maps = score_maps(7, (3, 29, 37))
    maps[0, 0, :4] = [cuts[0], cuts[5], -1.0, 99.0]
    levels = score_levels(maps, cuts)
    np.testing.assert_array_equal(levels, np.searchsorted(cuts, maps, "left"))
    for min_area in (2, 30):
        np.testing.assert_array_equal(area_open_levels(levels, min_area),
                                      area_open(levels.astype(np.float32), min_area).astype(np.uint8))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("config", [{"median": 5, "min_area": 30}, {"median": 5, "min_area": 30, "reference_size": 12},
                                    {"opening": 3, "closing": 3, "median": 3}])
def test_cut_scores_compare_with_every_cut_as_the_filtered_scores(
    monkeypatch: pytest.MonkeyPatch, backend: str, config: dict,
) -> None:
    """On the levels between cuts, ``filtered > c`` is the filtered scores' own for every cut c, and each value is the
    smallest cut at or above the filtered score (above the last cut: just above it); with more cuts than a byte
    holds, or no filter, the filtered scores are returned as they are."""
    monkeypatch.setenv(kernels.ENV_VAR, backend)
    cuts = sweep_thresholds(0, 40, 81, 7.81)
    maps = score_maps(8, (3, 40, 52)) * 2.0
    want = postprocess_scores(maps, config)
    got = postprocess_cut_scores(maps, cuts, config)
    assert len(np.unique(want)) > 100  # real scores, not already on the cuts
    for c in cuts:
        np.testing.assert_array_equal(got > c, want > c)
    above = want > cuts[-1]
    np.testing.assert_array_equal(got[~above], cuts[np.searchsorted(cuts, want[~above], "left")])
    np.testing.assert_array_equal(got[above], np.nextafter(cuts[-1], np.float32(np.inf)))
    many = sweep_thresholds(0, 40, 301, 7.81)
    np.testing.assert_array_equal(postprocess_cut_scores(maps, many, config), want)
    np.testing.assert_array_equal(postprocess_cut_scores(maps, cuts, {"median": 1}), maps)  # no filter: the scores


def test_scoring_with_cuts_counts_what_the_filtered_scores_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """``score_blocks(cuts=...)`` (a run with ground truth) gives the same masks and the same sweep histograms as
    the filtered scores, for the default method on a scene enlarged past its filters' reference size."""
    from bgsub.tally import ScoreTally

    s = make_scene("foliage", seed=6, height=150, width=200, n_train=30, n_test=16, n_objects=3)
    test, labels = s.frames[s.n_train :], s.labels[s.n_train :]
    settings, post, threshold = default_settings()
    method = fit_default(monkeypatch, s.frames[: s.n_train], settings)
    monkeypatch.setenv(kernels.ENV_VAR, "numba")
    blocks = [(list(range(i, i + 4)), test[i : i + 4]) for i in range(0, len(test), 4)]
    counts = {}
    for cuts in (None, sweep_thresholds(0, 40, 81, threshold)):
        tally = ScoreTally(sweep_thresholds(0, 40, 81, threshold), threshold, range(len(test)))
        for numbers, scores, masks in score_blocks(copy.deepcopy(method), blocks, threshold=tally.threshold,
                                                   postprocess=post, cuts=cuts):
            tally.add(numbers, scores, masks, labels.__getitem__, None)
        counts[cuts is None] = (tally.sweep.positive_hist, tally.sweep.negative_hist, tally.frame_counts())
    assert counts[True][0][1:].sum() > 0 and counts[True][1][1:].sum() > 0  # foreground at some thresholds
    for want, got in zip(counts[True], counts[False]):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="not among the cuts"):
        next(score_blocks(method, blocks, threshold=7.3, postprocess=post, cuts=sweep_thresholds(0, 40, 81, 7.81)))


@pytest.mark.parametrize("with_roi", [False, True])
def test_sweep_histograms_backends_agree(monkeypatch: pytest.MonkeyPatch, with_roi: bool) -> None:
    from bgsub.metrics import ThresholdSweep

    rng = np.random.default_rng(5)
    scores = score_maps(6, (3, 21, 26))
    scores[0, 0, :5] = np.linspace(0, 40, 81, dtype=np.float32)[:5]  # exactly on thresholds
    labels = rng.choice(np.array([0, 50, 85, 170, 255], np.uint8), scores.shape)
    roi = rng.random(scores.shape[1:]) < 0.8 if with_roi else None
    hists = {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        sweep = ThresholdSweep(np.linspace(0, 40, 81))
        sweep.update(scores, labels, roi)
        sweep.update(scores[1], labels[1], roi)
        hists[backend] = (sweep.positive_hist, sweep.negative_hist)
    np.testing.assert_array_equal(hists["numba"][0], hists["numpy"][0])
    np.testing.assert_array_equal(hists["numba"][1], hists["numpy"][1])


def test_training_dynamics_backends_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fit's calibration (spatial_gate's "rescued" fraction, the score quantile) on both backends."""
    from bgsub.spatial import training_dynamics

    train, _ = scene("foliage", seed=4)
    settings, _, _ = default_settings()
    method = fit_default(monkeypatch, train, settings)
    out = {}
    for backend in ("numpy", "numba"):
        monkeypatch.setenv(kernels.ENV_VAR, backend)
        out[backend] = training_dynamics(train, method._new_scoring(), radius=1, gain=True, threshold=7.81)
    for got, want in zip(out["numba"], out["numpy"]):
        np.testing.assert_allclose(got, want, rtol=TOL, atol=TOL)
    assert out["numpy"][0].max() > 0  # some pixels were rescued by a neighbour
