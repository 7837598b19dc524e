"""The sinks: TensorBoard event files read back with tensorboard's EventAccumulator; the plain folder."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from layerscope.errors import InputError
from layerscope.train import FolderSink, Monitor, TensorBoardSink

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 5, 3), nn.ReLU(), nn.Conv2d(5, 7, 3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(7 * 8 * 8, 3)).train()


PROBE = torch.randn(3, 1, 12, 12, generator=torch.Generator().manual_seed(1))


def _run(sink, steps: int = 5, every: int = 2, layers=("0", "2", "5")) -> Monitor:
    monitor = Monitor(_model(), list(layers), every=every, inputs=PROBE, sink=sink)
    for _ in range(steps):
        monitor.step()
    monitor.close()
    return monitor


def _events(log_dir) -> EventAccumulator:
    events = EventAccumulator(str(log_dir), size_guidance={"images": 0, "histograms": 0, "scalars": 0,
                                                          "tensors": 0})
    return events.Reload()


@pytest.fixture(scope="module")
def tensorboard_run(tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("tb")
    return _run(TensorBoardSink(log_dir)), _events(log_dir)


def test_one_image_histogram_and_scalar_tag_per_layer(tensorboard_run):
    _, events = tensorboard_run
    tags = events.Tags()
    assert sorted(tags["images"]) == [f"layerscope/{n}/maps" for n in ("0", "2", "5")]
    assert sorted(tags["histograms"]) == [f"layerscope/{n}/activations" for n in ("0", "2", "5")]
    assert {"layerscope/0/dead", "layerscope/2/noisy", "layerscope/5/scale", "layerscope/0/effective_rank"} <= set(
        tags["scalars"])
    assert "layerscope/tendency/text_summary" in tags["tensors"]  # noise probe: "unclear", without a score
    assert "layerscope/tendency_score" not in tags["scalars"]


def test_steps_are_those_logged(tensorboard_run):
    _, events = tensorboard_run
    assert [e.step for e in events.Images("layerscope/2/maps")] == [0, 2, 4]
    assert [e.step for e in events.Histograms("layerscope/0/activations")] == [0, 2, 4]
    assert [e.step for e in events.Scalars("layerscope/2/dead")] == [0, 2, 4]


def test_image_sizes_are_the_probe_grids_side_by_side(tensorboard_run):
    monitor, events = tensorboard_run
    entry = monitor.log(99)  # the same model and probe: the same grid sizes
    for name in ("0", "2", "5"):
        height, width = entry.layers[name].grids[0].indices.shape
        image = events.Images(f"layerscope/{name}/maps")[-1]
        assert (image.height, image.width) == (height, 3 * width)  # add_images tiles the 3 probe inputs in a row


def test_histograms_and_scalars_hold_the_logged_numbers(tensorboard_run):
    monitor, events = tensorboard_run
    first = monitor.history[0]["layers"]["2"]
    histogram = events.Histograms("layerscope/2/activations")[0].histogram_value
    assert histogram.num == sum(first["histogram"]["counts"]) == 3 * 7 * 8 * 8
    assert list(histogram.bucket) == first["histogram"]["counts"]
    assert events.Scalars("layerscope/2/scale")[0].value == pytest.approx(first["scale"], rel=1e-5)


def test_a_writer_of_your_own_is_flushed_not_closed(tmp_path):
    writer = SummaryWriter(str(tmp_path))
    _run(writer, steps=1)
    writer.add_scalar("mine", 1.0, 0)  # still open
    writer.close()
    assert "mine" in _events(tmp_path).Tags()["scalars"]


def test_tensorboard_sink_needs_a_log_dir_or_a_writer():
    with pytest.raises(InputError, match="a log_dir or a writer"):
        TensorBoardSink()


def test_folder_has_the_index_a_json_line_per_log_and_a_png_per_layer_and_log(tmp_path):
    monitor = _run(FolderSink(tmp_path / "run"))
    run = tmp_path / "run"
    meta = json.loads((run / "monitor.json").read_text())
    assert meta["layers"] == ["0", "2", "5"] and meta["every"] == 2 and meta["probe_shape"] == [3, 1, 12, 12]
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [0, 2, 4] and lines == monitor.history
    pngs = sorted(p.relative_to(run).as_posix() for p in run.rglob("*.png"))
    assert pngs == [f"images/{n}/step-0000000{s}.png" for n in ("0", "2", "5") for s in (0, 2, 4)]
    entry = monitor.log(4)
    with Image.open(run / "images/2/step-00000004.png") as image:
        assert np.array_equal(np.asarray(image), entry.stacked("2"))  # the 3 probe grids, one under the other


def test_folder_replaces_only_an_earlier_run_of_its_own(tmp_path):
    _run(FolderSink(tmp_path / "run"), steps=3)
    with pytest.raises(InputError, match=r"holds an earlier monitor run; pass FolderSink\(path, overwrite=True\)"):
        FolderSink(tmp_path / "run").open(Monitor(_model(), "0", inputs=PROBE))
    _run(FolderSink(tmp_path / "run", overwrite=True), steps=1)
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 1
    assert not (tmp_path / "run" / "images" / "0" / "step-00000002.png").exists()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match=r"and other files \(notes.txt\)"):
        _run(FolderSink(tmp_path / "run", overwrite=True), steps=1)
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"x")
    with pytest.raises(InputError, match="holds files that layerscope did not write"):
        _run(FolderSink(tmp_path / "photos", overwrite=True), steps=1)
    assert (tmp_path / "photos" / "cat.jpg").read_bytes() == b"x"


def test_probe_grids_of_different_sizes_are_padded_to_one_image(tmp_path):
    """An all-zero input's colorbar fits where a wide-ranged one's does not: one layer's grids differ in size."""
    conv = nn.Conv2d(1, 4, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0, 3.0, 4.0]).reshape(4, 1, 1, 1))
        conv.bias.zero_()
    probe = torch.zeros(2, 1, 8, 8)
    probe[1] = torch.linspace(-123.456, 7891.25, 64).reshape(1, 8, 8)
    monitor = Monitor(conv, every=1, inputs=probe, sink=TensorBoardSink(tmp_path))
    entry = monitor.log(0)
    monitor.close()
    shapes = [g.indices.shape for g in next(iter(entry.layers.values())).grids]
    assert shapes[0] != shapes[1]
    (tag,) = _events(tmp_path).Tags()["images"]
    image = _events(tmp_path).Images(tag)[0]
    height, width = max(h for h, _ in shapes), max(w for _, w in shapes)
    assert (image.height, image.width) == (height, 2 * width)
    with Image.open(io.BytesIO(image.encoded_image_string)) as png:
        pixels = np.asarray(png.convert("RGB"))
    assert pixels.shape == (height, 2 * width, 3)
    for k, grid in enumerate(next(iter(entry.layers.values())).grids):  # each grid as drawn, at its place
        h, w = grid.indices.shape
        assert np.array_equal(pixels[:h, k * width : k * width + w], grid.rgb)
