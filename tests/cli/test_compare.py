"""``layerscope compare``: table, JSON, two checkpoints of one architecture, pairs, --out, exit codes."""

import json

import pytest
from PIL import Image
from safetensors.torch import save_file

from layerscope.cli import main
from layerscope.zoo import build_builtin, write_sample_images
from layerscope.zoo.digits import untrained


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits") / "eight"
    write_sample_images(folder, count=8, photos=())
    return str(folder)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    paths = {}
    for name, model in (("trained", build_builtin("digits")), ("init", untrained())):
        paths[name] = str(folder / f"{name}.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, paths[name])
    return paths


def test_table_per_layer_pair(digit_files, capsys):
    assert main(["compare", "builtin:digits", "builtin:digits:untrained", digit_files]) == 0
    out = capsys.readouterr().out
    assert out.index("A: model: builtin:digits") < out.index("B: model: builtin:digits:untrained")
    assert "layer     cka  cosine  rel_l2  matched" in out and "changed most: conv2, conv1" in out


def test_json_gives_cka_cosine_and_rel_l2_per_pair_for_two_checkpoints(digit_files, checkpoints, capsys):
    code = main(["compare", "builtin:digits", "builtin:digits", digit_files, "--checkpoint-a", checkpoints["init"],
                 "--checkpoint-b", checkpoints["trained"], "--layers", "conv1,conv2,fc3", "--json"])
    captured = capsys.readouterr()
    assert code == 0 and "weights: checkpoint" in captured.err
    data = json.loads(captured.out)
    assert [p["layer_a"] for p in data["pairs"]] == ["conv1", "conv2", "fc3"]
    assert all({"cka", "cosine", "rel_l2"} <= set(p) for p in data["pairs"])
    assert data["a"]["weights"].startswith("checkpoint") and data["inputs"] == 8
    same = main(["compare", "builtin:digits", "builtin:digits", digit_files, "--checkpoint-b", checkpoints["trained"],
                 "--json", "--no-match"])
    pairs = json.loads(capsys.readouterr().out)["pairs"]
    assert same == 0 and [p["cka"] for p in pairs] == [1.0, 1.0] and pairs[0]["match"] is None


def test_pairs_layers_b_and_out_folder(digit_files, tmp_path, capsys):
    out = tmp_path / "cmp"
    args = ["compare", "builtin:digits", "builtin:digits:untrained", digit_files, "--pairs", "conv1=conv2",
            "--out", str(out)]
    assert main(args) == 0
    assert "conv1 ~ conv2" in capsys.readouterr().out
    assert sorted(p.name for p in out.rglob("*.png")) == ["00_conv1_conv2.png", "heatmap.png"]
    assert main(args) == 0  # a rerun replaces its own files (core.outputs.OutputFolder)
    (out / "compare.json").unlink()  # without its index, the folder's files are no longer layerscope's
    capsys.readouterr()
    assert main(args) == 2 and "pass overwrite=True (CLI: --overwrite)" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_layers_b_selects_other_layers_of_model_b_for_the_heat_map(digit_files, capsys):
    assert main(["compare", "builtin:digits", "builtin:digits:untrained", digit_files, "--layers", "conv1",
                 "--layers-b", "conv1,conv2", "--json", "--no-match"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [p["layer_b"] for p in data["pairs"]] == ["conv1"]
    assert data["heatmap"]["layers_b"] == ["conv1", "conv2"] and len(data["heatmap"]["cka"][0]) == 2


def test_one_model_on_two_input_sets(digit_files, tmp_path, capsys):
    flipped = tmp_path / "flipped"
    flipped.mkdir()
    for path in sorted(__import__("pathlib").Path(digit_files).glob("*.png")):
        with Image.open(path) as image:
            image.transpose(Image.Transpose.FLIP_TOP_BOTTOM).save(flipped / path.name)
    assert main(["compare", "builtin:digits", "builtin:digits", digit_files, "--inputs-b", str(flipped), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert all(p["cosine"] < 0.9 for p in data["pairs"])


@pytest.mark.parametrize(("extra", "match"), [
    (["--pairs", "conv1"], "--pairs 'conv1' must be LAYER_A=LAYER_B"),
    (["--pairs", "conv1=conv9"], "No layer matches 'conv9'. Did you mean 'conv2'"),
    (["--layers", "conv3"], "conv3"),
])
def test_bad_usage_is_exit_code_2_with_the_fix(digit_files, capsys, extra, match):
    assert main(["compare", "builtin:digits", "builtin:digits:untrained", digit_files, *extra]) == 2
    assert match in capsys.readouterr().err


def test_too_few_images_is_exit_code_2(digit_files, capsys):
    files = sorted(__import__("glob").glob(f"{digit_files}/*.png"))[:3]
    assert main(["compare", "builtin:digits", "builtin:digits:untrained", *files]) == 2
    assert "CKA needs at least 4" in capsys.readouterr().err
