import json

from layerscope.cli import main


def test_layers_table_for_builtin_model(capsys):
    assert main(["layers", "builtin:digits"]) == 0
    out = capsys.readouterr().out
    assert "builtin:digits: 6 modules, input 1x1x28x28" in out
    assert "conv1  Conv2d     1x16x24x24" in out
    assert "x2 calls" in out  # the pool is called twice


def test_layers_json_lists_shapes_in_execution_order(capsys):
    assert main(["layers", "torchvision:resnet18", "--size", "64", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    names = [row["name"] for row in payload["layers"]]
    assert names[:3] == ["conv1", "bn1", "relu"]
    first = payload["layers"][0]
    assert first["shape"] == [1, 64, 32, 32] and first["params"] == 9408


def test_layers_without_forward(capsys):
    assert main(["layers", "torchvision:alexnet", "--no-run", "--leaves"]) == 0
    out = capsys.readouterr().out
    assert "features.0" in out and "(not run)" in out


def test_unknown_model_exits_2_with_suggestion(capsys):
    assert main(["layers", "torchvision:resnt18"]) == 2
    assert "Did you mean 'resnet18'" in capsys.readouterr().err


def test_usage_error_exits_2(capsys):
    assert main(["layers"]) == 2


def test_layers_prints_and_records_the_preprocessing(capsys):
    assert main(["layers", "builtin:digits"]) == 0
    assert "preprocessing:" in capsys.readouterr().out
    assert main(["layers", "builtin:digits", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["preprocessing"]["channels"] == 1


def test_layers_feeds_a_clip_to_a_video_model(capsys):
    assert main(["layers", "torchvision:r3d_18", "--size", "32", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["input_shape"] == [1, 3, 16, 32, 32]


def test_forward_failure_on_a_too_small_input_exits_2(capsys):
    assert main(["layers", "builtin:digits", "--size", "8"]) == 2
    err = capsys.readouterr().err
    assert "(1, 1, 8, 8)" in err and "--size" in err


def test_non_positive_input_size_exits_2(capsys):
    assert main(["layers", "builtin:digits", "--size", "0"]) == 2
    assert "positive" in capsys.readouterr().err
