"""The ``attention`` view in show, the report, the explorer and the CLI: one registry, the same pictures, each drawn
from exactly the maps :func:`attention_maps` returns (tiny HF ViT from tests/hf/tiny.py and a small timm ViT)."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

import layerscope as ls
from layerscope.cli import main
from layerscope.explain.attention import attention_maps
from layerscope.render.views import VIEWS
from layerscope.serve.explorer import Explorer

timm = pytest.importorskip("timm")
tiny_hf = pytest.importorskip("tests.hf.tiny")

PRE = ls.Preprocessing(resize=32, crop=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
FACTORIES = '''
import timm
from tests.hf.tiny import tiny

def hf_vit():
    return tiny("vit")

def timm_vit():
    return timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=3)
'''


def _timm_vit():
    torch.manual_seed(0)
    return timm.create_model("vit_tiny_patch16_224", img_size=32, patch_size=8, depth=2, num_classes=3).eval()


# kind -> (model, the block layer shown, the attention module inside it)
MODELS = {"hf": (lambda: tiny_hf.tiny("vit"), "vit.layers.1", "vit.layers.1.attention"),
          "timm": (_timm_vit, "blocks.1", "blocks.1.attn")}


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(path)
    return path


def _embedded(html: str) -> dict:
    found = dict(re.findall(r'data-view="(\w+)" src="data:image/png;base64,([^"]+)"', html))
    return {view: np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))) for view, data in found.items()}


@pytest.mark.parametrize("kind", list(MODELS))
def test_show_report_and_explorer_draw_the_attention_maps(kind, photo, tmp_path):
    make, layer, attention = MODELS[kind]
    model = ls.LoadedModel(make(), f"tests:{kind}-vit", PRE, weights="seeded")
    shown = ls.show(model, str(photo), [layer], tmp_path / "maps", views="grid,attention,rollout")
    batch = model.preprocess(str(photo))
    found = attention_maps(model, batch, rollout=True)
    expected = {name: VIEWS[name].draw(maps[0], caption=VIEWS[name].caption(layer), seen=PRE.pixels(batch)[0])
                for name, maps in (("attention", found[attention]), ("rollout", found.rollouts[attention]))}
    for name, picture in expected.items():  # the very maps attention_maps returns, over the seen image
        written = np.asarray(Image.open(shown.out / shown.inputs[0]["views"][name][layer]))
        np.testing.assert_array_equal(written, picture)

    ls.report(model, str(photo), [layer], out=tmp_path / "r.html", views="grid,attention,rollout", diagnosis=False)
    in_report = _embedded((tmp_path / "r.html").read_text())
    explorer = Explorer(model, layers=[layer], samples=False, views=("attention", "rollout"))
    item = explorer.add_array(np.asarray(Image.open(photo).convert("RGB")), "photo")
    in_explorer = _embedded(explorer.analyze(item.id, layer=0)["html"])
    # the prefix-token strip (data-view="prefix") is drawn beside them in both
    assert sorted(in_report) == sorted(in_explorer) and {"attention", "rollout"} <= set(in_report)
    for name, picture in expected.items():
        np.testing.assert_array_equal(in_report[name], picture)
        np.testing.assert_array_equal(in_explorer[name], picture)


def test_attention_view_on_a_model_without_attention_names_the_fix(photo, tmp_path):
    model = ls.LoadedModel(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()), "tests:conv", PRE,
                           weights="hand-set")
    with pytest.raises(ls.InputError, match="no attention layers"):
        ls.show(model, str(photo), ["1"], tmp_path / "maps", views="attention")


@pytest.mark.parametrize("spec", ["file:hf_vit", "file:timm_vit", "hf:vit", "hf:deit", "hf:dinov2_registers"])
def test_cli_show_view_attention(spec, photo, tmp_path):
    kind, name = spec.split(":")
    if kind == "hf":  # a save_pretrained folder, as a user's hf:FOLDER
        model = "hf:" + tiny_hf.save_tiny(name, tmp_path / name)
        size = []
    else:
        (tmp_path / "models.py").write_text(FACTORIES)
        model, size = f"{tmp_path / 'models.py'}:{name}", ["--size", "32"]
    out = tmp_path / "out"
    assert main(["show", model, str(photo), *size, "--view", "grid,attention,rollout", "--out", str(out),
                 "--no-progress"]) == 0
    for view in ("attention", "rollout"):
        pictures = sorted(p.name for p in (out / "photo").glob(f"*.{view}.png"))
        assert len(pictures) == 2, pictures  # one per block
