"""show as a consumer of the spine: Subject in, RunOptions batching, OutputFolder index, views from the registry."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

import layerscope.render.views as views_package
from layerscope.errors import InputError
from layerscope.render.views import VIEWS, View, check_views, layer_view
from layerscope.run import OutputOptions, RunOptions, Subject
from layerscope.showing.api import show
from layerscope.showing.options import ShowOptions


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 4, 3, stride=2), nn.ReLU(), nn.Conv2d(4, 3, 1))


@pytest.fixture()
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(5):
        Image.fromarray(rng.integers(0, 256, (40 + i, 36, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def _tree(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.fixture()
def brightest(tmp_path, monkeypatch):
    """A new view written as one file, the way a contributor adds one."""
    (tmp_path / "brightest_view.py").write_text(textwrap.dedent('''
        from layerscope.render.views import VIEWS, View

        class Brightest(View):
            name = "brightest"
            description = "the maximum over channels"

            def draw(self, maps, *, caption="", seen=None, options=None, min_size=160):
                return VIEWS["mean"].draw(maps.amax(0, keepdim=True), caption=caption, min_size=min_size)
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "brightest_view", raising=False)
    module = importlib.import_module("brightest_view")
    yield module
    views_package.unregister("brightest")
    sys.modules.pop("brightest_view", None)


def test_a_view_in_one_new_file_is_known_to_check_views_and_drawn_by_show(brightest, images, tmp_path):
    assert check_views("grid,brightest") == ("grid", "brightest")
    maps = torch.rand(4, 6, 6, generator=torch.Generator().manual_seed(1))
    np.testing.assert_array_equal(layer_view("brightest", maps), layer_view("mean", maps.amax(0, keepdim=True)))
    out = tmp_path / "o"
    result = show(_model(), [str(images / "im0.png")], ["0"], out, views="grid,brightest")
    assert sorted(_tree(out)) == ["im0/00_0.brightest.png", "im0/00_0.png"]
    assert result.inputs[0]["views"]["brightest"] == {"0": "im0/00_0.brightest.png"}
    assert json.loads((out / "index.json").read_text())["files"] == ["im0/00_0.png", "im0/00_0.brightest.png"]


def test_an_unknown_view_names_the_registered_ones(brightest):
    with pytest.raises(InputError,
                       match=r"Unknown view 'brightst'\. Did you mean 'brightest'.*Choose from: grid, .*, brightest\."):
        check_views("brightst")


def test_every_module_of_the_views_package_is_the_view_of_its_name():
    import pkgutil

    modules = {m.name for m in pkgutil.iter_modules(views_package.__path__)} - {"base", "pictures"}
    assert modules <= set(VIEWS) and all(isinstance(VIEWS[name], View) for name in modules)
    assert list(VIEWS)[:7] == ["grid", "mean", "overlay", "pca", "progression", "figure", "importance"]


def test_views_are_pure_pictures_and_png_bytes():
    maps = torch.rand(5, 8, 8, generator=torch.Generator().manual_seed(2))
    before = maps.clone()
    for name, view in VIEWS.items():
        if view.per != "layer" or view.needs_importance or view.needs_seen or name == "figure":
            continue
        picture = view.draw(maps, caption=view.caption("conv"))
        assert picture.dtype == np.uint8 and picture.ndim == 3 and picture.shape[2] == 3, name
        assert view.png(maps, caption=view.caption("conv")).startswith(b"\x89PNG"), name
    assert torch.equal(maps, before)


def test_show_accepts_a_subject_and_uses_its_layers(images, tmp_path):
    model = _model()
    subject = Subject.of(model, ["2", "4"])
    by_subject = show(subject, [str(images)], out=tmp_path / "a")
    show(model, [str(images)], ["2", "4"], tmp_path / "b")
    assert [row["name"] for row in by_subject.layers] == ["2", "4"]
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


@pytest.mark.parametrize("normalize", ["channel", "global"])
def test_batch_size_one_gives_the_same_files_as_eight(images, tmp_path, normalize):
    model, chosen = _model(), ShowOptions(views="grid,mean,progression")
    one = show(model, [str(images)], None, tmp_path / "one", run=RunOptions(batch_size=1), show=chosen,
               normalize=normalize)
    eight = show(model, [str(images)], None, tmp_path / "eight", run=RunOptions(batch_size=8), show=chosen,
                 normalize=normalize)
    assert len(_tree(tmp_path / "one")) == 5 * (3 * 2 + 1)
    assert _tree(tmp_path / "one") == _tree(tmp_path / "eight")
    assert one.to_dict()["inputs"] == eight.to_dict()["inputs"] and one.options == eight.options


def test_run_fields_may_be_keywords(images, tmp_path):
    show(_model(), [str(images)], ["0"], tmp_path / "kw", batch_size=2)
    show(_model(), [str(images)], ["0"], tmp_path / "obj", run=RunOptions(batch_size=2))
    assert _tree(tmp_path / "kw") == _tree(tmp_path / "obj")


def test_global_ranges_of_a_one_shot_stream_of_batches():
    x = torch.rand(6, 3, 12, 12, generator=torch.Generator().manual_seed(3))
    result = show(_model(), (batch for batch in x.split(2)), ["0"], normalize="global")
    assert len(result.inputs) == 6
    with torch.no_grad():
        low, high = _model()[0](x).aminmax()
    assert result.options.value_range["0"] == pytest.approx((low.item(), high.item()))


def test_the_index_lists_the_files_through_the_output_folder(images, tmp_path):
    out = tmp_path / "o"
    show(_model(), [str(images / "im0.png")], ["0", "2"], out, views="grid,mean")
    second = show(_model(), [str(images / "im0.png")], ["0"], out)
    index = json.loads((out / "index.json").read_text())
    mine = ["im0/00_0.png"]
    kept = ["im0/00_0.mean.png", "im0/01_2.mean.png", "im0/01_2.png"]  # the earlier run's, still there and owned
    assert index["files"] == mine + kept == second.listed == second.to_dict()["files"]
    assert second.written == mine + ["index.json"]
    show(_model(), [str(images / "im0.png")], ["0"], OutputOptions(out, overwrite=True))
    assert json.loads((out / "index.json").read_text())["files"] == mine and sorted(_tree(out)) == mine


def test_out_may_be_output_options_and_overwrite_a_keyword(images, tmp_path):
    out = tmp_path / "o"
    show(_model(), [str(images / "im0.png")], ["0"], out)
    (out / "im0" / "mine.txt").write_text("user data")
    with pytest.raises(InputError, match="which layerscope did not write"):
        show(_model(), [str(images / "im0.png")], ["0"], OutputOptions(out))
    show(_model(), [str(images / "im0.png")], ["0"], out, overwrite=True)
    assert (out / "im0" / "00_0.png").exists()


def test_a_result_in_memory_saves_the_same_files_as_a_run_into_a_folder(images, tmp_path):
    kwargs = dict(views="grid,mean,pca,progression", max_channels=4)
    show(_model(), [str(images)], None, tmp_path / "direct", **kwargs)
    memory = show(_model(), [str(images)], **kwargs)
    assert memory.out is None and memory.written == []
    saved = memory.save(tmp_path / "saved")
    assert _tree(saved) == _tree(tmp_path / "direct")
    index, expected = (json.loads((folder / "index.json").read_text()) for folder in (saved, tmp_path / "direct"))
    assert index == expected
    assert "grids of 3 layers x 5 inputs (grid, mean, pca, progression) in memory" in memory.summary()


def test_a_written_result_saves_a_copy(images, tmp_path):
    direct = show(_model(), [str(images / "im1.png")], ["0"], tmp_path / "a", views="grid,overlay")
    copy = direct.save(tmp_path / "b")
    assert _tree(copy) == _tree(tmp_path / "a")
    assert json.loads((copy / "index.json").read_text())["files"] == ["im1/00_0.png", "im1/00_0.overlay.png"]


def test_show_options_and_keywords_combine_and_misspellings_are_caught(images):
    chosen = ShowOptions(views=("mean",), names={"0": "first"})
    result = show(_model(), [str(images / "im0.png")], ["0"], show=chosen, views="grid,mean")
    assert result.views == ("grid", "mean") and result.inputs[0]["grids"]["0"]["title"] == "first (random init)"
    with pytest.raises(InputError, match="Unknown render option 'view'"):
        show(_model(), [str(images / "im0.png")], ["0"], view="mean")
    with pytest.raises(InputError, match="names 'conv1' must be LAYER=VALUE"):
        ShowOptions(names=["conv1"])
