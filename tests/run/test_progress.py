"""Progress of a run (:mod:`layerscope.run.progress`): real runs of the digits model, the estimate line on stderr when
the run will be long (made long by the threshold, not by sleeping), nothing when short or under --no-progress, the
bar on stderr, and ``tqdm.auto``'s notebook class in a Jupyter-like IPython."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from layerscope.cli import main
from layerscope.errors import InputError
from layerscope.run import Run, RunOptions, Subject
from layerscope.run.progress import Progress, about
from layerscope.zoo import write_sample_images

LINE = re.compile(r"^2 layers x 10 images on cpu: about \d+ s; --layers \(layers=\) narrows it$", re.M)


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("progress") / "digits"
    write_sample_images(folder, photos=())  # the 10 digit images
    return str(folder)


@pytest.fixture(scope="module")
def digits():
    return Subject.of("builtin:digits")


def test_a_long_diagnose_says_so_up_front_on_stderr_and_keeps_stdout_json(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--batch-size", "2", "--long-after", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(LINE.findall(err)) == 1
    assert json.loads(out)["inputs"] == 10 and "about" not in out


def test_a_short_diagnose_says_nothing(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--batch-size", "2"]) == 0
    out, err = capsys.readouterr()
    assert "about" not in err and "narrows" not in out + err and "image/s" not in err  # and no bar: not a terminal


def test_no_progress_silences_the_estimate(digit_files, capsys):
    assert main(["diagnose", "builtin:digits", digit_files, "--batch-size", "2", "--long-after", "0",
                 "--no-progress"]) == 0
    assert "narrows" not in capsys.readouterr().err


def test_show_takes_the_same_flags(digit_files, tmp_path, capsys):
    assert main(["show", "builtin:digits", digit_files, "--layers", "conv1,conv2", "--batch-size", "5",
                 "--long-after", "0", "--out", str(tmp_path / "views")]) == 0
    assert LINE.search(capsys.readouterr().err)


def test_the_estimate_scales_a_batch_to_every_input(digits, capsys):
    run = Run(digits, torch.rand(12, 1, 28, 28), RunOptions(batch_size=4, long_after=0))
    with torch.no_grad():
        steps = list(run)
    assert len(steps) == 3
    out, err = capsys.readouterr()
    assert out == "" and re.fullmatch(r"2 layers x 12 inputs on cpu: about \d+ s; --layers \(layers=\) narrows it\n", err)


def test_a_run_of_one_batch_has_nothing_left_to_announce(digits, capsys):
    list(Run(digits, torch.rand(4, 1, 28, 28), RunOptions(batch_size=4, long_after=0)))
    assert capsys.readouterr().err == ""


def test_the_bar_and_the_line_above_it_go_to_stderr(digits, capsys):
    list(Run(digits, torch.rand(12, 1, 28, 28), RunOptions(batch_size=4, progress=True, long_after=0), desc="diagnose"))
    out, err = capsys.readouterr()
    assert out == "" and "diagnose:" in err and "/12 [" in err and "input/s" in err
    assert re.search(r"2 layers x 12 inputs on cpu: about \d+ s; --layers \(layers=\) narrows it\n", err)


def test_long_after_is_seconds():
    with pytest.raises(InputError, match=r"long_after=-1 must be a number of seconds of at least 0"):
        RunOptions(long_after=-1)


def test_durations_read_as_people_say_them():
    assert [about(s) for s in (0.2, 40, 59.5, 61, 250, 3600, 4000)] == [
        "about 1 s", "about 40 s", "about 60 s", "about 2 min", "about 5 min", "about 1 h", "about 1 h 7 min"]


def test_an_unknown_total_has_no_estimate_line(capsys):
    with Progress(None, desc="stream", what="2 layers x ? inputs", long_after=0) as progress:
        progress.start()
        progress.update(4)
    assert progress.estimate == 0 and capsys.readouterr().err == ""


NOTEBOOK = textwrap.dedent("""
    import sys, types
    from IPython.core.interactiveshell import InteractiveShell
    InteractiveShell.instance()                                         # an IPython shell ...
    sys.modules["ipykernel.zmqshell"] = types.ModuleType("ipykernel.zmqshell")  # ... that says it is a kernel's
    import torch, tqdm.notebook
    from layerscope.run import Run, RunOptions, Subject
    from layerscope.run.progress import watched
    run = Run(Subject.of("builtin:digits"), torch.rand(12, 1, 28, 28), RunOptions(batch_size=4, long_after=0))
    progress = run.progress()
    print(watched(), isinstance(progress.bar, tqdm.notebook.tqdm), type(progress.bar).__module__)
    progress.close()
    assert len(list(run)) == 3
""")


def test_in_a_notebook_the_bar_is_tqdm_auto_s_widget_and_the_estimate_still_goes_to_stderr(tmp_path):
    src = str(Path(__file__).resolve().parents[2] / "src")
    done = subprocess.run([sys.executable, "-c", NOTEBOOK], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": src})
    assert done.returncode == 0, done.stderr
    assert "True True tqdm.auto" in done.stdout
    assert "2 layers x 12 inputs on cpu: about" in done.stderr


def test_visualize_counts_its_steps_on_stderr(digits, capsys):
    from layerscope.explain import visualize

    visualize(digits, "conv1", [0, 1], steps=4, seed=0, progress=True)
    out, err = capsys.readouterr()
    assert out == "" and "visualize:" in err and "/4 [" in err and "step/s" in err
    visualize(digits, "conv1", [0, 1], steps=4, seed=0, progress=False)
    assert capsys.readouterr().err == ""


def test_the_first_batch_warms_up_when_enough_are_left():
    progress = Progress(100, desc="run", enabled=False)
    progress.start()
    progress.update(10)
    assert progress.estimate is None  # 90 left: the next batch is timed instead
    progress.start()
    progress.update(10)
    assert progress.estimate is not None and progress.estimate >= 0
    last = Progress(20, desc="run", enabled=False)
    last.start()
    last.update(10)  # 10 left, fewer than two more batches: this one is all there is to time
    assert last.estimate is not None
