"""--fail-on gates: parsing, evaluation against real diagnoses, and errors naming the bad token."""

import pytest
import torch

from layerscope.diagnosis import diagnose, parse_gate
from layerscope.errors import InputError

from .models import TwoConv, smooth_images


@pytest.fixture(scope="module")
def result():
    torch.manual_seed(0)
    model = TwoConv()
    with torch.no_grad():
        model.conv1.weight.copy_(torch.ones_like(model.conv1.weight) / 27)
        model.conv1.weight[:3] = 0
        model.conv1.bias[:3] = -1.0  # 3 of 8 dead: share 0.375
    return diagnose(model, smooth_images(4), ["conv1"], channel_order=False)


@pytest.mark.parametrize(
    "expression, expected",
    [
        ("dead>0.2", True),
        ("dead>0.4", False),
        ("dead>=37.5%", True),
        ("noisy>0.5", False),
        ("verdict==bad", False),
        ("verdict==suspicious", True),
        ("verdict>=suspicious", True),
        ("uniform>=0.3", False),
        ("dead>0.2 and noisy>0.5", False),
        ("dead>0.4 or verdict!=good", True),
        ("noisy>0.5, dead>0.2", True),
        ("(dead>0.4 or uniform>0) and inputs==0", False),
        ("inputs>0", False),
        ("tendency==untrained or tendency==unclear or tendency==trained or tendency==unknown", True),
    ],
)
def test_gate_evaluates(result, expression, expected):
    assert parse_gate(expression)(result) is expected
    assert result.failed(expression) is expected


def test_gate_text_is_normalized():
    assert parse_gate("DEAD > 20% , verdict == BAD").text == "(dead > 0.2) or (verdict == bad)"


@pytest.mark.parametrize(
    "expression, token",
    [
        ("deadd>0.2", "'deadd'"),
        ("dead>>0.2", "'>'"),
        ("dead>high", "'high'"),
        ("verdict==awful", "'awful'"),
        ("dead>0.2 or", "'end of expression'"),
        ("(dead>0.2", "'end of expression'"),
        ("dead>0.2; rm -rf", "';'"),
        ("__import__(os)", "'__import__'"),
        ("__import__('os')", '"\'"'),
        ("tendency>trained", "'>'"),
    ],
)
def test_invalid_expression_names_the_token_and_the_fields(expression, token):
    with pytest.raises(InputError, match=rf"at {token}\. Accepted: fields dead, uniform, noisy"):
        parse_gate(expression)


def test_empty_expression():
    with pytest.raises(InputError, match="needs an expression"):
        parse_gate("  ")


@pytest.mark.parametrize(
    "expression, suggestion",
    [("dead>2", "dead>2%"), ("dead>20", "dead>20%"), ("uniform >= 35", "uniform>=35%"), ("inert>1.5", "inert>1.5%")],
)
def test_share_above_one_without_percent_is_rejected_with_the_percent_form(expression, suggestion):
    with pytest.raises(InputError, match=rf"share of channels from 0 to 1.*write {suggestion} "):
        parse_gate(expression)


def test_share_above_100_percent_is_rejected():
    with pytest.raises(InputError, match=r"'150%'.*share of channels from 0 to 1"):
        parse_gate("noisy>150%")


@pytest.mark.parametrize("expression, text", [("dead>20%", "dead > 0.2"), ("noise>1.2", "noise > 1.2"),
                                              ("inputs>3", "inputs > 3"), ("dead<=1", "dead <= 1")])
def test_percent_shares_and_non_share_fields_above_one_are_accepted(expression, text):
    assert parse_gate(expression).text == text


@pytest.mark.parametrize(("expression", "suggestion"), [("deadd>0.2", "'dead'"), ("verdict==bda", "'bad'"),
                                                        ("dead>0 or tendncy==untrained", "'tendency'")])
def test_a_misspelt_field_or_word_suggests_the_nearest(expression, suggestion):
    with pytest.raises(InputError, match=rf"Did you mean {suggestion}\?"):
        parse_gate(expression)


def test_no_suggestion_when_nothing_is_close():
    with pytest.raises(InputError) as raised:
        parse_gate("zzz>1")
    assert "Did you mean" not in str(raised.value)
