import gc
import weakref

import pytest
import torch
import torch.nn as nn
import torchvision

from layerscope import Recorder, capture
from layerscope.errors import InputError

from .models import (
    CONV_ON_RAMP,
    DictOut,
    Exploding,
    InplaceNet,
    SharedReLU,
    Structured,
    hand_conv,
    ramp_input,
)


def _no_hooks_left(model: nn.Module) -> None:
    for name, module in model.named_modules():
        assert not module._forward_hooks, name
        assert not module._forward_pre_hooks, name
        assert not module._backward_hooks, name


def _state(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_hand_set_conv_gives_literal_values():
    acts = capture(nn.Sequential(hand_conv()), ramp_input())
    assert torch.equal(acts["0"], CONV_ON_RAMP)
    assert acts.info["0"].module_type == "Conv2d"
    assert acts.describe("0")["shape"] == [1, 2, 2, 2] and acts.info["0"].call_index == 0


def test_inplace_relu_and_iadd_do_not_reach_the_capture():
    model = InplaceNet().eval()
    acts = capture(model, ramp_input(), ["conv", "bn", "relu"])
    assert torch.equal(acts["conv"], CONV_ON_RAMP)
    expected_bn = model.bn(CONV_ON_RAMP)
    assert torch.equal(acts["bn"], expected_bn)  # before `+= 100`
    assert torch.equal(acts["relu"], torch.relu(expected_bn + 100))
    assert acts.protected == {"bn"}


def test_shared_module_gets_one_entry_per_call():
    acts = capture(SharedReLU(), torch.tensor([[-2.0, 0.5, 3.0]]), ["relu"])
    assert list(acts) == ["relu", "relu#1"]
    assert torch.equal(acts["relu"], torch.tensor([[0.0, 0.5, 3.0]]))
    assert torch.equal(acts["relu#1"], torch.tensor([[0.0, 0.0, 2.0]]))
    assert [acts.info[k].call_index for k in acts] == [0, 1]


def test_structured_outputs_are_flattened_to_named_leaves():
    x = torch.ones(1, 1, 2, 2)
    acts = capture(Structured(), x, ["split", "named", "head"])
    assert list(acts) == ["split:0", "split:1", "named:low", "named:high", "head:logits"]
    assert torch.equal(acts["named:high"], x * 2 + 1)
    assert acts.info["head:logits"].skipped == (":note",)
    assert acts.skipped == {"head": (":note",)}


def test_dict_outputs_skip_non_tensor_leaves():
    acts = capture(DictOut(), torch.ones(1, 2), ["block"])
    assert list(acts) == ["block:out", "block:aux:0"]
    assert acts.skipped["block"] == (":count",)


def test_hooks_and_modes_restored_after_a_raising_forward():
    model = Exploding()
    model.train()
    model.conv.eval()
    before = _state(model)
    with pytest.raises(RuntimeError):
        capture(model, ramp_input(), "all")
    _no_hooks_left(model)
    assert model.training and not model.conv.training and model.bad.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_resnet_modes_parameters_and_buffers_unchanged():
    model = torchvision.models.resnet18(weights=None).train()
    before = _state(model)
    acts = capture(model, torch.randn(2, 3, 64, 64), "all")
    assert len(acts) > 40
    _no_hooks_left(model)
    assert all(m.training for m in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats included


def test_model_runs_in_eval_mode_during_capture():
    model = nn.Sequential(nn.Dropout(p=0.9)).train()
    x = torch.ones(1, 1000)
    assert torch.equal(capture(model, x, "0")["0"], x)
    assert model.training


def test_recorder_reuse_and_no_activation_outlives_its_use():
    model = nn.Sequential(hand_conv(), nn.ReLU())
    with Recorder(model, "convs") as rec:
        first = rec(ramp_input())
        second = rec(ramp_input() * 2)
        assert rec._call is None
        ref = weakref.ref(first["0"])
        del first
        gc.collect()
        assert ref() is None
        assert torch.equal(second["0"][0, 0], CONV_ON_RAMP[0, 0] * 2)
    _no_hooks_left(model)


def test_calling_the_model_directly_inside_the_block_records_nothing():
    model = nn.Sequential(hand_conv())
    with Recorder(model) as rec:
        model(ramp_input())
        assert rec._call is None
        assert len(rec(ramp_input())) == 1


def test_recorder_outside_its_block_is_an_input_error():
    rec = Recorder(nn.Sequential(hand_conv()))
    with pytest.raises(InputError, match="not active"):
        rec(ramp_input())


def test_offload_and_dtype():
    model = nn.Sequential(hand_conv(), nn.ReLU(inplace=True))
    acts = capture(model, ramp_input(), "0", dtype=torch.float64, offload="cpu")
    assert acts["0"].dtype == torch.float64
    assert torch.equal(acts["0"], CONV_ON_RAMP.double())


def test_inputs_are_cast_to_the_model_dtype():
    model = nn.Sequential(hand_conv()).double()
    acts = capture(model, ramp_input())
    assert acts["0"].dtype == torch.float64


def test_stop_early_skips_the_rest_of_the_forward():
    model = Exploding()  # would raise in `bad`, which runs after `conv`
    acts = capture(model, ramp_input(), "conv", stop_early=True)
    assert torch.equal(acts["conv"], CONV_ON_RAMP) and acts.output is None


def test_works_when_called_under_inference_mode():
    model = InplaceNet().eval()
    with torch.inference_mode():
        acts = capture(model, ramp_input(), ["conv", "bn"])
    assert torch.equal(acts["conv"], CONV_ON_RAMP)
    assert not acts["conv"].is_inference()


def test_tuple_and_dict_inputs():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = hand_conv()

        def forward(self, a, b=None):
            return self.conv(a + (0 if b is None else b))

    model = TwoInputs()
    assert torch.equal(capture(model, (ramp_input(), torch.zeros(1, 1, 3, 3)))["conv"], CONV_ON_RAMP)
    assert torch.equal(capture(model, {"a": ramp_input()})["conv"], CONV_ON_RAMP)


def test_model_output_is_returned():
    model = nn.Sequential(hand_conv(), nn.Flatten())
    acts = capture(model, ramp_input())
    assert torch.equal(acts.output, CONV_ON_RAMP.flatten(1))


def test_non_module_is_an_input_error():
    with pytest.raises(InputError, match="nn.Module"):
        capture(42, ramp_input())


def test_images_for_a_bare_module_use_the_assumed_preprocessing(tmp_path):
    from PIL import Image

    Image.new("L", (300, 260), 128).save(tmp_path / "grey.png")
    acts = capture(nn.Sequential(nn.Conv2d(1, 2, 3)), str(tmp_path / "grey.png"))
    assert acts["0"].shape == (1, 2, 222, 222)  # resize 256, crop 224, one channel like the first conv


def test_summary_and_to_dict():
    acts = capture(InplaceNet(), ramp_input(), ["conv", "bn"])
    assert "copied: modified in place later" in acts.summary()
    assert acts.describe("bn") == {
        "name": "bn", "module": "bn", "module_type": "BatchNorm2d", "call_index": 0, "output_path": "",
        "skipped": [], "shape": [1, 2, 2, 2], "dtype": "torch.float32", "device": "cpu", "protected": True,
    }
    assert acts.cpu()["conv"].device.type == "cpu"


def test_forward_error_names_the_input_and_the_fix():
    from layerscope.errors import ForwardError

    with pytest.raises(ForwardError, match=r"tensor of shape \(1, 1, 3, 3\).*--size"):
        capture(Exploding(), ramp_input())


def test_numpy_input_is_accepted():
    import numpy as np

    acts = capture(nn.Sequential(hand_conv()), np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3))
    assert torch.equal(acts["0"], CONV_ON_RAMP)


@pytest.mark.parametrize(
    "option, match",
    [({"offload": "gpu"}, "not a torch device"), ({"dtype": "float17"}, "not a torch dtype")],
)
def test_bad_options_are_input_errors(option, match):
    with pytest.raises(InputError, match=match):
        capture(nn.Sequential(hand_conv()), ramp_input(), **option)


def test_dtype_may_be_a_string():
    assert capture(nn.Sequential(hand_conv()), ramp_input(), dtype="float64")["0"].dtype == torch.float64


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_torchscript_module_is_refused_with_the_alternative():
    scripted = torch.jit.script(nn.Sequential(hand_conv()))
    with pytest.raises(InputError, match="TorchScript.*--checkpoint"):
        capture(scripted, ramp_input())
