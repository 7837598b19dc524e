"""Jupyter reprs: PNG bytes that decode, escaped HTML, per-layer problems shown instead of raised; the HTML of
Activations and ShowResult comes through the display registry (layerscope.core.display)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

import layerscope as ls
from layerscope.capturing import Activations, Recorder
from layerscope.core.display import html_of
from layerscope.display import activations_html
from layerscope.errors import InputError
from layerscope.render import ActivationsView, ImageView, progression_strip
from layerscope.showing.api import ShowResult


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
    rows = re.findall(r"<tr><td>(\d+)</td><td><code><bdi>([^<]*)</bdi></code></td>" + cell * 3, page)
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


def test_activations_html_comes_from_the_registry_a_table_with_thumbnails(acts):
    assert "_repr_html_" not in vars(Activations)  # the engine holds no HTML: layerscope.display registers it
    page = acts._repr_html_()
    assert page == html_of(acts) == activations_html(acts)
    assert page.count("<tr><td>") == 4 and len(embedded_images(page)) == 3


def show_result(tmp_path) -> ShowResult:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 6, 3))
    return ls.show(model, torch.randn(2, 3, 24, 24), ["0", "2"], tmp_path / "shown", max_channels=0)


def test_show_result_html_is_registered_a_table_of_thumbnails(tmp_path):
    page = html_of(show_result(tmp_path))
    assert page is not None and "<table" in page and "&lt;tensor&gt;" in page
    thumbs = embedded_images(page)
    assert len(thumbs) == 4 and all(t.shape[0] <= 96 and t.shape[1] <= 160 for t in thumbs)  # 2 inputs x 2 layers


def test_show_result_repr_html_goes_through_the_registry(tmp_path):
    assert "_repr_html_" not in vars(ShowResult)
    result = show_result(tmp_path)
    assert result._repr_html_() == html_of(result)
