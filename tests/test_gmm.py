"""Tests of the batch per-pixel GMM (mixture, ranking, gmm) against scikit-learn, scipy and hand computations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import special, stats
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture

from bgsub.gmm import DEFAULT_THRESHOLD, GMMBackgroundMethod, GMMMethod
from bgsub.mixture import ConvergenceWarning, PixelGaussianMixture, keep_heaviest
from bgsub.mixture_em import precisions_cholesky_of
from bgsub.models import load_model, save_model
from bgsub.ranking import (
    background_mask,
    chi2_threshold,
    min_background_mahalanobis,
    rank_components,
    squared_mahalanobis,
)
from tests.conftest import mixture_clip, pixels

COV_TYPES = ["full", "diag", "spherical"]
FITTED = [
    "weights_",
    "means_",
    "covariances_",
    "precisions_cholesky_",
    "converged_",
    "n_iter_",
    "lower_bound_",
]




def quiet_fit(model: PixelGaussianMixture, frames: np.ndarray) -> PixelGaussianMixture:
    """Fit, ignoring the ConvergenceWarning (tested separately)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(frames)


def initial_parameters(rng: np.random.Generator, grid: tuple[int, int], k: int, c: int, cov_type: str):
    """Random initial weights, means and precisions with the pixel grid in front."""
    weights = rng.dirichlet(np.ones(k), grid)
    means = rng.uniform(0, 255, (*grid, k, c))
    scales = rng.uniform(1 / 900, 1 / 50, (*grid, k))
    if cov_type == "full":
        a = rng.normal(0, 1, (*grid, k, c, c)) * 0.2 + np.eye(c)
        precisions = scales[..., None, None] * (a @ np.swapaxes(a, -1, -2))
    elif cov_type == "diag":
        precisions = scales[..., None] * rng.uniform(0.5, 2, (*grid, k, c))
    else:
        precisions = scales
    return weights, means, precisions


# 1. agreement with scikit-learn -------------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_matches_sklearn_from_same_initial_parameters(cov_type: str) -> None:
    frames = mixture_clip(1)
    grid, k, c = frames.shape[1:3], 3, frames.shape[3]
    w0, m0, p0 = initial_parameters(np.random.default_rng(2), grid, k, c, cov_type)
    settings = {"covariance_type": cov_type, "reg_covar": 4.0, "tol": 1e-3, "max_iter": 100}
    ours = quiet_fit(
        PixelGaussianMixture(k, weights_init=w0, means_init=m0, precisions_init=p0, **settings), frames
    )
    our_score = ours.score(frames)
    for i in range(grid[0]):
        for j in range(grid[1]):
            # float64 for scikit-learn: its score_samples holds uint8 samples' log-densities in uint8 (1.9.1)
            x = frames[:, i, j].astype(np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SklearnConvergenceWarning)
                ref = GaussianMixture(
                    k, weights_init=w0[i, j], means_init=m0[i, j], precisions_init=p0[i, j], **settings
                ).fit(x)
            assert abs(ref.score(x) - our_score[i, j]) < 1e-3
            assert abs(ref.lower_bound_ - ours.lower_bound_[i, j]) < 1e-3
            assert ref.n_iter_ == ours.n_iter_[i, j]
            assert ref.converged_ == ours.converged_[i, j]


def test_lower_bound_history_matches_sklearn() -> None:
    frames = mixture_clip(3, grid=(2, 3))
    w0, m0, p0 = initial_parameters(np.random.default_rng(4), (2, 3), 2, 3, "full")
    ours = quiet_fit(
        PixelGaussianMixture(2, weights_init=w0, means_init=m0, precisions_init=p0, keep_lower_bounds=True),
        frames,
    )
    for i in range(2):
        for j in range(3):
            ref = GaussianMixture(
                2, reg_covar=4.0, weights_init=w0[i, j], means_init=m0[i, j], precisions_init=p0[i, j]
            ).fit(frames[:, i, j].astype(np.float64))
            n = ours.n_iter_[i, j]
            np.testing.assert_allclose(ours.lower_bounds_[i, j, :n], ref.lower_bounds_, rtol=0, atol=1e-9)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_recovers_well_separated_mixture(cov_type: str) -> None:
    rng = np.random.default_rng(5)
    true_means = np.array([[40.0, 60.0, 50.0], [130.0, 120.0, 140.0], [220.0, 200.0, 210.0]])
    counts = np.array([100, 60, 40])  # exact class counts: the true weights are 0.5, 0.3, 0.2
    frames = np.empty((200, 3, 4, 3))
    for i in range(3):
        for j in range(4):
            labels = rng.permutation(np.repeat(np.arange(3), counts))
            frames[:, i, j] = true_means[labels] + 3.0 * rng.standard_normal((200, 3))
    model = quiet_fit(PixelGaussianMixture(3, covariance_type=cov_type), pixels(frames))
    assert model.converged_.all()
    np.testing.assert_allclose(model.weights_, np.broadcast_to(counts / 200, (3, 4, 3)), atol=0.05)
    np.testing.assert_allclose(model.means_, np.broadcast_to(true_means, (3, 4, 3, 3)), atol=2.0)
    assert np.all(np.diff(model.weights_, axis=-1) <= 0), "components are sorted by weight"


# 2. the lower bound never decreases ---------------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_lower_bound_never_decreases(cov_type: str) -> None:
    # EM ascends the likelihood exactly only without the covariance floor (scikit-learn tests with
    # reg_covar=0): with reg_covar=4 the bound can dip by ~1e-4 near convergence. A floor of 1e-3
    # keeps collapsing components away from the rounding noise of E[x^2] - mean^2, on samples drawn from a
    # continuous density (on uint8 samples a component can collapse onto one grey level).
    frames = mixture_clip(6, grid=(3, 5), dtype=np.float64)
    model = quiet_fit(
        PixelGaussianMixture(
            3,
            covariance_type=cov_type,
            reg_covar=1e-3,
            init_params="random",
            random_state=0,
            tol=1e-8,
            max_iter=60,
            keep_lower_bounds=True,
        ),
        frames,
    )
    history = model.lower_bounds_
    assert np.all(np.diff(history, axis=-1) >= -1e-9)
    assert (model.n_iter_ > 5).all()
    np.testing.assert_array_equal(
        np.take_along_axis(history, model.n_iter_[..., None] - 1, -1)[..., 0], model.lower_bound_
    )


# 3. no NaN or inf on degenerate pixels ------------------------------------------------------------


def degenerate_clip(n_frames: int, n_channels: int) -> np.ndarray:
    """Constant, two-colour, saturated and noisy pixels, (T, 2, 3, C) uint8."""
    rng = np.random.default_rng(7)
    frames = np.zeros((n_frames, 2, 3, n_channels), dtype=np.uint8)
    frames[:, 0, 0] = 0  # constant black (saturated low)
    frames[:, 0, 1] = 255  # constant white (saturated high)
    frames[:, 0, 2] = 117  # constant grey
    frames[:, 1, 0] = np.where(np.arange(n_frames) % 2, 0, 255)[:, None]  # two saturated colours
    frames[:, 1, 1] = np.clip(rng.normal(250, 20, (n_frames, n_channels)), 0, 255)  # clipped at 255
    frames[:, 1, 2] = rng.integers(0, 256, (n_frames, n_channels))
    return frames


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("n_channels", [1, 3])
@pytest.mark.parametrize(("n_frames", "k"), [(40, 3), (2, 5)])
@pytest.mark.parametrize("as_float", [False, True])
def test_degenerate_pixels_stay_finite(
    cov_type: str, n_channels: int, n_frames: int, k: int, as_float: bool
) -> None:
    frames = degenerate_clip(n_frames, n_channels)
    if as_float:
        frames = frames.astype(np.float32)
    for init in ("kmeans", "random"):
        model = quiet_fit(
            PixelGaussianMixture(k, covariance_type=cov_type, init_params=init, random_state=0), frames
        )
        for name in FITTED:
            assert np.all(np.isfinite(getattr(model, name))), name
        np.testing.assert_allclose(model.weights_.sum(axis=-1), 1.0, rtol=1e-6)
        assert np.all(model.covariances_[..., 0] >= 4.0 - 1e-3) if cov_type != "full" else True
        assert np.all(np.isfinite(model.score_samples(frames)))
        test = np.concatenate([frames, 255 - frames])
        assert np.all(np.isfinite(min_background_mahalanobis(test, model, rank_by="weight_over_sigma")))
    # a constant pixel's first component sits exactly on the constant colour
    np.testing.assert_allclose(model.means_[0, 2, 0], 117.0, atol=1e-4)


def test_convergence_warning_counts_pixels() -> None:
    frames = mixture_clip(8, grid=(2, 2))
    with pytest.warns(ConvergenceWarning, match=r"did not converge for \d+ of 4 pixels"):
        model = PixelGaussianMixture(3, max_iter=1, init_params="random", random_state=0).fit(frames)
    assert not model.converged_.any()
    assert (model.n_iter_ == 1).all()


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="shape"):
        PixelGaussianMixture().fit(np.zeros((5, 4, 4)))
    bad = np.zeros((5, 2, 2, 3))
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PixelGaussianMixture().fit(bad)
    with pytest.raises(ValueError, match="means_init"):
        PixelGaussianMixture(2, means_init=np.zeros((2, 2, 3, 3))).fit(np.zeros((5, 2, 2, 3)))


# 4. chunked == unchunked; 5. deterministic ---------------------------------------------------------


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("init", ["kmeans", "random"])
def test_chunked_equals_unchunked(cov_type: str, init: str) -> None:
    # random mixtures beside constant, saturated and two-colour pixels
    frames = np.concatenate([mixture_clip(9, n_frames=60, grid=(2, 7)), degenerate_clip(60, 3)], axis=2)
    whole = quiet_fit(
        PixelGaussianMixture(3, covariance_type=cov_type, init_params=init, random_state=3, chunk_size=None),
        frames,
    )
    chunked = quiet_fit(
        PixelGaussianMixture(3, covariance_type=cov_type, init_params=init, random_state=3, chunk_size=4),
        frames,
    )
    for name in FITTED:
        np.testing.assert_array_equal(getattr(chunked, name), getattr(whole, name), err_msg=name)
    np.testing.assert_array_equal(chunked.score_samples(frames), whole.score_samples(frames))


def test_single_pixel_fit_equals_batch_fit() -> None:
    frames = mixture_clip(10, n_frames=80, grid=(3, 3))
    batch = quiet_fit(PixelGaussianMixture(2), frames)
    for i, j in [(0, 0), (1, 2), (2, 1)]:
        alone = quiet_fit(PixelGaussianMixture(2), frames[:, i : i + 1, j : j + 1])
        for name in FITTED:
            np.testing.assert_array_equal(
                getattr(alone, name)[0, 0], getattr(batch, name)[i, j], err_msg=name
            )


def test_same_seed_same_bytes() -> None:
    frames = mixture_clip(11, n_frames=50, grid=(3, 4))
    fits = [
        quiet_fit(PixelGaussianMixture(3, init_params="random", random_state=seed), frames)
        for seed in (5, 5, 6)
    ]
    for name in FITTED:
        assert getattr(fits[0], name).tobytes() == getattr(fits[1], name).tobytes(), name
    assert fits[0].means_.tobytes() != fits[2].means_.tobytes()


# 6. densities against scipy -------------------------------------------------------------------------


def dense_covariance(model: PixelGaussianMixture, cov_type: str, i: int, j: int, k: int) -> np.ndarray:
    """Covariance matrix (C, C) float64 of component k of pixel (i, j), whatever the covariance type."""
    cov = np.asarray(model.covariances_[i, j, k], dtype=np.float64)
    n_channels = model.means_.shape[-1]
    return {"full": cov, "diag": np.diag(cov) if cov.ndim else cov, "spherical": cov * np.eye(n_channels)}[
        cov_type
    ]


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_score_samples_matches_scipy(cov_type: str) -> None:
    frames = mixture_clip(12, n_frames=40, grid=(2, 3))
    model = quiet_fit(PixelGaussianMixture(3, covariance_type=cov_type), frames)
    test = frames[:7] + np.random.default_rng(13).normal(0, 15, (7, 2, 3, 3))
    ours = model.score_samples(test)
    assert ours.dtype == np.float32 and ours.shape == (7, 2, 3)
    for i in range(2):
        for j in range(3):
            log_terms = [
                np.log(model.weights_[i, j, k])
                + stats.multivariate_normal(
                    model.means_[i, j, k], dense_covariance(model, cov_type, i, j, k)
                ).logpdf(test[:, i, j])
                for k in range(3)
            ]
            np.testing.assert_allclose(ours[:, i, j], special.logsumexp(log_terms, axis=0), rtol=1e-5)


@pytest.mark.parametrize("cov_type", COV_TYPES)
def test_squared_mahalanobis_matches_inverse_covariance(cov_type: str) -> None:
    frames = mixture_clip(14, n_frames=40, grid=(2, 2))
    model = quiet_fit(PixelGaussianMixture(2, covariance_type=cov_type), frames)
    d2 = squared_mahalanobis(frames[:5], model.means_, model.precisions_cholesky_, cov_type, chunk_size=3)
    assert d2.shape == (5, 2, 2, 2) and d2.dtype == np.float32
    for i in range(2):
        for j in range(2):
            for k in range(2):
                diff = frames[:5, i, j] - model.means_[i, j, k]
                inverse = np.linalg.inv(dense_covariance(model, cov_type, i, j, k))
                expected = np.einsum("tc,cd,td->t", diff, inverse, diff)
                np.testing.assert_allclose(d2[:, i, j, k], expected, rtol=1e-4)


def test_precisions_init_factor_reproduces_precision() -> None:
    frames = mixture_clip(15, n_frames=20, grid=(1, 2))
    w0, m0, p0 = initial_parameters(np.random.default_rng(0), (1, 2), 2, 3, "full")
    model = PixelGaussianMixture(2, weights_init=w0, means_init=m0, precisions_init=p0, max_iter=1)
    quiet_fit(model, frames)
    ref = GaussianMixture(
        2, reg_covar=4.0, weights_init=w0[0, 1], means_init=m0[0, 1], precisions_init=p0[0, 1], max_iter=1
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        ref.fit(frames[:, 0, 1].astype(np.float64))
    # after one EM step from the same start the parameters agree (up to component order)
    order = np.argsort(-ref.weights_, kind="stable")
    np.testing.assert_allclose(model.means_[0, 1], ref.means_[order], rtol=1e-5)
    np.testing.assert_allclose(model.covariances_[0, 1], ref.covariances_[order], rtol=1e-5)
    np.testing.assert_allclose(
        model.precisions_cholesky_[0, 1], ref.precisions_cholesky_[order], rtol=1e-4, atol=1e-6
    )


# 7. background methods ---------------------------------------------------------------------------


def test_rank_components_and_background_mask_by_hand() -> None:
    weights = np.array([[[0.5, 0.3, 0.2]]])
    variances = np.array([[[400.0, 9.0, 1.0]]])  # sigma 20, 3, 1 -> w/sigma 0.025, 0.1, 0.2
    assert rank_components(weights, variances, "spherical", by="weight")[0, 0].tolist() == [0, 1, 2]
    assert rank_components(weights, variances, "spherical", by="weight_over_sigma")[0, 0].tolist() == [
        2,
        1,
        0,
    ]
    full = variances[..., None, None] * np.eye(3)
    full[..., 0, 0] += 30.0  # trace/C grows by 10 for every component
    order = rank_components(weights, full, "full", by="weight_over_sigma")[0, 0]
    assert order.tolist() == [1, 2, 0]  # w/sigma: 0.5/sqrt(410)=0.025, 0.3/sqrt(19)=0.069, 0.2/sqrt(11)=0.060
    diag = np.repeat(variances[..., None], 3, axis=-1)
    np.testing.assert_array_equal(
        rank_components(weights, diag, "diag", by="weight_over_sigma"),
        rank_components(weights, variances, "spherical", by="weight_over_sigma"),
    )

    assert background_mask(np.array([0.5, 0.3, 0.2]), 0.9).tolist() == [True, True, True]  # 0.8 < 0.9
    assert background_mask(np.array([0.6, 0.35, 0.05]), 0.9).tolist() == [True, True, False]
    assert background_mask(np.array([0.95, 0.05]), 0.9).tolist() == [True, False]
    assert background_mask(np.array([0.2, 0.8]), 0.1).tolist() == [True, False]  # the first always
    assert background_mask(np.array([0.5, 0.5, 0.0]), 1.0).tolist() == [True, True, False]


def bimodal_scene(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training frames (uint8) of a pixel grid alternating between two colours, and test frames."""
    rng = np.random.default_rng(seed)
    colours = np.array([[40.0, 90.0, 40.0], [170.0, 180.0, 200.0]])
    train = colours[np.arange(60) % 2][:, None, None, :] + rng.normal(0, 3, (60, 4, 5, 3))
    test = np.stack([colours[0], colours[1], [230.0, 30.0, 30.0]])[:, None, None, :] + rng.normal(
        0, 3, (3, 4, 5, 3)
    )
    return pixels(train), pixels(test)


@pytest.mark.parametrize("rank_by", ["weight", "weight_over_sigma"])
def test_gmm_method_separates_bimodal_background_from_foreground(rank_by: str) -> None:
    train, test = bimodal_scene(16)
    method = GMMMethod(n_components=3, rank_by=rank_by).fit(train)
    scores = method.foreground_scores(test)
    assert scores.shape == (3, 4, 5) and scores.dtype == np.float32
    assert scores[:2].max() < DEFAULT_THRESHOLD  # both background colours
    assert scores[2].min() > 100 * DEFAULT_THRESHOLD  # the red foreground
    background = method.background_image()
    assert background.dtype == np.uint8 and background.shape == (4, 5, 3)

    restored = GMMMethod(n_components=3, rank_by=rank_by).set_state(
        {key: value.copy() for key, value in method.get_state().items()}
    )
    np.testing.assert_array_equal(restored.foreground_scores(test), scores)
    np.testing.assert_array_equal(restored.background_image(), background)


def test_gmm_background_method_scores_distance_to_dominant_colour() -> None:
    rng = np.random.default_rng(17)
    train = np.where(np.arange(50)[:, None, None, None] % 5 == 0, 200.0, 60.0) + rng.normal(
        0, 2, (50, 3, 3, 3)
    )
    train = pixels(train)
    method = GMMBackgroundMethod(n_components=2, rank_by="weight").fit(train)
    background = method.background_image()
    assert np.all(np.abs(background.astype(int) - 60) <= 2)
    test = np.full((1, 3, 3, 3), 63.0)
    expected = np.linalg.norm(test[0] - method.model_.means_[:, :, 0, :], axis=-1)
    np.testing.assert_allclose(method.foreground_scores(test)[0], expected, rtol=1e-5)
    assert GMMBackgroundMethod.kind == "gmm_background" and GMMMethod.kind == "gmm"


@pytest.mark.parametrize("cov_type", COV_TYPES)
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_precisions_are_those_of_the_stored_covariances(cov_type: str, backend: str) -> None:
    frames = mixture_clip(6, n_frames=80, grid=(3, 5))
    model = quiet_fit(PixelGaussianMixture(3, covariance_type=cov_type, backend=backend), frames)
    np.testing.assert_array_equal(model.precisions_cholesky_, precisions_cholesky_of(model.covariances_, cov_type))
    # and they are the precisions of those covariances (independent: numpy's inverse)
    cov = model.covariances_.astype(np.float64)
    if cov_type == "full":
        u = model.precisions_cholesky_.astype(np.float64)
        np.testing.assert_allclose(u @ np.swapaxes(u, -1, -2) @ cov, np.broadcast_to(np.eye(3), cov.shape), atol=1e-5)
        assert np.all(np.tril(u, -1) == 0)
    else:
        np.testing.assert_allclose(model.precisions_cholesky_.astype(np.float64) ** 2 * cov, 1.0, rtol=1e-6)


@pytest.mark.parametrize("method_class", [GMMMethod, GMMBackgroundMethod])
def test_model_files_hold_what_scoring_reads_and_score_the_same(method_class, tmp_path) -> None:
    train, test = bimodal_scene(18)
    method = method_class(n_components=3).fit(train)
    save_model(tmp_path / "m.npz", method)
    loaded = load_model(tmp_path / "m.npz", expect_kind=method.kind)
    np.testing.assert_array_equal(loaded.foreground_scores(test), method.foreground_scores(test))
    np.testing.assert_array_equal(loaded.background_image(), method.background_image())
    with np.load(tmp_path / "m.npz") as data:
        stored = set(data.files) - {"__bgsub_meta__"}
    if method_class is GMMMethod:
        assert "precisions_cholesky_" not in stored and {"weights_", "means_", "covariances_"} <= stored
        np.testing.assert_array_equal(loaded.model_.precisions_cholesky_, method.model_.precisions_cholesky_)
    else:
        assert stored == {"background_"}
    with pytest.raises(ValueError, match="lacks"):
        method_class(n_components=3).set_state({})


def test_default_threshold_is_chi2_quantile() -> None:
    assert DEFAULT_THRESHOLD == pytest.approx(stats.chi2.ppf(0.999, 3))
    assert chi2_threshold(1, 0.99) == pytest.approx(stats.chi2.ppf(0.99, 1))


def test_min_background_mahalanobis_uses_background_components_only() -> None:
    train, test = bimodal_scene(18)
    model = quiet_fit(PixelGaussianMixture(2), train)
    d2_all = squared_mahalanobis(test, model.means_, model.precisions_cholesky_, "full")
    both = min_background_mahalanobis(test, model, background_ratio=0.9, rank_by="weight")
    np.testing.assert_allclose(both, d2_all.min(axis=-1))  # 0.5 + 0.5: both are background
    first_only = min_background_mahalanobis(test, model, background_ratio=0.3, rank_by="weight")
    np.testing.assert_allclose(first_only, d2_all[..., 0])


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical"])
def test_keep_heaviest_keeps_the_first_components_renormalized(covariance_type: str) -> None:
    frames = np.random.default_rng(3).integers(0, 256, (30, 2, 3, 3), dtype=np.uint8)
    model = PixelGaussianMixture(4, covariance_type=covariance_type, reg_covar=4.0).fit(frames)
    assert np.all(np.diff(model.weights_, axis=-1) <= 0)  # fit leaves them heaviest first
    kept = keep_heaviest(model, 2)
    assert kept.n_components == 2 and model.n_components == 4  # a new model; the fitted one is untouched
    np.testing.assert_allclose(kept.weights_, model.weights_[..., :2] / model.weights_[..., :2].sum(-1, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(kept.weights_.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(kept.means_, model.means_[:, :, :2])
    np.testing.assert_array_equal(kept.covariances_, model.covariances_[:, :, :2])
    # the kept precisions are those of the kept covariances, so scoring with the kept model is consistent
    np.testing.assert_allclose(kept.precisions_cholesky_, precisions_cholesky_of(kept.covariances_, covariance_type),
                               rtol=1e-5)
    assert np.isfinite(kept.score_samples(frames[:2])).all()


def test_keep_heaviest_refuses_what_it_cannot_keep() -> None:
    model = PixelGaussianMixture(3)
    with pytest.raises(RuntimeError, match="fitted"):
        keep_heaviest(model, 2)
    model.fit(np.random.default_rng(0).integers(0, 256, (10, 1, 2, 3), dtype=np.uint8))
    for bad in (0, 4):
        with pytest.raises(ValueError, match="n_components"):
            keep_heaviest(model, bad)


@pytest.mark.parametrize("bad", [{"fit_components": 5, "k_selection": "bic"}, {"fit_components": 0},
                                 {"fit_components": 2.5}])
def test_fit_components_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        GMMMethod(n_components=3, **bad)


def test_fit_components_model_has_n_components_and_round_trips() -> None:
    frames = np.random.default_rng(1).integers(0, 256, (20, 3, 4, 3), dtype=np.uint8)
    method = GMMMethod(n_components=3, fit_components=5).fit(frames)
    assert method._fitted().weights_.shape == (3, 4, 3)
    again = GMMMethod(n_components=3, fit_components=5).set_state(method.get_state())
    np.testing.assert_array_equal(again.foreground_scores(frames[:3]), method.foreground_scores(frames[:3]))
    # at or below n_components (a sweep of K past it) it is the plain fit
    plain = GMMMethod(n_components=3).fit(frames).get_state()["means_"]
    for fit_components in (3, 2):
        np.testing.assert_array_equal(
            GMMMethod(n_components=3, fit_components=fit_components).fit(frames).get_state()["means_"], plain)
