"""What a scan reads: Datasets, DataLoaders (re-batched by index, or read in order), iterables with labels,
tensors, video frames; bad images skipped with their reason or fatal with --strict; one input size."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, IterableDataset

import layerscope as ls
from layerscope.io.shard import Shard
from layerscope.io.inputs import resolve_source

from .planted import PREPROCESSING, image, planted_model, write_dataset


class Pictures(Dataset):
    """(PIL image, label) items, as torchvision datasets give them, with class names."""

    classes = ["even", "odd"]

    def __len__(self):
        return 9

    def __getitem__(self, index):
        return Image.fromarray(image(index)), index % 2


def indices(source, shard=Shard(), batch_size=4, workers=0):
    return [b.index.tolist() for b in source.batches(shard, start=0, batch_size=batch_size, workers=workers)]


def test_a_dataset_of_pil_images_and_labels(tmp_path):
    stats = ls.scan(planted_model(), Pictures(), ["0"], out=tmp_path, k=2, preprocessing=PREPROCESSING, progress=False)
    assert (stats.inputs, stats.data["kind"], stats.data["classes"]) == (9, "dataset", ["even", "odd"])
    entry = stats.top("0", 0)[0]
    assert (entry.source, entry.label, entry.class_name) == ("dataset[4]", 0, "even")  # image 4 carries the pattern


def test_a_dataloader_with_the_default_collate_is_rebatched_by_index_with_workers():
    loader = DataLoader(Pictures(), batch_size=3, shuffle=True, num_workers=0)
    source = resolve_source(loader, PREPROCESSING)
    assert source.kind == "dataset"
    assert indices(source, Shard(1, 2), batch_size=2, workers=2) == indices(source, Shard(1, 2), batch_size=2) == [
        [1, 3], [5, 7]]


def test_a_dataloader_with_its_own_collate_is_read_in_order_with_labels():
    loader = DataLoader(Pictures(), batch_size=4, collate_fn=lambda items: (
        torch.stack([PREPROCESSING(x) for x, _ in items]), torch.tensor([y for _, y in items])))
    source = resolve_source(loader, PREPROCESSING)
    batches = list(source.batches(Shard(0, 3), start=1, batch_size=2))
    assert source.kind == "iterable" and source.size == 9
    assert [(b.index.tolist(), b.labels) for b in batches] == [([6], [0])]  # shard 0/3: 0, 3, 6; batch 1


def test_a_generator_of_dicts_and_an_iterable_dataset():
    def batches():
        yield {"pixel_values": torch.zeros(2, 1, 4, 4), "labels": torch.tensor([5, 6])}
        yield {"pixel_values": torch.ones(1, 1, 4, 4), "labels": torch.tensor([7])}

    source = resolve_source(batches(), None)
    assert [(b.index.tolist(), b.labels) for b in source.batches(Shard(), 0, 8)] == [([0, 1, 2], [5, 6, 7])]

    class Stream(IterableDataset):
        def __iter__(self):
            return iter(torch.arange(5.0).reshape(5, 1, 1, 1))

    assert indices(resolve_source(Stream(), None), batch_size=2) == [[0, 1], [2, 3], [4]]


def test_tensor_rows_are_batched_by_shard_position():
    source = resolve_source(torch.zeros(10, 2, 3, 3), None)
    assert indices(source, Shard(2, 3), batch_size=2) == [[2, 5], [8]]
    assert [b.index.tolist() for b in source.batches(Shard(2, 3), start=1, batch_size=2)] == [[8]]


def test_unreadable_images_are_skipped_listed_and_counted(tmp_path):
    data = write_dataset(tmp_path / "data", count=6)
    (data / "img_002.png").write_bytes(b"\x89PNG broken")
    (data / "img_004.png").write_bytes(b"")
    stats = ls.scan(planted_model(), data, ["0"], out=tmp_path / "out", preprocessing=PREPROCESSING, progress=False)
    assert stats.inputs == 4
    assert [(i, s.rsplit("/", 1)[-1]) for i, s, _ in stats.skipped] == [(2, "img_002.png"), (4, "img_004.png")]
    assert all("not a readable image" in reason for _, _, reason in stats.skipped)
    with pytest.raises(ls.ImageError, match=r"img_002.png: not a readable image .*--strict stops at the first"):
        ls.scan(planted_model(), data, ["0"], out=tmp_path / "strict", preprocessing=PREPROCESSING, strict=True,
                progress=False)


def test_inputs_of_different_sizes_are_refused_with_the_fix(tmp_path):
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((24, 20), np.uint8)).save(tmp_path / "b.png")
    free = ls.Preprocessing(resize=None, crop=None, mean=(0.0,), std=(1.0,), channels=1)
    with pytest.raises(ls.InputError, match=r"different shapes after preprocessing .*set it \(--size N"):
        ls.scan(planted_model(), tmp_path, ["0"], out=tmp_path / "out", preprocessing=free, progress=False)


def test_things_that_are_not_data_are_refused_with_what_is_taken():
    with pytest.raises(ls.InputError, match="Cannot read a int as inputs: give image files, folders"):
        resolve_source(3, None)


def _write_video(path, frames: int, bright: int) -> None:
    av = pytest.importorskip("av")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "rgb24" if "rgb24" in [f.name for f in stream.codec_context.codec.video_formats or []] else "yuv444p"
        for n in range(frames):
            pixels = np.full((32, 32, 3), 40, np.uint8)
            if n == bright:
                pixels[8:16, 8:16] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_video_frames_are_inputs_and_crops_decode_them_again(tmp_path):
    video = tmp_path / "clip.mkv"
    _write_video(video, frames=12, bright=7)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 1, 3))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[0].bias.zero_()
    pre = ls.Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    stats = ls.scan(model, video, ["0"], out=tmp_path / "out", k=2, batch_size=5, preprocessing=pre, progress=False)
    best = stats.top("0", 0)[0]
    assert (stats.inputs, stats.data["kind"], stats.data["size"]) == (12, "video", 12)
    assert best.index == 7 and best.source == f"{video}#frame=7"
    crop = stats.crop("0", 0, model=model)
    assert crop.matches and crop.image.shape == (3, 3, 3)
    shard = ls.scan(model, video, ["0"], out=tmp_path / "shard", shard="1/3", preprocessing=pre, progress=False)
    assert shard.inputs == 4 and shard.shards == ["1/3"]


def test_the_scan_leaves_a_module_where_it_is_and_prints_nothing(tmp_path, capsys):
    model = planted_model()
    before = {name: (p.device, p.data_ptr()) for name, p in model.named_parameters()}
    data = torch.rand(6, 1, 20, 20)
    stats = ls.scan(model, data, ["0"], out=tmp_path / "a", device="cpu", progress=False)
    ls.scan(model, data, ["0"], out=tmp_path / "a", device="cpu", progress=False)  # finished: it loads, it logs
    assert stats.inputs == 6 and {name: (p.device, p.data_ptr()) for name, p in model.named_parameters()} == before
    assert capsys.readouterr() == ("", "")


def test_a_module_elsewhere_is_not_moved_behind_the_users_back(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA (the module stays on the CPU and cuda is asked for)")
    with pytest.raises(ls.InputError, match=r"does not move a model you pass .*Move it first"):
        ls.scan(planted_model(), torch.rand(6, 1, 20, 20), out=tmp_path, device="cuda", progress=False)


def test_options_objects_and_keywords_are_one(tmp_path):
    from layerscope.run import OutputOptions, RunOptions
    from layerscope.scanning import ScanOptions

    data = torch.rand(7, 1, 20, 20)
    keywords = ls.scan(planted_model(), data, ["0"], out=tmp_path / "k", k=2, batch_size=3, progress=False)
    objects = ls.scan(ls.run.Subject.of(planted_model(), ["0"]), data, None, ScanOptions(k=2),
                      run=RunOptions(batch_size=3, progress=False), output=OutputOptions(out=tmp_path / "o"))
    assert keywords.meta["batch_size"] == objects.meta["batch_size"] == 3
    assert (keywords["0"].top.index == objects["0"].top.index).all()
    with pytest.raises(ls.InputError, match=r"unknown keyword 'btch_size'.*Did you mean 'batch_size'"):
        ls.scan(planted_model(), data, out=tmp_path / "x", btch_size=2)
