"""The result: JSON (stable codes, channel lists), summary text, escaped HTML, thresholds overrides."""

import json

import pytest
import torch
from torch import nn

from layerscope.diagnosis import Thresholds, diagnose
from layerscope.errors import InputError, LayerNotFoundError

from .models import smooth_images


@pytest.fixture(scope="module")
def result():
    model = nn.Sequential()
    model.add_module("<b>conv</b>", nn.Conv2d(3, 4, 3, padding=1))
    with torch.no_grad():
        model[0].weight.fill_(1 / 27)
        model[0].weight[1] = 0
        model[0].bias[1] = -1
    return diagnose(model, smooth_images(4) * 255, channel_order=False)


def test_json_has_verdicts_channel_lists_and_input_codes(result):
    data = json.loads(result.to_json())
    layer = data["layers"][0]
    assert layer["name"] == "<b>conv</b>"
    assert layer["flagged"] == {"nonfinite": [], "exploding": [], "dead": [1], "saturated": [], "uniform": [],
                                "noisy": []}
    assert layer["verdict"] == "suspicious"
    assert [f["code"] for f in data["input_findings"]] == ["input.range", "input.unknown"]
    assert [f["code"] for f in layer["findings"]] == ["layer.dead"]
    assert len(layer["per_channel"]["inactive"]) == 4
    assert data["tendency"]["caveat"].startswith("Feature maps are not explanations")


def test_json_without_per_channel(result):
    assert "per_channel" not in result.to_dict(per_channel=False)["layers"][0]


def test_summary_lists_inputs_first_then_table_then_tendency(result):
    text = result.summary()
    assert text.index("input.range") < text.index("Layers:") < text.index("Tendency:")
    assert "dead channels: 1" in text and "Caveat: Feature maps are not explanations" in text


def test_html_is_escaped(result):
    page = result._repr_html_()
    assert "&lt;b&gt;conv&lt;/b&gt;" in page and "<b>conv</b>" not in page


def test_unknown_layer_lookup(result):
    with pytest.raises(LayerNotFoundError, match="Did you mean"):
        result["<b>conv</b>x"]


def test_threshold_overrides_change_the_verdict():
    model = nn.Conv2d(3, 4, 3, padding=1)
    with torch.no_grad():
        model.weight.fill_(1 / 27)
        model.weight[1] = 0
        model.bias[1] = -1
    strict = diagnose(model, smooth_images(4), thresholds={"dead_bad": 0.2}, channel_order=False)
    assert strict.layers[0].verdict == "bad"


def test_threshold_errors_name_the_fix():
    with pytest.raises(InputError, match="Did you mean 'dead_bad'"):
        Thresholds().with_overrides(["dead_bda=0.3"])
    with pytest.raises(InputError, match="not NAME=VALUE"):
        Thresholds().with_overrides(["dead_bad"])
    with pytest.raises(InputError, match="is not a number"):
        Thresholds().with_overrides(["noisy=lots"])


def test_no_inputs_is_an_input_error():
    with pytest.raises(InputError, match="No inputs"):
        diagnose(nn.Conv2d(3, 4, 3), iter([]))


def test_model_mode_and_hooks_are_left_as_they_were():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(5)).train()
    model(torch.zeros(1, 3, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    diagnose(model, smooth_images(2, size=8))
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("override", ["dead_bad=5", "noisy_suspicious=25", "saturated=90"])
def test_share_threshold_above_one_is_rejected_with_the_percent_form(override):
    with pytest.raises(InputError, match=rf"share from 0 to 1.*write --threshold {override}% "):
        Thresholds().with_overrides([override])


def test_share_threshold_above_one_in_a_mapping_is_rejected():
    with pytest.raises(InputError, match="dead_bad=5"):
        Thresholds().with_overrides({"dead_bad": 5})


def test_share_threshold_accepts_percent_and_non_shares_above_one():
    t = Thresholds().with_overrides(["dead_bad=20%", "exploding=50", "noisy=1.2"])
    assert (t.dead_bad, t.exploding, t.noisy) == (0.2, 50.0, 1.2)


def test_html_colours_the_verdict_cell_not_a_layer_named_like_a_verdict():
    import re

    torch.manual_seed(0)
    model = nn.Sequential()
    model.add_module("good", nn.Conv2d(3, 8, 3, padding=1))  # a healthy random conv: verdict good
    model.add_module("bad", nn.Conv2d(8, 4, 3, padding=1))  # a dead channel: verdict suspicious
    with torch.no_grad():
        model.bad.weight[1] = 0
        model.bad.bias[1] = -1
    result = diagnose(model, smooth_images(4), channel_order=False)
    assert [(layer.name, layer.verdict) for layer in result.layers] == [("good", "good"), ("bad", "suspicious")]
    body = result._repr_html_().split("<tbody>")[1].split("</tbody>")[0]
    rows = [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", body)]
    assert [row[0] for row in rows] == ["<bdi>good</bdi>", "<bdi>bad</bdi>"]  # the name cells: isolated plain text
    badges = [re.fullmatch(r'<span class="ls-verdict ls-v-(\w+)" title="[^"]*">(\w+)</span>', row[3]) for row in rows]
    assert [m.groups() for m in badges] == [("good", "good"), ("suspicious", "suspicious")]


def test_save_writes_diagnosis_json_under_the_output_folder_rule(result, tmp_path):
    out = result.save(tmp_path / "d")
    saved = json.loads((out / "diagnosis.json").read_text())
    assert saved["layers"][0]["flagged"]["dead"] == [1] and saved["files"] == [] and "layerscope_version" in saved
    assert result.save(out) == out  # a rerun replaces its own index
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "diagnosis.json").write_text("{}")
    with pytest.raises(InputError, match="which layerscope did not write there"):
        result.save(foreign)
    assert (foreign / "diagnosis.json").read_text() == "{}"


def test_options_and_run_settings_are_keywords_or_objects():
    from layerscope.diagnosis import DiagnoseOptions
    from layerscope.run import RunOptions

    model, x = nn.Conv2d(3, 4, 3), torch.rand(3, 3, 8, 8)
    by_objects = diagnose(model, x, options=DiagnoseOptions(channel_order=False), run=RunOptions(batch_size=2))
    by_keywords = diagnose(model, x, channel_order=False, batch_size=2)
    assert by_objects.to_dict() == by_keywords.to_dict()
    with pytest.raises(InputError, match="Did you mean 'batch_size'"):
        diagnose(model, x, batch_sise=2)
