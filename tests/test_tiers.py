"""The four tiers hold: ``lint-imports`` keeps every contract of ``[tool.importlinter]`` in pyproject.toml.

Imports go downward only (presentation > analyses > engine > core; docs/design.md), in-function
imports included: import-linter reads every ``import`` statement of the source, wherever it stands.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"


def _lint(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", LINT, "--no-cache", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    done = _lint()
    report = done.stdout[done.stdout.find("Contracts"):] if "Contracts" in done.stdout else done.stdout
    assert done.returncode == 0, f"lint-imports failed (an upward import?):\n{report}\n{done.stderr[-3000:]}"
    assert "0 broken" in report


def test_the_tier_contract_is_exhaustive_and_catches_an_upward_import(tmp_path):
    """The contract is not vacuous: a core module that imports the CLI breaks it (checked on a copy)."""
    import shutil

    shutil.copytree(ROOT / "src" / "layerscope", tmp_path / "layerscope",
                    ignore=shutil.ignore_patterns("__pycache__", "*.safetensors", "*.np[yz]", "static", "templates"))
    (tmp_path / "layerscope" / "core" / "upward.py").write_text("from ..cli import main\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", LINT, "--no-cache", str(ROOT / "pyproject.toml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "layerscope.core.upward -> layerscope.cli" in done.stdout
