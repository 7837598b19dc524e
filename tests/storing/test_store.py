"""The store holds exactly what the model computed: float32 rows equal ls.capture's maps bit for bit, float16 rows
their .half(); positions are per-input and seeded, pooled rows are means, vectors one row per input; reading never
loads the whole store."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn as nn

import layerscope as ls
from layerscope.storing import draw_positions, load_activations


def planted() -> nn.Sequential:
    """Hand-set weights: channel 0 copies the pixel, channel 1 its negative plus 1, then a 2-vector head."""
    conv, head = nn.Conv2d(1, 2, 1), nn.Linear(2 * 4 * 4, 2)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, -1.0]).reshape(2, 1, 1, 1))
        conv.bias.copy_(torch.tensor([0.0, 1.0]))
        head.weight.zero_()
        head.weight[0, 0] = 1.0  # = pixel (0, 0) of channel 0
        head.bias.copy_(torch.tensor([0.0, 7.0]))
    return nn.Sequential(conv, nn.Flatten(), head).eval()


def every_row(acts) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    chunks = list(acts)
    return tuple(torch.cat([getattr(c, k) for c in chunks]) for k in ("values", "image", "y", "x"))


def rows_of(maps: torch.Tensor) -> torch.Tensor:
    """An independent layout of maps (N, C, H, W) as rows: for each image, y, x in order, the channel vector."""
    n, c, h, w = maps.shape
    return torch.stack([maps[i, :, y, x] for i in range(n) for y in range(h) for x in range(w)])


def test_hand_set_weights_give_literal_rows(tmp_path):
    data = torch.arange(2 * 16, dtype=torch.float32).reshape(2, 1, 4, 4)
    store = ls.dump(planted(), data, layers=["0", "2"], out=tmp_path / "s", dtype="float32", progress=False)
    values, image, y, x = every_row(store["0"])
    assert values[5].tolist() == [5.0, -4.0]  # image 0, y=1, x=1: pixel 5
    assert values[16 + 3].tolist() == [19.0, -18.0] and image[19] == 1 and (y[19], x[19]) == (0, 3)
    head = every_row(store["2"])
    assert head[0].tolist() == [[0.0, 7.0], [16.0, 7.0]] and head[2].tolist() == [-1, -1]


@pytest.fixture(scope="module")
def resnet_and_data():
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=10).eval(), torch.randn(6, 3, 32, 32)


LAYERS = ["layer1.0.relu", "layer3", "avgpool", "fc"]


def test_float32_dump_equals_capture_exactly(resnet_and_data, tmp_path):
    model, data = resnet_and_data
    captured = ls.capture(model, data, LAYERS)
    store = ls.dump(model, data, layers=LAYERS, out=tmp_path / "s", dtype="float32", batch_size=6, progress=False)
    for name in ["layer1.0.relu", "layer3", "avgpool"]:
        values, image, y, x = every_row(store[name])
        assert torch.equal(values, rows_of(captured[name])), name
        n, _, h, w = captured[name].shape
        assert image.tolist() == [i for i in range(n) for _ in range(h * w)]
    values, image, y, x = every_row(store["fc"])
    assert torch.equal(values, captured["fc"]) and (y == -1).all() and (x == -1).all()
    assert store.meta["layers"]["layer3"]["channels"] == 256 and store.meta["layers"]["layer3"]["shape"] == [256, 2, 2]
    assert store.meta["input_shape"] == [3, 32, 32] and store.meta["dtype"] == "float32"


def test_float16_is_the_half_of_the_capture(resnet_and_data, tmp_path):
    model, data = resnet_and_data
    captured = ls.capture(model, data, ["layer2"])
    store = load_activations(ls.dump(model, data, layers=["layer2"], out=tmp_path / "s", batch_size=6,
                                     progress=False).root)
    values = every_row(store)[0]
    assert store.meta["dtype"] == "float16"
    assert torch.equal(values, rows_of(captured["layer2"]).half().float())


def test_positions_are_k_per_image_seeded_and_pooled_rows_are_means(tmp_path):
    torch.manual_seed(0)
    model, data = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()), torch.randn(6, 3, 8, 8)
    captured = ls.capture(model, data, ["1"])["1"]  # 8x8 positions

    def store(name: str, **options):
        return ls.dump(model, data, layers=["1"], out=tmp_path / name, dtype="float32", progress=False, **options)

    a = store("a", positions=5, seed=3, batch_size=4)
    b, c = store("b", positions=5, seed=3, batch_size=3), store("c", positions=5, seed=4, batch_size=4)
    va, ia, ya, xa = every_row(a)
    assert len(a) == 6 * 5 and ia.tolist() == [i for i in range(6) for _ in range(5)]
    assert torch.equal(va, captured[ia, :, ya.long(), xa.long()])  # each row is the map at its position
    assert all(torch.equal(p, q) for p, q in zip(every_row(a)[1:], every_row(b)[1:]))  # batches do not matter
    assert not torch.equal(ya * 8 + xa, every_row(c)[2] * 8 + every_row(c)[3])  # the seed does
    for i in range(6):  # distinct, sorted positions, those draw_positions names
        where = (ya[ia == i] * 8 + xa[ia == i]).tolist()
        assert where == sorted(set(where)) == draw_positions(64, 5, 3, "1", i).tolist()
    values, image, y, x = every_row(store("p", pooled=True))
    assert torch.equal(values, captured.mean(dim=(2, 3))) and image.tolist() == list(range(6)) and (y == -1).all()


def test_reading_goes_part_by_part_and_the_dataset_gives_rows(tmp_path):
    data = torch.randn(9, 1, 5, 5)
    model = nn.Sequential(nn.Conv2d(1, 3, 3))
    store = ls.dump(model, data, out=tmp_path / "s", batch_size=2, save_every=2, dtype="float32", progress=False)
    index = json.loads((tmp_path / "s" / "index.json").read_text())
    assert [p["rows"]["0"] for p in index["parts"]] == [36, 36, 9] and index["complete"]
    assert [len(c) for c in store] == [36, 36, 9]
    assert [len(c) for c in store.chunks(rows=20)] == [20, 16, 20, 16, 9]
    rows = torch.cat([c.values for c in store])
    dataset = store.as_dataset()
    assert len(dataset) == 81 and torch.equal(dataset[40], rows[40]) and torch.equal(dataset[-1], rows[-1])
    loader = torch.utils.data.DataLoader(dataset, batch_size=81)
    assert torch.equal(next(iter(loader)), rows)
    assert sorted(store.sources) == list(range(9))


def test_labels_and_sources_come_from_the_data(tmp_path):
    data = torch.utils.data.TensorDataset(torch.randn(4, 1, 5, 5), torch.tensor([3, 1, 4, 1]))
    store = ls.dump(nn.Sequential(nn.Conv2d(1, 2, 3)), data, out=tmp_path / "s", pooled=True, progress=False)
    assert store.sources == {0: ["dataset[0]", 3], 1: ["dataset[1]", 1], 2: ["dataset[2]", 4], 3: ["dataset[3]", 1]}


def test_mistakes_say_what_to_do(tmp_path):
    model, data = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), torch.randn(3, 1, 5, 5)
    with pytest.raises(ls.InputError, match="needs a folder"):
        ls.dump(model, data)
    with pytest.raises(ls.InputError, match="float16, bfloat16 or float32"):
        ls.dump(model, data, out=tmp_path / "x", dtype="int8")
    with pytest.raises(ls.InputError, match="drop positions"):
        ls.dump(model, data, out=tmp_path / "x", pooled=True, positions=3)
    store = ls.dump(model, data, layers=["0", "1"], out=tmp_path / "s", progress=False)
    with pytest.raises(ls.InputError, match="holds the layers 0, 1; pick one"):
        len(store)
    with pytest.raises(ls.InputError, match="Unknown layer '2'"):
        load_activations(tmp_path / "s", layer="2")
    with pytest.raises(ls.InputError, match=r"another dump \(it differs in the dtype"):
        ls.dump(model, data, layers=["0", "1"], out=tmp_path / "s", dtype="float32", progress=False)
    again = ls.dump(model, data, layers=["0", "1"], out=tmp_path / "s", dtype="float32", overwrite=True, progress=False)
    assert again.meta["dtype"] == "float32"
    with pytest.raises(ls.InputError, match="no activation store here"):
        load_activations(tmp_path)
    ls.show(model, data[:1], out=tmp_path / "maps")
    with pytest.raises(ls.InputError, match="is not an activation store written by `layerscope dump`"):
        load_activations(tmp_path / "maps")


@pytest.mark.slow
def test_token_layers_are_rows_of_their_patch_grid_without_prefix_tokens(tmp_path):
    """A tiny ViT (4x4 patches + CLS): each block gives 16 rows per image, the patch tokens in grid order."""
    from tests.hf.tiny import PATCH, PREFIX, IMAGE, tiny

    model, data = tiny("dinov2_registers"), torch.randn(3, 3, IMAGE, IMAGE)
    grid = IMAGE // PATCH
    store = ls.dump(model, data, out=tmp_path / "s", dtype="float32", progress=False)
    layer = store.layers[-1]
    captured = ls.capture(model, data, [layer])[layer]  # (N, prefix + grid * grid, D)
    values, image, y, x = every_row(store[layer])
    assert len(values) == 3 * grid * grid and store[layer].channels == captured.shape[-1]
    assert torch.equal(values, captured[:, PREFIX["dinov2_registers"]:].reshape(-1, captured.shape[-1]))
    assert (y * grid + x).tolist() == list(range(grid * grid)) * 3
    assert any("register" in note for note in store.meta["layers"][layer]["notes"])
