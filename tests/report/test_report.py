"""The report as a file: one self-contained page, escaped, with a CSP that allows exactly its own style and script."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope as ls
from layerscope.errors import InputError
from layerscope.reporting import Example, Figure, Section, Table, Text

from .helpers import HOSTILE, csp_hash, csp_of, hostile_model, inline, page_data


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 5))


@pytest.fixture()
def photos(tmp_path):
    paths = []
    for i, name in enumerate(["a.png", "b.png"]):
        path = tmp_path / name
        Image.fromarray(np.random.default_rng(i).integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def test_page_is_self_contained(model, photos, tmp_path):
    result = ls.report(model, [str(p) for p in photos], out=tmp_path / "r.html", preprocessing=ls.Preprocessing(
        None, (16, 16), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), 3))
    page = result.path.read_text()
    assert page == result.html and result.size == len(page.encode())
    urls = re.findall(r'(?:src|href|action|poster)="([^"]*)"', page)
    assert urls and all(u.startswith(("data:image/png;base64,", "#")) for u in urls)
    assert "http://" not in page.replace("http-equiv", "") and "https://" not in page and "@import" not in page
    assert page.count('class="ls-grid"') == 4  # 2 conv layers x 2 inputs
    assert page.count('class="ls-seen"') == 2 and 'loading="lazy"' in page


def test_csp_allows_exactly_the_inline_style_and_script(model):
    page = ls.report(model, torch.rand(1, 3, 12, 12), diagnosis=False).html
    policy = dict(part.split(" ", 1) for part in csp_of(page).split("; "))
    assert policy["default-src"] == "'none'" and policy["connect-src"] == "'none'"
    assert policy["script-src"] == f"'{csp_hash(inline(page, 'script'))}'"
    assert policy["style-src"] == f"'{csp_hash(inline(page, 'style'))}'"
    assert not re.search(r"\son[a-z]+=", page), "no inline event handler"
    assert not re.search(r'\sstyle="', page), "no inline style attribute"


def test_hostile_names_are_text_in_the_html_and_in_the_data(tmp_path):
    image = tmp_path / "<script>window.pwned=2<\\script>'\".png"
    Image.fromarray(np.zeros((12, 12, 3), np.uint8)).save(image)
    page = ls.report(hostile_model(), [str(image)], diagnosis=True).html
    body = page.split("<body", 1)[1]
    assert "<script>self[" not in body and "<script>window" not in body and "<img src=x" not in body
    assert "</template><script>" not in body
    assert "&lt;/template&gt;&lt;script&gt;self[&#39;pwned&#39;]=1&lt;/script&gt;" in body
    data = page_data(page)  # the JSON block keeps the name exactly, with '<' escaped as \u003c
    assert data["layers"][1]["name"] == HOSTILE and "\\u003c/script" in page


def test_the_page_shows_model_inputs_predictions_layers_and_diagnosis():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    result = ls.report(model, torch.rand(3, 1, 8, 8), title="a title")
    page, data = result.html, page_data(result.html)
    for part in ('id="model"', 'id="inputs"', 'id="overview"', 'id="diagnostics"', 'id="layers"', "<title>a title</title>"):
        assert part in page
    assert [layer["name"] for layer in data["layers"]] == ["1"] and len(data["inputs"]) == 3  # the ReLU after the conv
    assert page.count('class="ls-preds"') == 3 and "class 0" in page
    assert set(data["palettes"]) >= {"viridis", "gray", "RdBu_r"} and len(data["palettes"]["viridis"]) == 256 * 6


def test_class_names_come_from_the_model(tmp_path):
    from layerscope.zoo import write_sample_images

    digits = write_sample_images(tmp_path, count=4, photos=(), overwrite=True)
    result = ls.report("builtin:digits", [str(p) for p in digits], diagnosis=False)
    names = [card.predictions[0][0] for card in result.page.inputs]
    assert names == ["0", "1", "2", "3"]  # the digits' true labels, from the builtin's class names


def test_views_pick_the_parts(model):
    page = ls.report(model, torch.rand(1, 3, 12, 12), views="grid,predictions").html
    assert 'id="diagnostics"' not in page and 'class="ls-mean"' not in page and 'class="ls-grid"' in page
    with pytest.raises(InputError, match="Unknown report view 'grids'. Did you mean 'grid'"):
        ls.report(model, torch.rand(1, 3, 12, 12), views="grids")


def test_files_are_replaced_only_when_they_are_reports(model, tmp_path):
    x = torch.rand(1, 3, 12, 12)
    own = ls.report(model, x, out=tmp_path / "r.html", diagnosis=False).path
    ls.report(model, x, out=own, diagnosis=False)  # an earlier report: replaced
    other = tmp_path / "notes.html"
    other.write_text("<p>mine</p>")
    with pytest.raises(InputError, match="which layerscope did not write there.*pass overwrite=True"):
        ls.report(model, x, out=other, diagnosis=False)
    assert other.read_text() == "<p>mine</p>"
    with pytest.raises(InputError, match=r"name it with \.html"):
        ls.report(model, x, out=tmp_path / "r.png", diagnosis=False)


def test_too_many_inputs_are_refused(model):
    with pytest.raises(InputError, match="more than 16 inputs"):
        ls.report(model, torch.rand(17, 3, 12, 12))


def test_from_activations_and_from_a_diagnosis(model):
    x = torch.rand(2, 3, 12, 12)
    acts = ls.capture(model, x)
    page = ls.report(acts, x).html
    assert page.count('class="ls-grid"') == 4 and page.count('class="ls-seen"') == 2
    diagnosis = ls.diagnose(model, x, channel_order=False)
    only = ls.report(diagnosis).html
    assert 'id="diagnostics"' in only and 'class="ls-grid"' not in only


def test_sections_and_examples_plug_in(model):
    class Comparison:  # a result of another tool that describes itself
        def report_section(self):
            return Section("cka", "Compared with the untrained copy", [
                Text("Layers that changed most first."), Table(("layer", "cka"), [("0", 0.25), ("2", 0.5)]),
                Figure([(np.zeros((4, 4, 3), np.uint8), "heat <map>")])], kind="comparison")

    examples = {"1": {1: [Example(np.full((8, 8, 3), 200, np.uint8), "image 17 <x>", score=3.5, box=(1, 1, 4, 4))]},
                "5": {0: [Example(np.zeros((8, 8, 3), np.uint8), "of a layer not shown")]}}
    page = ls.report(model, torch.rand(1, 3, 12, 12), sections=[Comparison()], examples=examples).html
    assert 'id="section-cka"' in page and "<td>0.25</td>" in page and "heat &lt;map&gt;" in page
    assert page.index('id="section-dataset-examples"') < page.index('id="section-cka"')  # dataset, then comparisons
    assert "5" not in page_data(page)["examples"]  # the page script gets the examples of the layers shown only
    example = page_data(page)["examples"]["1"]["1"][0]
    assert example["caption"] == "image 17 <x>" and example["box"] == [1, 1, 4, 4] and example["score"] == 3.5
    with pytest.raises(InputError, match="must be a letter then letters"):
        Section("1 bad", "x")
    with pytest.raises(InputError, match="report_section"):
        ls.report(model, torch.rand(1, 3, 12, 12), sections=["text"])



def test_a_picture_many_examples_show_is_embedded_once(model):
    """A deep layer's receptive field is the whole input: its examples once carried the same image hundreds of times."""
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = torch.rand(1, 3, 12, 12)
    one = ls.report(model, x, examples={"1": {0: [Example(photo, "a")]}}, diagnosis=False).html
    many = ls.report(model, x, examples={"1": {c: [Example(photo, f"{c}{k}") for k in range(6)] for c in range(4)}},
                     diagnosis=False).html
    data = page_data(many)
    assert len(data["pictures"]) == 1 and {e["picture"] for shown in data["examples"]["1"].values() for e in shown} == {0}
    assert len(many) - len(one) < len(data["pictures"][0]) / 4

def test_jupyter_reprs_use_the_same_components(model):
    x = torch.rand(1, 3, 12, 12)
    acts = ls.capture(model, x)
    fragments = [acts._repr_html_(), ls.diagnose(model, x, channel_order=False)._repr_html_(),
                 ls.show(model, x, ["0"])._repr_html_()]
    for fragment in fragments:
        assert fragment.startswith('<div class="layerscope"><style>') and "<script" not in fragment
    assert '<div class="ls-layers-table">' in fragments[0] and '<div class="ls-diagnosis">' in fragments[1]
    assert '<div class="ls-images">' in fragments[2]
    frame = ls.report(model, x, diagnosis=False)._repr_html_()
    assert frame.startswith('<iframe sandbox="allow-scripts" srcdoc="&lt;!DOCTYPE html&gt;')


def test_the_views_registry_draws_the_same_pictures_in_the_report_as_in_show(tmp_path):
    """One view registry (layerscope.render.views): a report asked for ``overlay`` and ``pca`` embeds, under each
    layer's grids, the very pictures ``show`` writes for the same model, input and layer."""
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(photo)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    model = ls.LoadedModel(module, "tests:conv", ls.Preprocessing(resize=None, crop=(32, 32)), weights="hand-set")
    shown = ls.show(model, str(photo), ["0"], tmp_path / "maps", views="grid,overlay,pca")
    ls.report(model, str(photo), ["0"], out=tmp_path / "r.html", views="grid,overlay,pca", diagnosis=False)
    html = (tmp_path / "r.html").read_text()
    embedded = dict(re.findall(r'data-view="(\w+)" src="data:image/png;base64,([^"]+)"', html))
    assert sorted(embedded) == ["overlay", "pca"]
    for view in ("overlay", "pca"):
        written = np.asarray(Image.open(shown.out / shown.inputs[0]["views"][view]["0"]))
        drawn = np.asarray(Image.open(io.BytesIO(base64.b64decode(embedded[view]))))
        np.testing.assert_array_equal(drawn, written)


def test_report_views_name_the_registry_views_with_did_you_mean():
    with pytest.raises(ls.InputError, match=r"Unknown report view 'overlai'. Did you mean 'overlay'\?.*pictures under"):
        ls.reporting.ReportOptions(views="grid,overlai")
