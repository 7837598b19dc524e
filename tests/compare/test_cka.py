"""Linear CKA from debiased HSIC: the estimator against a numpy oracle, invariances, streaming sums."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layerscope.comparison import HSICSums, gram, linear_cka
from layerscope.errors import InputError


def _hsic_oracle(x: np.ndarray, y: np.ndarray, debiased: bool) -> float:
    """Song et al. (2012) term by term with explicit sums, and the biased tr(KHLH)/(n-1)^2, in numpy."""
    k, l = x @ x.T, y @ y.T
    n = len(k)
    if not debiased:
        h = np.eye(n) - 1.0 / n
        return float(np.trace(k @ h @ l @ h)) / (n - 1) ** 2
    np.fill_diagonal(k, 0)
    np.fill_diagonal(l, 0)
    ones = np.ones(n)
    term1 = np.trace(k @ l)
    term2 = (ones @ k @ ones) * (ones @ l @ ones) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (ones @ k @ l @ ones)
    return float(term1 + term2 - term3) / (n * (n - 3))


def _cka_oracle(batches_x, batches_y, debiased=True) -> float:
    xy = sum(_hsic_oracle(x, y, debiased) for x, y in zip(batches_x, batches_y))
    xx = sum(_hsic_oracle(x, x, debiased) for x in batches_x)
    yy = sum(_hsic_oracle(y, y, debiased) for y in batches_y)
    return xy / np.sqrt(xx * yy)


def _rand(seed: int, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("debiased", [True, False])
def test_one_batch_equals_the_numpy_oracle(debiased):
    x, y = _rand(0, 9, 6), _rand(1, 9, 4) + _rand(0, 9, 6)[:, :4]
    expected = _cka_oracle([x.numpy()], [y.numpy()], debiased)
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(expected, rel=1e-10)


def test_the_sums_over_batches_equal_the_oracle_and_not_the_mean_of_per_batch_cka():
    x = _rand(2, 14, 5)
    y = torch.cat([x[:6] @ _rand(3, 5, 5), _rand(4, 8, 5)])  # related in batch 1, unrelated in batch 2
    sums = HSICSums(1, 1).update([x[:6]], [y[:6]]).update([x[6:]], [y[6:]])
    ratio = _cka_oracle([x[:6].numpy(), x[6:].numpy()], [y[:6].numpy(), y[6:].numpy()])
    mean = (linear_cka(x[:6], y[:6]) + linear_cka(x[6:], y[6:])) / 2
    assert sums.result()[0, 0] == pytest.approx(ratio, rel=1e-10)
    assert abs(ratio - mean) > 0.05  # the two differ here, so the test tells them apart


@settings(max_examples=25, deadline=None)
@given(n=st.integers(4, 20), p=st.integers(1, 30), seed=st.integers(0, 10_000))
def test_a_representation_is_identical_to_itself(n, p, seed):
    x = _rand(seed, n, p)
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(6, 20), p=st.integers(2, 12), scale=st.floats(1e-3, 1e3), seed=st.integers(0, 10_000))
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(n, p, scale, seed):
    x, y = _rand(seed, n, p), _rand(seed + 1, n, p)
    q, _ = torch.linalg.qr(_rand(seed + 2, p, p))
    assert linear_cka(x, scale * y @ q) == pytest.approx(linear_cka(x, y), abs=1e-9)


def test_not_invariant_to_non_isotropic_scaling():
    x = _rand(5, 12, 3)
    stretched = x * torch.tensor([100.0, 1.0, 1.0], dtype=torch.float64)
    assert linear_cka(x, stretched) < 0.9


@pytest.mark.parametrize("seed", range(4))
def test_independent_representations_are_near_zero_debiased_but_not_biased(seed):
    """At n = 10 inputs and 2,000 features the biased estimator calls noise similar (about 0.99); the debiased
    one scatters around 0 (standard deviation about 0.16 at this n, measured over 200 draws)."""
    x, y = _rand(seed, 10, 2000), _rand(seed + 100, 10, 2000)
    assert abs(linear_cka(x, y)) < 0.5
    assert linear_cka(x, y, debiased=False) > 0.95


def test_debiased_noise_averages_to_zero():
    values = [linear_cka(_rand(s, 10, 500), _rand(s + 1000, 10, 500)) for s in range(40)]
    assert abs(np.mean(values)) < 0.08  # 3 standard errors of the mean of 40 draws


def test_any_split_and_order_of_batches_and_merges_give_the_same_sums():
    x, y = _rand(7, 24, 6), _rand(8, 24, 3)
    splits = [slice(0, 8), slice(8, 12), slice(12, 24)]
    forward = HSICSums(1, 1)
    for part in splits:
        forward.update([x[part]], [y[part]])
    backward = HSICSums(1, 1)
    for part in reversed(splits):
        backward.update([x[part]], [y[part]])
    merged = HSICSums(1, 1).update([x[splits[0]]], [y[splits[0]]])
    merged.merge(HSICSums.from_state(HSICSums(1, 1).update([x[splits[1]]], [y[splits[1]]]).state_dict()))
    merged.merge(HSICSums(1, 1).update([x[splits[2]]], [y[splits[2]]]))
    assert forward.inputs == merged.inputs == 24 and forward.batches == 3
    np.testing.assert_allclose(backward.result(), forward.result(), rtol=1e-12)
    np.testing.assert_allclose(merged.result(), forward.result(), rtol=1e-12)


def test_every_layer_against_every_layer_is_the_matrix_of_pairs():
    xs, ys = [_rand(9, 10, 4), _rand(10, 10, 2, 3)], [_rand(11, 10, 5), _rand(9, 10, 4) * 3, _rand(12, 10, 7)]
    matrix = HSICSums(2, 3).update(xs, ys).result()
    assert matrix.shape == (2, 3) and matrix[0, 1] == pytest.approx(1.0)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            assert matrix[i, j] == pytest.approx(linear_cka(x, y), rel=1e-10)


def test_gram_of_a_big_float32_layer_is_summed_in_float64():
    x = torch.ones(2, 3 << 16, dtype=torch.float32)
    assert gram(x).dtype == torch.float64 and gram(x)[0, 1].item() == 3 << 16


def test_a_constant_layer_has_no_cka():
    assert np.isnan(linear_cka(torch.ones(6, 3), _rand(0, 6, 3)))


@pytest.mark.parametrize(("xs", "ys", "match"), [
    ([torch.zeros(3, 2)], [torch.zeros(3, 2)], "A batch of 3 inputs is too small for debiased HSIC; give batches of at least 4"),
    ([torch.zeros(5, 2)], [torch.zeros(4, 2)], r"different numbers of inputs \(5 vs 4\)"),
    ([torch.zeros(5, 2), torch.zeros(5, 2)], [torch.zeros(5, 2)], "got 2 and 1 layers"),
    (torch.zeros(5, 2), [torch.zeros(5, 2)], "features_a must be a non-empty list of tensors"),
])
def test_bad_batches_are_refused_with_the_fix(xs, ys, match):
    with pytest.raises(InputError, match=match):
        HSICSums(1, 1).update(xs, ys)


def test_result_before_any_batch_is_refused():
    with pytest.raises(InputError, match=r"before any update\(\)"):
        HSICSums(1, 1).result()
