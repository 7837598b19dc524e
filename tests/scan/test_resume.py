"""Kill and resume: a real scan process SIGKILLed at random points several times, and run again each time,
ends with the same bytes as a scan never stopped; a scan stopped by an error resumes the same way."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import layerscope as ls
from layerscope.scanning.state import read_state

from .conftest import ENV, IMAGES, SCAN_MODEL
from .planted import PREPROCESSING, image, planted_model, write_dataset

BATCH = 2


def progress(path: Path) -> int:
    """Batches done, from the state file's header only (the file is replaced atomically, never half-written)."""
    try:
        with open(path, "rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
    except (FileNotFoundError, struct.error):
        return -1
    return json.loads(header["__metadata__"]["layerscope.scan"])["done"]["batches"]


def command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "layerscope", "scan", *SCAN_MODEL, str(data), "--out", str(out),
            "--batch-size", str(BATCH), "--save-every", "1", "--top-k", "3"]


def test_sigkill_at_random_points_then_resume_gives_the_same_bytes(photos, tmp_path):
    reference = subprocess.run(command(photos, tmp_path / "ref"), capture_output=True, text=True, timeout=600, env=ENV)
    assert reference.returncode == 0, reference.stderr
    total = read_state(tmp_path / "ref").meta["done"]["batches"]
    assert total == (IMAGES + 1 + BATCH - 1) // BATCH

    out, rng, killed_at, messages, restarts = tmp_path / "out", random.Random(10), [], [], 0
    while len(killed_at) < 3:
        before = progress(out / "stats.safetensors")
        target = min(before + rng.randint(1, 3), total - 2)
        proc = subprocess.Popen(command(photos, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        while proc.poll() is None and progress(out / "stats.safetensors") < target:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))  # anywhere: mid-forward, mid-write, between batches
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        err = proc.communicate()[1]
        if progress(out / "stats.safetensors") >= total and restarts < 5:  # killed after its last checkpoint, while
            shutil.rmtree(out)  # exiting: nothing left to resume; start the kills over (a busy machine's timing)
            killed_at, messages, restarts = [], [], restarts + 1
            continue
        messages.append(err)
        killed_at.append(progress(out / "stats.safetensors"))
    assert len(killed_at) >= 3, f"the scan finished before it could be killed often enough: {killed_at}"
    assert killed_at == sorted(killed_at) and killed_at[-1] < total  # every run went on from the last checkpoint

    done = subprocess.run(command(photos, out), capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "resuming shard 0/1 from batch" in done.stderr
    assert (out / "stats.safetensors").read_bytes() == (tmp_path / "ref" / "stats.safetensors").read_bytes()
    assert not list(out.glob(".*.tmp"))  # writes cut short left no temp files behind
    stats = ls.load_stats(out)
    assert stats.inputs == IMAGES and [s.rsplit("/", 1)[-1] for _, s, _ in stats.skipped] == ["p007_broken.png"]


def test_a_scan_stopped_by_an_error_resumes_to_the_same_bytes(tmp_path):
    data = write_dataset(tmp_path / "data", count=12)
    (data / "img_009.png").write_bytes(b"broken")
    options = dict(layers=["0", "3"], k=3, batch_size=2, save_every=1, preprocessing=PREPROCESSING, progress=False)
    with pytest.raises(ls.ImageError, match=r"img_009.png: not a readable image .* \(--strict stops at the first"):
        ls.scan(planted_model(), data, out=tmp_path / "out", strict=True, **options)
    assert read_state(tmp_path / "out").meta["done"]["batches"] == 4  # batches 0-3 saved; 9 is in batch 4
    Image.fromarray(image(9)).save(data / "img_009.png")
    resumed = ls.scan(planted_model(), data, out=tmp_path / "out", **options)
    fresh = ls.scan(planted_model(), data, out=tmp_path / "fresh", **options)
    assert resumed.inputs == fresh.inputs == 12 and not resumed.skipped
    assert (tmp_path / "out" / "stats.safetensors").read_bytes() == (tmp_path / "fresh" / "stats.safetensors").read_bytes()
