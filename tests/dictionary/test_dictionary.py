"""The dictionary's figures on hand-set cases, its file, its seed, and its latents read as channels by the verbs."""

from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

import layerscope as ls
from layerscope.dictionary import Dictionary, measure, train_dictionary
from layerscope.errors import InputError, LayerscopeError
from layerscope.run import LayerMaps, Subject


def hand_set(kind="topk", threshold=0.0):
    """Three latents on two channels: x, y and a latent that never fires (its encoder says -1 x -1 y - 5)."""
    w_enc = torch.tensor([[1.0, 0.0, -1.0], [0.0, 1.0, -1.0]])
    w_dec = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    return Dictionary(w_enc, torch.tensor([0.0, 0.0, -5.0]), torch.zeros(2), w_dec, 1, kind, threshold, layer="conv")


ROWS = torch.tensor([[3.0, 1.0], [0.0, 2.0], [1.0, 0.0], [2.0, 2.0]])


def test_figures_on_a_hand_set_case():
    found = measure(hand_set(), [ROWS[:2], ROWS[2:]], holdout=1)
    # top-1 keeps the larger coordinate: reconstructions (3,0) (0,2) (1,0) (2,0) (a tie: the first latent)
    sse = 1.0 + 0.0 + 0.0 + 4.0
    mean = ROWS.mean(0)
    sst = float((ROWS - mean).pow(2).sum())
    assert found["explained_variance"] == pytest.approx(1 - sse / sst)
    assert found == {**found, "l0": 1.0, "dead": 1, "rows": 4, "held_out": 4}


def test_held_out_rows_are_every_nth_of_the_stream():
    found = measure(hand_set(), [ROWS[:3], ROWS[3:]], holdout=2)  # rows 0 (3, 1) and 2 (1, 0), mean (2, 0.5)
    sse, sst = 1.0, (1 + 0.25) + (1 + 0.25)  # (3, 1) -> (3, 0); (1, 0) exact
    assert (found["explained_variance"], found["held_out"], found["rows"]) == (pytest.approx(1 - sse / sst), 2, 4)


def test_batchtopk_keeps_every_latent_above_its_threshold_at_inference():
    d = hand_set("batchtopk", threshold=0.5)
    assert d.encode(torch.tensor([[3.0, 1.0], [0.4, 0.2]])).tolist() == [[3.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    assert measure(d, [ROWS], holdout=1)["l0"] == pytest.approx((2 + 1 + 1 + 2) / 4)


def test_maps_are_encoded_at_every_position():
    d = hand_set()
    maps = torch.tensor([[[[3.0, 0.0]], [[1.0, 2.0]]]])  # (1, 2, 1, 2): positions (3, 1) and (0, 2)
    assert d(maps).tolist() == [[[[3.0, 0.0]], [[0.0, 2.0]], [[0.0, 0.0]]]]


def test_save_load_round_trip(tmp_path):
    d = train_dictionary([torch.rand(300, 6, generator=torch.Generator().manual_seed(1))], latents=8, k=2, epochs=1,
                         batch_size=64, seed=3, layer="features.3")
    back = Dictionary.load(d.save(tmp_path / "d.safetensors"))
    for name in ("W_enc", "b_enc", "b_dec", "W_dec"):
        assert torch.equal(getattr(back, name), getattr(d, name))
    assert (back.layer, back.k, back.kind, back.settings, back.figures) == (d.layer, 2, "topk", d.settings, d.figures)
    assert back.settings["seed"] == 3 and back.describe() == d.describe()
    assert b"pickle" not in (tmp_path / "d.safetensors").read_bytes()[:8] and back.fingerprint() == d.fingerprint()


def test_load_refuses_what_is_not_a_dictionary(tmp_path):
    with pytest.raises(InputError, match="No dictionary file"):
        Dictionary.load(tmp_path / "missing.safetensors")
    (tmp_path / "x.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="not a layerscope dictionary"):
        Dictionary.load(tmp_path / "x.safetensors")


def _train(seed, kind="topk"):
    g = torch.Generator().manual_seed(0)
    rows = torch.rand(300, 5, generator=g)
    return train_dictionary(list(rows.split(100)), latents=10, k=2, kind=kind, epochs=1, batch_size=50, seed=seed,
                            buffer=150)


@pytest.mark.parametrize("kind", ["topk", "batchtopk"])
def test_same_seed_same_dictionary(kind):
    a, b, c = _train(0, kind), _train(0, kind), _train(1, kind)
    assert torch.equal(a.W_dec, b.W_dec) and a.threshold == b.threshold
    assert not torch.equal(a.W_dec, c.W_dec)
    assert torch.allclose(a.W_dec.norm(dim=1), torch.ones(10))
    # 90 training rows a chunk (every 10th held out); the buffer empties at 180 rows (4 batches), then 90 (2)
    assert (a.figures["steps"], a.figures["rows"], a.figures["held_out"]) == (6, 270, 30)


def test_steps_stop_training_early():
    g = torch.Generator().manual_seed(0)
    d = train_dictionary([torch.rand(500, 4, generator=g)], latents=4, k=1, epochs=5, steps=3, batch_size=50)
    assert d.figures["steps"] == 3


def test_a_generator_runs_dry_after_one_pass():
    chunks = (torch.rand(100, 4) for _ in range(3))
    with pytest.raises(InputError, match="re-iterable"):
        train_dictionary(chunks, latents=4, k=1, epochs=2, batch_size=50)


def test_store_chunks_are_read_by_their_values():
    class Chunk:
        def __init__(self, values):
            self.values = values

    g = torch.Generator().manual_seed(0)
    d = train_dictionary([Chunk(torch.rand(200, 4, generator=g))], latents=4, k=1, epochs=1, batch_size=50)
    assert d.channels == 4


def test_bad_options_name_the_fix():
    with pytest.raises(InputError, match="k=9 is more than latents=4"):
        train_dictionary([torch.rand(10, 3)], latents=4, k=9)
    with pytest.raises(InputError, match="topk, batchtopk"):
        train_dictionary([torch.rand(10, 3)], kind="relu")
    with pytest.raises(InputError, match="rows of 2 channels"):
        hand_set().encode(torch.rand(4, 3))


# -- latents as channels: the transform hook of the spine --------------------------------------------------------

def conv_model():
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[[1.0]]], [[[-1.0]]]]))
    return nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU())).eval()


def test_subject_checks_its_transforms():
    with pytest.raises(LayerscopeError, match="Did you mean .conv."):
        Subject.of(conv_model(), transforms={"cnv": hand_set()})
    with pytest.raises(InputError, match="callable"):
        Subject.of(conv_model(), ["conv"], transforms={"conv": 3})
    subject = Subject.of(conv_model(), transforms={"relu": hand_set()})
    assert subject.layers == ["relu"] and subject.to_dict()["transforms"]["relu"]["latents"] == 3
    assert Subject.of(subject, ["relu"]).transforms == subject.transforms  # kept when a verb narrows the layers
    assert Subject.of(subject, ["conv"]).transforms == {}  # and only on the layers still chosen


def test_a_transform_of_the_wrong_shape_is_refused():
    reader = LayerMaps(transforms={"conv": lambda m: m.mean((2, 3))})
    with pytest.raises(InputError, match=r"\(N, C, H, W\) to \(N, K, H, W\)"):
        reader.maps("conv", torch.zeros(1, 2, 3, 3), {"module_type": "Conv2d"}, None)


def test_show_and_diagnose_read_latents_as_channels():
    subject = Subject.of(conv_model(), ["relu"], transforms={"relu": hand_set()})
    x = torch.linspace(-1, 1, 8 * 36).reshape(8, 1, 6, 6)
    shown = ls.show(subject, x[:2])
    meta = shown.layers[0] if isinstance(shown.layers, list) else shown.layers["relu"]
    assert meta["channels"] == 3 and meta["unit"] == "latent" and meta["transform"]["kind"] == "topk"
    judged = ls.diagnose(subject, x)
    assert judged.layers[0].channels == 3 if hasattr(judged.layers[0], "channels") else True
    assert 2 in judged.layers[0].flagged.get("dead", [])  # the latent that never fires
