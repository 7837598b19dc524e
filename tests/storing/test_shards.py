"""Shards of a dump merge like the scan's: two shards merged hold the rows of one run, in a defined order
(shard by shard); `layerscope merge` dispatches stores to the store's merge; torchrun ranks equal one process."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

import layerscope as ls
from layerscope.cli import main

from .conftest import ENV, IMAGES, SCAN_MODEL


def model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3), nn.Flatten(), nn.Linear(3 * 4 * 4, 5))


DATA = torch.randn(13, 1, 8, 8, generator=torch.Generator().manual_seed(1))
LAYERS = ["1", "4"]


def rows(store, layer: str) -> dict[tuple, torch.Tensor]:
    """Every row by (image, y, x)."""
    out = {}
    for chunk in store[layer]:
        for v, i, y, x in zip(chunk.values, chunk.image.tolist(), chunk.y.tolist(), chunk.x.tolist()):
            assert (i, y, x) not in out
            out[(i, y, x)] = v
    return out


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "store"
    return ls.dump(model(), DATA, layers=LAYERS, out=out, positions=6, seed=2, batch_size=1, progress=False)


def test_two_shards_merged_equal_one_run(one_run, tmp_path):
    parts = [ls.dump(model(), DATA, layers=LAYERS, out=tmp_path / f"part{i}", shard=f"{i}/2", positions=6, seed=2,
                     batch_size=1, save_every=3, progress=False) for i in (0, 1)]
    assert main(["merge", str(tmp_path / "part1"), str(tmp_path / "part0"), "--out", str(tmp_path / "whole")]) == 0
    merged = ls.load_activations(tmp_path / "whole")
    assert merged.meta["shards"] == [[0, 2], [1, 2]] and merged.meta["whole"] and merged.meta["inputs"] == 13
    for layer in LAYERS:
        assert len(merged[layer]) == len(one_run[layer])
        mine, theirs = rows(merged, layer), rows(one_run, layer)
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs)
        order = torch.cat([c.image for c in merged[layer]]).tolist()  # shard 0's inputs, then shard 1's
        assert order == [i for part in parts for c in part[layer] for i in c.image.tolist()]
        assert list(dict.fromkeys(order)) == [0, 2, 4, 6, 8, 10, 12, 1, 3, 5, 7, 9, 11]
    assert merged.sources == one_run.sources
    assert {k: v["rows"] for k, v in merged.meta["layers"].items()} == {k: v["rows"] for k, v in one_run.meta["layers"].items()}
    assert sorted(p.name for p in (tmp_path / "whole" / "parts").iterdir()) == sorted(
        p.name for i in (0, 1) for p in (tmp_path / f"part{i}" / "parts").iterdir())


def test_merge_refuses_overlaps_other_dumps_and_unfinished_parts(tmp_path, capsys):
    common = dict(layers=LAYERS, batch_size=4, progress=False)
    ls.dump(model(), DATA, out=tmp_path / "a", shard="0/2", **common)
    ls.dump(model(), DATA, out=tmp_path / "b", shard="0/4", **common)
    ls.dump(model(), DATA, out=tmp_path / "c", shard="1/2", dtype="float32", **common)
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m")]) == 2
    assert "their shards overlap" in capsys.readouterr().err
    assert main(["merge", str(tmp_path / "a"), str(tmp_path / "c"), "--out", str(tmp_path / "m")]) == 2
    assert "they differ in the dtype: 'float16' vs 'float32'" in capsys.readouterr().err
    with pytest.raises(RuntimeError):
        ls.dump(model(), _Broken(), out=tmp_path / "d", shard="1/2", **common)
    with pytest.raises(ls.InputError, match="is not complete .* running its dump command again"):
        ls.storing.merge_stores([tmp_path / "a", tmp_path / "d"], tmp_path / "m")


class _Broken(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 13

    def __getitem__(self, i: int):
        if i > 6:
            raise RuntimeError("gone")
        return DATA[i]


def test_the_cli_dumps_and_says_what_it_stored(tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(5):
        Image.fromarray((DATA[i, 0].abs() * 60).clamp(0, 255).byte().numpy()).save(folder / f"d{i}.png")
    assert main(["dump", "builtin:digits", str(folder), "--layers", "conv2,fc1", "--out", str(tmp_path / "s"),
                 "--positions", "4", "--dtype", "float32", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "conv2: 20 rows x" in out and "fc1: 5 rows x" in out
    store = ls.load_activations(tmp_path / "s", layer="conv2")
    assert store.meta["model"]["spec"] == "builtin:digits" and store.meta["preprocessing"]["input_size"] == [28, 28]
    assert store.sources[0][0].endswith("d0.png")
    assert main(["dump", "builtin:digits", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "x")]) == 2
    assert main(["dump", "builtin:digits", str(folder), "--out", str(tmp_path / "x"), "--shard", "2/2"]) == 2
    assert "is not a shard" in capsys.readouterr().err
    assert main(["dump", "builtin:digits", str(folder), "--out", str(tmp_path / "x"), "--dtype", "int8"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="needs torchrun on PATH")
def test_torchrun_two_ranks_equal_one_process(photos, tmp_path):
    args = ["dump", *SCAN_MODEL, str(photos), "--layers", "layer1,fc", "--batch-size", "1", "--positions", "3"]
    one = subprocess.run([sys.executable, "-m", "layerscope", *args, "--out", str(tmp_path / "one")],
                         capture_output=True, text=True, timeout=600, env=ENV)
    assert one.returncode == 0, one.stderr
    done = subprocess.run(["torchrun", "--standalone", "--nproc_per_node=2", "--no-python", "layerscope", *args,
                           "--out", str(tmp_path / "two")], capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    merged, single = ls.load_activations(tmp_path / "two"), ls.load_activations(tmp_path / "one")
    assert merged.meta["shards"] == [[0, 2], [1, 2]] and merged.meta["inputs"] == single.meta["inputs"] == IMAGES
    assert sorted(p.name for p in (tmp_path / "two" / "shards").iterdir()) == ["shard-00000-of-00002",
                                                                              "shard-00001-of-00002"]
    for layer in ("layer1", "fc"):
        mine, theirs = rows(merged, layer), rows(single, layer)
        assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert done.stdout.count("dump of torchvision:resnet18") == 1  # rank 0 reports, once
