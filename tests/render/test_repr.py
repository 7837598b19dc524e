"""Jupyter reprs: PNG bytes that decode, escaped HTML, per-layer problems shown instead of raised."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from layerscope.capturing import Recorder
from layerscope.errors import InputError
from layerscope.render import ActivationsView, ImageView, activations_html, progression_strip


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def embedded_images(page: str) -> list[np.ndarray]:
    return [decode(base64.b64decode(data)) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


@pytest.fixture(scope="module")
def acts():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3, stride=2), torch.nn.Flatten(),
        torch.nn.Linear(6 * 6 * 6, 34 * 2), torch.nn.Unflatten(1, (34, 2)),
    )
    with Recorder(model, ["0", "2", "4", "5"]) as rec:
        return rec(torch.randn(2, 3, 16, 16))


def test_image_view_png_round_trips():
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    view = ImageView(array, title="overlay")
    np.testing.assert_array_equal(decode(view._repr_png_()), array)
    np.testing.assert_array_equal(embedded_images(view._repr_html_())[0], array)
    assert view.to_pil().size == (3, 2)


def test_image_view_rejects_non_images():
    with pytest.raises(InputError, match=r"needs an \(H, W\) or \(H, W, 3\) uint8 numpy array, got ndarray float64"):
        ImageView(np.zeros((2, 2)))


def test_activations_view_png_is_the_progression_strip_of_drawable_layers(acts):
    view = ActivationsView(acts, index=1, height=16)
    expected = progression_strip(acts, index=1, height=16, layers=["0", "2", "4"])  # "5" (1, 34, 2) cannot be laid out
    np.testing.assert_array_equal(decode(view._repr_png_()), expected)


def test_activations_html_table_has_every_layer_and_explains_the_undrawable(acts):
    page = activations_html(acts, thumb_height=8)
    cell = r"<td>([^<]*)</td>"
    rows = re.findall(r"<tr><td>(\d+)</td><td><code>([^<]*)</code></td>" + cell * 3, page)
    assert rows == [
        ("0", "0", "Conv2d", "4x14x14", "NCHW"),
        ("1", "2", "Conv2d", "6x6x6", "NCHW"),
        ("2", "4", "Linear", "68", "NC"),
        ("3", "5", "Unflatten", "34x2", "?"),
    ]
    assert "Cannot infer the layout of an activation of shape (2, 34, 2)" in page
    thumbs = embedded_images(page)
    assert len(thumbs) == 3 and {t.shape[0] for t in thumbs} == {8}


def test_activations_html_escapes_names_and_notes():
    page = activations_html({"<script>alert(1)</script>": torch.zeros(1, 2, 4, 4)})
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_activations_view_html_uses_its_options(acts):
    page = ActivationsView(acts, layers=["5"], layouts={"5": "NLC"})._repr_html_()
    assert "NLC" in page and len(embedded_images(page)) == 1


def test_nothing_drawable_falls_back_from_png(acts):
    view = ActivationsView(acts, layers=["5"])
    assert view._repr_png_() is None and "?" in view._repr_html_()


def test_bad_summary_is_rejected_up_front(acts):
    with pytest.raises(InputError, match=r"Unknown summary 'median'; use one of mean, max, l2"):
        activations_html(acts, summary="median")
    with pytest.raises(InputError, match=r"Unknown summary 'median'"):
        ActivationsView(acts, summary="median")
