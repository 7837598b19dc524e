"""The runnable pieces of a Markdown page (the README, every page of the site) and how each runs.

The rules a block must follow (for everyone who adds a section to the README or a page to docs/):

* Fenced blocks marked ``python`` run each in a fresh interpreter (``python -c``), as a reader who
  copies that one block would run it: a block imports what it uses and makes what it needs.
* Fenced blocks marked ``bash``, ``sh``, ``shell`` or ``console`` run line by line with ``bash -c``
  (a line ending in ``\\`` continues on the next). Each line must exit 0, unless it ends with the
  comment ``# exit N``, which states the exit code it must have.
* Lines that install the package (``python -m pip install ...``, with or without ``&& ...``) are
  not run: installing is what makes this test possible. What follows ``&&`` on such a line is run
  (``layerscope demo``), except the test command itself (``python -m pytest ...``).
* Other fences (``text``, none) are output shown to the reader, not run.
* A block directly preceded by the line ``<!-- not run: REASON -->`` is shown, not run; the reason is
  mandatory and says why it cannot run here (a camera, a real multi-machine cluster, a download).
* Everything runs with the working directory an empty temporary folder, without network
  (layerscope's downloads fail fast: ``HF_HUB_OFFLINE=1``), with ``MPLBACKEND=Agg``, in page order.
  Inputs come from ``layerscope samples`` or ``layerscope.zoo``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

SHELLS = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```([\w+-]*)[^\n]*\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run\s*:?(.*?)-->\s*\Z", re.S)
MARKER = re.compile(r"<!--\s*not run\b(.*?)-->", re.S)


class Step(NamedTuple):
    """One runnable piece: ``kind`` (python or bash), its code, the exit code it must have."""

    kind: str
    code: str
    expected: int


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


def _marked_not_run(text: str, start: int) -> bool:
    """Whether the fence at ``start`` is directly preceded by a ``<!-- not run: REASON -->`` line."""
    before = text[:start].rstrip("\n")
    last = before.rsplit("\n", 1)[-1]
    return NOT_RUN.search(last) is not None


def steps(text: str) -> list[Step]:
    """``(kind, code, expected exit code)`` for every runnable piece of a page, in order.

    >>> steps("```bash\\npython -m pip install -e . && layerscope demo\\nls  # exit 1\\n```\\n")
    [Step(kind='bash', code='layerscope demo', expected=0), Step(kind='bash', code='ls  # exit 1', expected=1)]
    >>> steps("<!-- not run: needs a camera -->\\n```bash\\nlayerscope serve --camera\\n```\\n```text\\nout\\n```\\n")
    []
    """
    found = []
    for match in FENCE.finditer(text):
        if _marked_not_run(text, match.start()):
            continue
        language, body = match.group(1).lower(), match.group(2)
        if language == "python":
            found.append(Step("python", body, 0))
        elif language in SHELLS:
            for line in _shell_lines(body):
                code = _runnable(line)
                expected = re.search(r"#\s*exit\s+(\d+)\s*$", line)
                if code:
                    found.append(Step("bash", code, int(expected.group(1)) if expected else 0))
    return found


def markers_without_reason(text: str) -> list[str]:
    """The ``not run`` markers of a page that give no reason (each must say why its block cannot run here).

    >>> markers_without_reason("<!-- not run: needs a camera -->\\n<!-- not run -->\\n<!-- not run:  -->")
    ['<!-- not run -->', '<!-- not run:  -->']
    """
    return [m.group(0) for m in MARKER.finditer(text) if not m.group(1).strip(" :\n\t")]


def run_step(step: Step, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    """Run one step in ``cwd``, offline, with this interpreter first on PATH."""
    command = [sys.executable, "-c", step.code] if step.kind == "python" else ["bash", "-c", step.code]
    env = {**os.environ, "MPLBACKEND": "Agg", "HF_HUB_OFFLINE": "1", "PATH": f"{Path(sys.executable).parent}:"
           + os.environ.get("PATH", "")}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def failure(where: str, step: Step, done: subprocess.CompletedProcess) -> str:
    """The message of a step that exited with the wrong code: the block, its exit code, the end of its output."""
    output = (done.stdout + done.stderr)[-3000:]
    return (f"{where} ({step.kind}) exited {done.returncode}, expected {step.expected}:\n{step.code}\n"
            f"--- output (end) ---\n{output}")
