"""Per-pixel choice of K by BIC (bgsub.model_selection), against scikit-learn and on hand-made pixels."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture

from bgsub.gmm import GMMMethod
from bgsub.mixture import PixelGaussianMixture
from bgsub.model_selection import fit_by_bic, n_parameters, pixel_bic
from tests.conftest import pixels


def _pixels(rng: np.random.Generator, n: int = 120) -> np.ndarray:
    """``(n, 2, 3, 3)`` uint8 frames: pixel (0, 0) still (one Gaussian), (0, 1) two colours, (0, 2) three, row 1 the
    same with other noise."""
    frames = np.empty((n, 2, 3, 3))
    for row in range(2):
        frames[:, row, 0] = rng.normal(100, 3, (n, 3))
        frames[:, row, 1] = np.where(rng.random((n, 1)) < 0.6, 60.0, 180.0) + rng.normal(0, 3, (n, 3))
        modes = np.array([40.0, 120.0, 220.0])[rng.integers(0, 3, n)]
        frames[:, row, 2] = modes[:, None] + rng.normal(0, 3, (n, 3))
    return pixels(frames)


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
def test_bic_is_scikit_learns(cov_type: str) -> None:
    frames = _pixels(np.random.default_rng(0))
    model = PixelGaussianMixture(2, covariance_type=cov_type, random_state=0).fit(frames)
    bic = pixel_bic(model, frames)
    for y, x in [(0, 0), (0, 1), (1, 2)]:
        reference = GaussianMixture(2, covariance_type=cov_type)
        reference.weights_ = model.weights_[y, x].astype(np.float64)
        reference.means_ = model.means_[y, x].astype(np.float64)
        reference.covariances_ = model.covariances_[y, x].astype(np.float64)
        reference.precisions_cholesky_ = model.precisions_cholesky_[y, x].astype(np.float64)
        assert bic[y, x] == pytest.approx(reference.bic(frames[:, y, x].astype(np.float64)), rel=1e-5)
    assert n_parameters(2, 3, cov_type) == reference._n_parameters()


def test_each_pixel_keeps_as_many_components_as_it_has_modes() -> None:
    frames = _pixels(np.random.default_rng(1))
    model, chosen = fit_by_bic(lambda k: PixelGaussianMixture(k, random_state=0), frames, 3)
    assert chosen.tolist() == [[1, 2, 3], [1, 2, 3]]
    assert model.weights_.shape == (2, 3, 3)
    np.testing.assert_allclose(model.weights_.sum(axis=2), 1.0, rtol=1e-6)
    # the still pixel's one component carries it all; the padding neither changes its likelihood nor is background
    one = PixelGaussianMixture(1, random_state=0).fit(frames)
    np.testing.assert_allclose(model.score_samples(frames)[:, :, 0], one.score_samples(frames)[:, :, 0], rtol=1e-5)
    assert (model.weights_[:, 0, 1:] < 1e-6).all()
    method = GMMMethod(n_components=3, k_selection="bic", background_ratio=0.7).fit(frames)
    assert np.isfinite(method.foreground_scores(frames)).all()


def test_constant_pixels_choose_one_component_without_nan() -> None:
    frames = np.full((40, 4, 5, 3), 77, np.uint8)
    method = GMMMethod(n_components=3, k_selection="bic").fit(frames)
    assert (method.model_.weights_[..., 0] > 0.99).all()
    assert np.isfinite(method.foreground_scores(frames)).all()
    with pytest.raises(ValueError, match="k_selection"):
        GMMMethod(k_selection="aic")
