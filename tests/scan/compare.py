"""Two scan results are the same scan: counts, extrema, activity, histograms and top-k lists to the bit,
means and variances to float64 rounding (they were combined in another order)."""

from __future__ import annotations

import numpy as np

EXACT = ("count", "min", "max", "active", "active_inputs")


def assert_same_result(a, b) -> None:
    assert a.layers == b.layers
    assert (a.inputs, a.skipped, a.meta["sources"]) == (b.inputs, b.skipped, b.meta["sources"])
    for name in a.layers:
        x, y = a[name], b[name]
        for field in EXACT:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=f"{name}.{field}")
        np.testing.assert_array_equal(x.peaks.counts, y.peaks.counts, err_msg=f"{name}.peaks")
        for top in ("top", "top_mean"):
            for field in ("score", "index", "position"):
                np.testing.assert_array_equal(getattr(getattr(x, top), field), getattr(getattr(y, top), field),
                                              err_msg=f"{name}.{top}.{field}")
        np.testing.assert_allclose(x.mean, y.mean, rtol=1e-12, err_msg=f"{name}.mean")
        np.testing.assert_allclose(x.var, y.var, rtol=1e-12, err_msg=f"{name}.var")
