"""The report at a real size stays under its byte budget: ResNet-50 (random init: noise-like maps, the hardest to
compress), 4 photos, every convolution (53 layers x 64 channels), in at most 8 MB (issue 19; it was 16-21 MB)."""

from __future__ import annotations

import pytest
import torch

import layerscope as ls

BUDGET = 8e6  # bytes
torchvision = pytest.importorskip("torchvision")


@pytest.fixture(scope="module")
def resnet50_report(tmp_path_factory):
    from layerscope.zoo import PHOTOS, write_sample_images

    folder = tmp_path_factory.mktemp("photos")
    images = [str(p) for p in write_sample_images(folder, count=1, photos=PHOTOS, overwrite=True)]
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    return ls.report(model, images, "type:Conv2d", diagnosis=False)


def test_a_resnet50_report_of_four_photos_and_every_conv_fits_the_budget(resnet50_report):
    result = resnet50_report
    assert len(result.page.layers) == 53 and len(result.page.inputs) == 4
    assert all(len(view.channels) == 64 for view in result.page.layers)
    assert result.size <= BUDGET, f"{result.size / 1e6:.2f} MB"


def test_its_grids_hold_no_more_pixels_than_they_are_shown_with(resnet50_report):
    """A grid is drawn 240-330 CSS pixels wide: conv1's 112x112 maps come as 28x28 block means, not 112x112."""
    views = {view.name: view for view in resnet50_report.page.layers}
    assert (views["conv1"].geometry["pool"], views["conv1"].geometry["map_w"]) == (4, 28)
    assert (views["layer1.0.conv1"].geometry["pool"], views["layer4.2.conv3"].geometry["pool"]) == (2, 1)
    assert max(view.geometry["width"] for view in views.values()) <= 320
