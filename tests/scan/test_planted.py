"""The planted dataset: the top-k of the pattern channel are exactly the images that carry the pattern, in
order of contrast, with the argmax inside the pattern and a receptive box covering it; crops reproduce the
stored values and report a changed file; the dead and the rare channel are found."""

import numpy as np
import pytest
from PIL import Image

import layerscope as ls
from layerscope.scanning.findings import dataset_findings

from .planted import BRIGHT, COUNT, PATTERN, PLANTED, PREPROCESSING, image, planted_model, write_dataset

STRONGEST_FIRST = sorted(PLANTED, key=lambda i: -PLANTED[i][2])


@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    data = write_dataset(root / "images")
    model = planted_model()
    stats = ls.scan(model, data, ["0", "3"], out=root / "scan", k=len(PLANTED), batch_size=4,
                    preprocessing=PREPROCESSING, progress=False)
    return stats, model, data


def test_top_k_are_exactly_the_planted_images_strongest_first(scanned):
    stats, _, _ = scanned
    entries = stats.top("0", 0)
    assert [e.index for e in entries] == STRONGEST_FIRST
    assert [e.source.rsplit("/", 1)[-1] for e in entries] == [f"img_{i:03d}.png" for i in STRONGEST_FIRST]


@pytest.mark.parametrize("rank", range(len(PLANTED)))
def test_argmax_is_the_pattern_and_its_receptive_box_is_the_pattern(scanned, rank):
    entry = scanned[0].top("0", 0)[rank]
    row, col, _ = PLANTED[entry.index]
    assert entry.position == (row, col)  # a valid 5x5 conv: output (r, c) sees input rows r..r+4, cols c..c+4
    assert entry.box == (col, row, col + 5, row + 5)


def test_deeper_layer_boxes_cover_the_pattern(scanned):
    stats = scanned[0]
    assert stats["3"].receptive.method == "geometry" and stats["3"].receptive.size == (10, 10)  # 5, pool 2, 3x3
    planted = [e for e in stats.top("3", 0) if e.index in PLANTED]
    assert [e.index for e in planted][:3] == STRONGEST_FIRST[:3]  # (the white square's edges rank too)
    for entry in planted:
        row, col, _ = PLANTED[entry.index]
        x0, y0, x1, y1 = entry.box
        assert x0 <= col and y0 <= row and x1 >= col + 5 and y1 >= row + 5


@pytest.mark.parametrize("rank", [0, 4])
def test_crops_reproduce_the_stored_value_and_cut_the_pattern(scanned, rank):
    stats, model, _ = scanned
    crop = stats.crop("0", 0, rank, model=model)
    index = crop.entry.index
    row, col, _ = PLANTED[index]
    assert crop.matches and "reproduced" in crop.message
    assert crop.value == pytest.approx(crop.stored, rel=1e-6)
    np.testing.assert_array_equal(crop.image[..., 0], image(index)[row : row + 5, col : col + 5])


def test_a_changed_file_is_reported_as_a_mismatch(scanned, tmp_path):
    stats, model, data = scanned
    victim = stats.top("0", 0)[1]
    original = Image.open(victim.source).copy()
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(victim.source)
    try:
        crop = stats.crop("0", 0, 1, model=model)
    finally:
        original.save(victim.source)
    assert not crop.matches and "MISMATCH: the scan stored max 6.7" in crop.message and abs(crop.value) < 1e-5


def test_another_model_is_refused_for_crops(scanned):
    with pytest.raises(ls.InputError, match="weights differ from the scanned model"):
        scanned[0].crop("0", 0, model=planted_model().requires_grad_(False).apply(_perturb))


def _perturb(module):
    if hasattr(module, "bias") and module.bias is not None:
        module.bias.data += 1.0


def test_dead_and_rare_channels_are_found_with_their_evidence(scanned):
    found = dataset_findings(scanned[0], rare=0.05)
    layer = found.layers[0]
    assert layer.layer == "0" and layer.inputs == COUNT
    assert layer.dead == [1] and layer.rare == [2] and layer.shares == {2: 1 / COUNT}
    assert scanned[0].top("0", 2)[0].index == BRIGHT
    assert f"dead 1 (never active on any of {COUNT} inputs): 1" in found.summary()


def test_statistics_equal_a_direct_computation(scanned):
    stats, model, _ = scanned
    import torch

    x = torch.stack([PREPROCESSING(Image.fromarray(image(i))) for i in range(COUNT)])
    with torch.no_grad():
        conv = model[0](x).double()
    layer = stats["0"]
    np.testing.assert_allclose(layer.mean, conv.mean((0, 2, 3)).numpy(), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(layer.max, conv.amax((0, 2, 3)).numpy(), rtol=1e-6)
    assert layer.count.tolist() == [COUNT * 28 * 28] * 3
    assert PATTERN.shape == (5, 5)


def test_report_examples_are_the_checked_crops_of_the_top_inputs(scanned):
    stats, model, _ = scanned
    examples = stats.report_examples(["0", "missing"], channels=1, k=3, model=model)
    assert list(examples) == ["0"] and list(examples["0"]) == [0]
    shown = examples["0"][0]
    assert [e.caption for e in shown] == [f"#{r + 1} img_{i:03d}.png" for r, i in enumerate(STRONGEST_FIRST[:3])]
    for rank, example in enumerate(shown):
        crop = stats.crop("0", 0, rank, model=model)  # one input at a time: the independent path
        np.testing.assert_array_equal(example.image, crop.image[..., 0])
        assert example.score == crop.stored


def test_report_examples_name_a_mismatch_in_the_caption(scanned):
    stats, model, _ = scanned
    victim = stats.top("0", 0)[0]
    original = Image.open(victim.source).copy()
    Image.fromarray(np.full((32, 32), 128, np.uint8)).save(victim.source)
    try:
        shown = stats.report_examples(["0"], channels=1, k=2, model=model)["0"][0]
    finally:
        original.save(victim.source)
    assert shown[0].caption.endswith("MISMATCH: changed since the scan")
    assert "MISMATCH" not in shown[1].caption
