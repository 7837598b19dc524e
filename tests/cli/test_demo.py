"""The offline demo, through the CLI, with every outgoing connection refused."""

import json
import socket

import pytest
from PIL import Image

from layerscope.cli import main


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during the offline demo")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "layerscope-demo"
    mp = pytest.MonkeyPatch()
    mp.setattr(socket.socket, "connect", lambda *a, **k: (_ for _ in ()).throw(OSError("network")))
    try:
        assert main(["demo", "--out", str(out)]) == 0
    finally:
        mp.undo()
    return out


def test_demo_writes_the_comparison_first(demo_dir):
    start = Image.open(demo_dir / "start-here.png")
    assert start.width > 400 and start.height > 200


@pytest.mark.parametrize("section", ["digits-trained", "digits-untrained", "photo-pretrained", "photo-untrained"])
def test_demo_sections_have_grids_and_an_index(demo_dir, section):
    if section.startswith("photo") and not (demo_dir / section).exists():
        pytest.skip("the photo sections need layerscope[samples,pretrained]")
    index = json.loads((demo_dir / section / "index.json").read_text())
    pngs = sorted((demo_dir / section).rglob("*.png"))
    assert pngs and len(index["layers"]) in (2, 3)


def test_demo_runs_again_in_its_own_folder_but_never_over_other_files(demo_dir, capsys, no_network):
    assert main(["demo", "--out", str(demo_dir)]) == 0  # its own earlier output (demo.json) is replaced
    (demo_dir / "inputs" / "my-notes.txt").write_text("user data")
    assert main(["demo", "--out", str(demo_dir)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (demo_dir / "inputs" / "my-notes.txt").read_text() == "user data"


def test_demo_out_must_not_be_a_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("user data")
    assert main(["demo", "--out", str(target)]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert target.read_text() == "user data"
