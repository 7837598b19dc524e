"""Covariance: literal values and numpy's biased covariance as the oracle."""

import math

import numpy as np
import torch

from layerscope.stats import Covariance


def test_literal_values_over_positions_and_inputs():
    x = torch.tensor([[[1.0, 3.0], [1.0, -1.0]], [[5.0, 7.0], [1.0, -1.0]]])  # (N=2, C=2, L=2)
    cov = Covariance(2).update(x).result()
    assert cov.count == 4
    assert cov.mean.tolist() == [4.0, 0.0]
    assert cov.matrix.tolist() == [[5.0, -1.0], [-1.0, 1.0]]


def test_non_finite_values_count_as_zero():
    x = torch.tensor([[2.0, math.nan], [-2.0, math.inf]])
    cov = Covariance(2).update(x).result()
    assert cov.mean.tolist() == [0.0, 0.0] and cov.matrix.tolist() == [[4.0, 0.0], [0.0, 0.0]]


def test_without_samples_the_matrix_is_nan():
    cov = Covariance(3).result()
    assert cov.count == 0 and np.isnan(cov.matrix).all() and np.isnan(cov.mean).all()


def test_numpy_oracle_in_chunks():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(40, 6, 5, 5, generator=gen, dtype=torch.float64) @ torch.randn(5, 5, generator=gen, dtype=torch.float64)
    acc = Covariance(6)
    for part in x.split(7):
        acc.update(part)
    rows = x.permute(0, 2, 3, 1).reshape(-1, 6).numpy()
    cov = acc.result()
    np.testing.assert_allclose(cov.matrix, np.cov(rows.T, bias=True), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cov.mean, rows.mean(0), rtol=1e-12, atol=1e-12)
