"""A type checker accepts what the README and ``examples/`` show: mypy over each ```python block of README.md
(one file each, as a reader copies one block) and every ``examples/*.py``, with no error.

The verbs are plain functions (``ls.capture(...)`` is a call of a function, not of a module), and
layerscope ships ``py.typed``: a wrong annotation in layerscope that a README line trips over fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
VERBS = ("capture", "show", "scan", "diagnose", "report", "compare", "load_stats")

pytest.importorskip("mypy", reason="type checking needs mypy (in layerscope[test])")


def _readme_blocks(tmp_path: Path) -> list[Path]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    files = []
    for match in FENCE.finditer(text):
        if match.group(1) == "python":
            line = text.count("\n", 0, match.start()) + 1
            path = tmp_path / f"readme_line_{line}.py"  # the name says where the block starts
            path.write_text(match.group(2), encoding="utf-8")
            files.append(path)
    return files


def test_readme_blocks_and_examples_type_check(tmp_path):
    blocks = _readme_blocks(tmp_path)
    assert blocks, "README.md has no ```python block"
    verbs = tmp_path / "verbs_are_functions.py"
    verbs.write_text("import layerscope as ls\n" + "".join(f"reveal_type(ls.{name})\n" for name in VERBS))
    examples = sorted((ROOT / "examples").glob("*.py"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
               MYPYPATH=str(ROOT / "src"))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports", "--no-incremental",
         "--cache-dir", os.devnull, "--no-error-summary", "--hide-error-context", "--python-version",
         f"{sys.version_info.major}.{sys.version_info.minor}", *map(str, blocks + examples + [verbs])],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines()
    errors = [line for line in lines if ": error:" in line]
    assert not errors, "mypy errors (README blocks are named readme_line_N.py, N = the block's line):\n" + \
        "\n".join(errors) + "\n" + done.stderr[-2000:]
    revealed = [line for line in lines if "Revealed type" in line]
    assert len(revealed) == len(VERBS), done.stdout + done.stderr
    for name, line in zip(VERBS, revealed):
        assert '"def ' in line or '"Overload(def ' in line, f"ls.{name} is not a function to mypy: {line}"
