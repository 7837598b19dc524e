"""What the report tests share: reading a page's parts back (pictures, data, CSP) independently of the code."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import re

import numpy as np
import torch.nn as nn
from PIL import Image


def grid_indices(png: bytes) -> np.ndarray:
    """The palette indices of a grid PNG, as Pillow reads them."""
    image = Image.open(io.BytesIO(png))
    assert image.mode == "P"
    return np.asarray(image)


def page_data(page: str) -> dict:
    """The page's JSON data block."""
    block = re.search(r'<script type="application/json" id="ls-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(block)


def inline(page: str, tag: str) -> str:
    """The text of the page's one inline <style> or (non-JSON) <script>."""
    pattern = r"<style>(.*?)</style>" if tag == "style" else r"<script>(.*?)</script>"
    return re.search(pattern, page, re.S).group(1)


def csp_hash(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def csp_of(page: str) -> str:
    return html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))


HOSTILE = "</template><script>self['pwned']=1</script>\"'<img src=x onerror=alert(1)>"


def hostile_model() -> nn.Module:
    """Two convolutions, the second named with markup that would run if it were not escaped."""
    model = nn.Sequential()
    model.add_module("conv", nn.Conv2d(3, 4, 3))
    model.add_module(HOSTILE, nn.Conv2d(4, 3, 3))
    return model


def report_of_noise(model, folder, file_name: str, **options):
    """``ls.report`` of ``model`` on one 24x24 noise image saved as ``folder/file_name`` (seeded: same bytes, same
    weights), e.g. to put a hostile name in front of the page."""
    import torch

    import layerscope as ls

    image = folder / file_name
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)).save(image)
    torch.manual_seed(0)
    return ls.report(model, [str(image)], out=folder / "report.html", **options)
