"""Shards and merges: any split into shards merged in any order equals one pass; a merge's bytes do not depend
on the order of its parts; parts that do not belong together are refused with what differs."""

import itertools

import pytest
import torch

import layerscope as ls
from layerscope.scanning.state import read_state

from .compare import assert_same_result
from .planted import PREPROCESSING, planted_model, write_dataset

OPTIONS = dict(layers=["0", "3"], k=4, batch_size=1, preprocessing=PREPROCESSING, progress=False)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("merge") / "data", count=14)


@pytest.fixture(scope="module")
def one_pass(data, tmp_path_factory):
    return ls.scan(planted_model(), data, out=tmp_path_factory.mktemp("one"), **OPTIONS)


@pytest.mark.parametrize("shards", [["0/2", "1/2"], ["0/3", "1/3", "2/3"], ["0/2", "1/4", "3/4"]])
def test_shards_merged_in_any_order_equal_one_pass(data, one_pass, tmp_path, shards):
    parts = [tmp_path / f"part{i}" for i in range(len(shards))]
    for part, shard in zip(parts, shards):
        ls.scan(planted_model(), data, out=part, shard=shard, **OPTIONS)
    outputs = []
    for n, order in enumerate(itertools.permutations(parts)):
        merged = ls.scanning.merge(order, tmp_path / f"merged{n}")
        assert merged.whole and merged.shards == sorted(shards, key=lambda s: (int(s.split("/")[1]), s))
        assert_same_result(merged, one_pass)
        outputs.append((tmp_path / f"merged{n}" / "stats.safetensors").read_bytes())
    assert len(set(outputs)) == 1


def test_a_partial_merge_says_which_shards_it_covers(data, tmp_path):
    for shard in ("0/3", "2/3"):
        ls.scan(planted_model(), data, out=tmp_path / shard.replace("/", "of"), shard=shard, **OPTIONS)
    merged = ls.scanning.merge([tmp_path / "0of3", tmp_path / "2of3"], tmp_path / "merged")
    assert not merged.whole and merged.shards == ["0/3", "2/3"] and merged.inputs == 5 + 4


def _other_model():
    model = planted_model()
    with torch.no_grad():
        model[0].bias[0] += 0.5
    return model


@pytest.mark.parametrize("change, message", [
    (dict(model=_other_model()), r"the model \(spec and weights\): <Sequential module> \(weights \w+\) vs"),
    (dict(layers=["0"]), r"the layers: 0, 3 vs 0"),
    (dict(preprocessing=ls.Preprocessing(None, None, (0.5,), (1.0,), 1)), "the preprocessing"),
    (dict(k=3), "the top-k size: 4 vs 3"),
    (dict(edges=[-1.0, 0.0, 1.0]), "the peak histogram's bin edges"),
])
def test_parts_of_another_scan_are_refused_with_what_differs(data, tmp_path, change, message):
    ls.scan(planted_model(), data, out=tmp_path / "a", shard="0/2", **OPTIONS)
    options = {**OPTIONS, **{k: v for k, v in change.items() if k != "model"}}
    ls.scan(change.get("model", planted_model()), data, out=tmp_path / "b", shard="1/2", **options)
    with pytest.raises(ls.InputError, match=f"Cannot merge .*a and .*b: they differ in {message}"):
        ls.scanning.merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")


def test_other_data_is_refused(data, tmp_path):
    other = write_dataset(tmp_path / "other", count=15)
    ls.scan(planted_model(), data, out=tmp_path / "a", shard="0/2", **OPTIONS)
    ls.scan(planted_model(), other, out=tmp_path / "b", shard="1/2", **OPTIONS)
    with pytest.raises(ls.InputError, match=r"they differ in the data \(its listing\)"):
        ls.scanning.merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")


def test_overlapping_and_unfinished_parts_are_refused(data, tmp_path):
    ls.scan(planted_model(), data, out=tmp_path / "a", shard="0/2", **OPTIONS)
    ls.scan(planted_model(), data, out=tmp_path / "b", shard="2/4", **OPTIONS)
    with pytest.raises(ls.InputError, match=r"\(shard 0/2\) and .*b \(shard 2/4\): their shards overlap"):
        ls.scanning.merge([tmp_path / "a", tmp_path / "b"], tmp_path / "merged")
    state = read_state(tmp_path / "b")
    state.meta["complete"] = False
    from layerscope.scanning.state import write_state

    write_state(state, tmp_path / "b" / "stats.safetensors")
    with pytest.raises(ls.InputError, match=r"b is not complete .* finish it by running its scan command again"):
        ls.scanning.merge([tmp_path / "b", tmp_path / "a"], tmp_path / "merged")


def test_a_merge_never_replaces_a_file_that_is_not_a_scan_or_one_of_its_parts(data, tmp_path):
    for shard in ("0/2", "1/2"):
        ls.scan(planted_model(), data, out=tmp_path / shard[0], shard=shard, **OPTIONS)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "stats.safetensors").write_bytes(b"my own data")
    with pytest.raises(ls.InputError, match="is not a layerscope scan state"):
        ls.scanning.merge([tmp_path / "0", tmp_path / "1"], tmp_path / "mine")
    assert (tmp_path / "mine" / "stats.safetensors").read_bytes() == b"my own data"
    with pytest.raises(ls.InputError, match="is one of the parts; write the merge to a new folder"):
        ls.scanning.merge([tmp_path / "0", tmp_path / "1"], tmp_path / "0")


def test_a_scan_into_a_folder_of_another_scan_is_refused_unless_overwrite(data, tmp_path):
    ls.scan(planted_model(), data, out=tmp_path, **OPTIONS)
    with pytest.raises(ls.InputError, match=r"holds another scan \(it differs in the top-k size: 4 vs 2.*--overwrite"):
        ls.scan(planted_model(), data, out=tmp_path, **{**OPTIONS, "k": 2})
    assert ls.scan(planted_model(), data, out=tmp_path, overwrite=True, **{**OPTIONS, "k": 2})["0"].top.index.shape == (3, 2)


def test_shard_specs_are_checked():
    with pytest.raises(ls.InputError, match=r"--shard '2of3' is not i/N; write e.g. --shard 0/4"):
        ls.scanning.Shard.parse("2of3")
    with pytest.raises(ls.InputError, match="Shard 3/3 is not a shard: write i/N with 0 <= i < N"):
        ls.scanning.Shard.parse("3/3")
