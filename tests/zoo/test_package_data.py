"""Every file the zoo reads at run time is covered by pyproject's package-data, so wheels ship it."""

from __future__ import annotations

import fnmatch
import sys
from pathlib import Path

import pytest

from layerscope.zoo import _registry

if sys.version_info < (3, 11):
    pytest.skip("tomllib needs Python 3.11", allow_module_level=True)
import tomllib  # noqa: E402

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
PACKAGE = _registry.DATA_DIR.parent  # src/layerscope


def _shipped(folder: str, suffix: str) -> list[str]:
    return [p.relative_to(PACKAGE).as_posix() for p in (_registry.DATA_DIR / folder).glob(f"*{suffix}")]


def _covered(relative: str) -> bool:
    patterns = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["layerscope"]
    return any(fnmatch.fnmatch(relative, pattern) for pattern in patterns)


@pytest.mark.parametrize("relative", _shipped("weights", ".safetensors") + _shipped("samples", ".npz"))
def test_data_file_is_package_data(relative):
    assert _covered(relative)


@pytest.mark.parametrize("relative", _shipped("weights", ".json"))
def test_metadata_file_is_package_data(relative):
    assert _covered(relative)
