"""`mv2search.scaling.gp` and `.sensitivity`: the GP recovers the factor ranking of a synthetic
accuracy; the kernel is Matern-5/2 with ARD; the indices are exact on known functions."""

import pytest
import torch
from gpytorch.kernels import MaternKernel

from mv2search.scaling.gp import bootstrap_fits, cross_validate, fit_gp
from mv2search.scaling.sensitivity import factor_sensitivity, variance_indices
from tests.scaling.conftest import synthetic_accuracy


@pytest.fixture(scope="module")
def data(grid):
    X = grid.space.sample_encoded(40, seed=3)
    noise = 0.004 * torch.randn(40, generator=torch.Generator().manual_seed(0), dtype=X.dtype)
    return X, synthetic_accuracy(grid, X) + noise


@pytest.fixture(scope="module")
def gp(grid, data):
    return fit_gp(*data, grid.space.bounds)


def test_kernel_is_matern_52_with_one_lengthscale_per_factor_and_learned_noise(gp):
    kernel = gp.model.covar_module.base_kernel
    assert isinstance(kernel, MaternKernel) and kernel.nu == 2.5
    assert gp.lengthscales.shape == (4,)
    assert 0.0005 < gp.noise_sd < 0.03  # learned, near the 0.004 we added


def test_gp_recovers_the_known_factor_ranking(grid, gp, data):
    refits = bootstrap_fits(*data, grid.space.bounds, n=4, seed=0)
    assert len(refits) == 4
    sens = factor_sensitivity(gp, (grid.X, grid.levels), list(grid.names), refits)
    assert sens.ranking == ["image_size", "width_multiplier", "ir_depths", "attn_blocks"]
    truth_first, truth_total = variance_indices(synthetic_accuracy(grid, grid.X), grid.levels)
    assert torch.allclose(torch.tensor(sens.total, dtype=torch.float64), truth_total, atol=0.05)
    for j, (low, high) in enumerate(sens.total_interval):  # refits agree with the fit
        assert low <= high and low - 0.05 <= sens.total[j] <= high + 0.05
    assert sens.lengthscale[0] == min(sens.lengthscale)  # resolution: fastest change


def test_cross_validation_of_a_smooth_function_ranks_held_out_trials(grid, data):
    cv = cross_validate(*data, grid.space.bounds, folds=5)
    assert cv.folds == 5 and len(cv.mean) == 40
    assert cv.rmse < 0.3 * cv.rmse_mean_predictor
    assert cv.spearman > 0.95 and cv.kendall > 0.8
    assert 0.6 <= cv.coverage_90 <= 1.0


def test_indices_of_known_functions_are_exact():
    levels = torch.cartesian_prod(torch.arange(3), torch.arange(4))
    additive = 2.0 * levels[:, 0] + levels[:, 1]  # variances 4 * 2/3 and 5/4
    first, total = variance_indices(additive.double(), levels)
    share = torch.tensor([8 / 3, 5 / 4]) / (8 / 3 + 5 / 4)
    assert torch.allclose(first, share.double()) and torch.allclose(total, share.double())
    product = ((levels[:, 0] - 1) * (levels[:, 1] - 1.5)).double()  # interaction only
    first, total = variance_indices(product, levels)
    assert torch.allclose(first, torch.zeros(2, dtype=torch.float64), atol=1e-12)
    assert torch.allclose(total, torch.ones(2, dtype=torch.float64))


def test_bad_shapes_are_errors_naming_them(grid):
    with pytest.raises(ValueError, match="X n x d"):
        fit_gp(torch.zeros(3, 2), torch.zeros(3), grid.space.bounds)
    with pytest.raises(ValueError, match="at least 3 trials"):
        cross_validate(grid.X[:2], torch.zeros(2), grid.space.bounds)
