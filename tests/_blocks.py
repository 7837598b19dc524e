"""The runnable pieces of a Markdown page (the README, every page of the site) and how each runs.

The rules a block follows are stated once, for everyone who writes one, in the docstring of
tests/test_readme.py: ``python`` blocks run each in a fresh ``python -c``; shell blocks line by line
(``# exit N``: the exit code a line must have); install lines are not run, only what follows their
``&&`` (except ``python -m pytest``); other fences are output. A block directly preceded by the line
``<!-- not run: REASON -->`` is shown, not run; the reason is mandatory (:func:`markers_without_reason`).
:func:`run_step` runs a step in a given folder, offline (``HF_HUB_OFFLINE=1``), with ``MPLBACKEND=Agg``.
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
