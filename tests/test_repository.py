"""The repository tracks source, not build products: no binary file outside the folders meant for them.

A wheel, an archive, a checkpoint or a picture committed by accident (a ``tqdm-*.whl`` once sat at
the root) fails here, with the fix. Binary files belong only in :data:`ALLOWED` (pictures of the
docs, golden test images, the zoo's shipped weights and samples); any file over :data:`MAX_BYTES`
does too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = ("docs/images/", "src/layerscope/zoo/weights/", "src/layerscope/zoo/samples/")
ALLOWED_GOLDEN = "/golden/"  # tests/**/golden/: reference images of the golden tests
BINARY_SUFFIXES = (
    ".whl", ".tar.gz", ".tgz", ".tar", ".zip", ".gz", ".bz2", ".xz", ".7z", ".egg", ".pt", ".pth", ".pt2", ".ckpt",
    ".bin", ".onnx", ".safetensors", ".pkl", ".pickle", ".npz", ".npy", ".h5", ".so", ".dylib", ".dll", ".exe",
    ".pyc", ".o", ".a", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".ico", ".mp4", ".webm",
    ".mov", ".avi", ".mkv", ".ogv", ".wmv", ".pdf", ".woff", ".woff2", ".ttf", ".otf", ".db", ".sqlite",
)
MAX_BYTES = 1_000_000


def _tracked() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout (an sdist or an installed copy): there is no list of tracked files to check")
    done = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=60)
    if done.returncode != 0:
        pytest.skip(f"git ls-files failed here ({done.stderr.decode(errors='replace').strip()}): not a git checkout")
    return [name for name in done.stdout.decode("utf-8", errors="surrogateescape").split("\0") if name]


def _allowed(name: str) -> bool:
    return name.startswith(ALLOWED) or (name.startswith("tests/") and ALLOWED_GOLDEN in name)


def _binary(path: Path) -> bool:
    """By name (a known binary suffix) or by content (a NUL byte in the first 8 KiB, as git decides)."""
    if path.name.lower().endswith(BINARY_SUFFIXES):
        return True
    with open(path, "rb") as file:
        return b"\0" in file.read(8192)


def test_allowed_folders_are_told_apart():
    assert _allowed("docs/images/grid.png") and _allowed("tests/render/golden/layer_gray.png")
    assert not _allowed("tqdm-4.70.1-py3-none-any.whl") and not _allowed("src/layerscope/golden/x.png")
    assert not _allowed("docs/grid.png")


def test_no_binary_or_large_file_is_tracked_outside_the_fixture_folders():
    bad = []
    for name in _tracked():
        path = ROOT / name
        if _allowed(name) or not path.is_file() or path.is_symlink():  # a deletion not yet committed: nothing there
            continue
        if _binary(path):
            bad.append(f"{name} (binary)")
        elif path.stat().st_size > MAX_BYTES:
            bad.append(f"{name} ({path.stat().st_size:,} bytes, over {MAX_BYTES:,})")
    assert not bad, (
        "Tracked files that do not belong in the repository: " + ", ".join(bad) + ". Remove them with "
        "`git rm --cached FILE` (and add a .gitignore line), or, for a docs picture or a test fixture, move "
        f"them under one of: {', '.join(ALLOWED)}, tests/**/golden/."
    )


def test_every_data_file_of_the_package_is_in_its_package_data():
    """A template or script left out of ``[tool.setuptools.package-data]`` works from a checkout and is
    missing from the wheel (the report's templates once were, after a package was renamed)."""
    import fnmatch
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["layerscope"]
    data = [name.removeprefix("src/layerscope/") for name in _tracked()
            if name.startswith("src/layerscope/") and not name.endswith(".py")]
    assert data, "no data files found: is this a git checkout?"
    missing = [name for name in data if not any(fnmatch.fnmatchcase(name, p) for p in patterns)]
    assert not missing, f"add these to [tool.setuptools.package-data] in pyproject.toml: {missing}"
