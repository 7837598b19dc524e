"""Kill and resume: a real dump process SIGKILLed at random points several times, and run again each time, ends
with the same bytes in every file as a dump never stopped."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import layerscope as ls

from .conftest import ENV, IMAGES, SCAN_MODEL

BATCH = 2
LAYERS = ["--layers", "conv1,layer2,fc"]


def progress(out: Path) -> int:
    """Batches done, from the index (replaced atomically, never half-written)."""
    try:
        return json.loads((out / "index.json").read_text())["done"]["batches"]
    except (FileNotFoundError, ValueError):
        return -1


def digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def command(data: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "layerscope", "dump", *SCAN_MODEL, str(data), *LAYERS, "--out", str(out),
            "--batch-size", str(BATCH), "--save-every", "1", "--positions", "5", "--seed", "7"]


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_gives_the_same_bytes(photos, tmp_path):
    reference = subprocess.run(command(photos, tmp_path / "ref"), capture_output=True, text=True, timeout=600, env=ENV)
    assert reference.returncode == 0, reference.stderr
    total = progress(tmp_path / "ref")
    assert total == (IMAGES + 1 + BATCH - 1) // BATCH

    out, rng, killed_at, restarts = tmp_path / "out", random.Random(10), [], 0
    while len(killed_at) < 3:
        target = min(progress(out) + rng.randint(1, 3), total // 2)  # room left: a fast machine runs batches in ms
        proc = subprocess.Popen(command(photos, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
        while proc.poll() is None and progress(out) < target:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.05))  # anywhere: mid-forward, mid-write of a part or the index, between batches
        if proc.poll() is not None:
            break
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate()
        if progress(out) >= total and restarts < 20:  # killed after its last part: start the kills over
            shutil.rmtree(out)
            killed_at, restarts = [], restarts + 1
            continue
        killed_at.append(progress(out))
    assert len(killed_at) >= 3, f"the dump finished before it could be killed often enough: {killed_at}"
    assert killed_at == sorted(killed_at) and killed_at[-1] < total

    done = subprocess.run(command(photos, out), capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    assert "layerscope dump: resuming shard 0/1 from batch" in done.stderr
    assert digests(out) == digests(tmp_path / "ref")  # every file, the index included, byte for byte
    assert not list(out.rglob(".*.tmp"))
    store = ls.load_activations(out, layer="layer2")
    assert store.meta["inputs"] == IMAGES and len(store) == IMAGES * 5
    assert [s.rsplit("/", 1)[-1] for _, s, _ in store.meta["skipped"]] == ["p007_broken.png"]


def test_a_dump_stopped_by_an_error_resumes_to_the_same_bytes(tmp_path):
    """A dataset whose item 7 raises the first time: the dump stops there; the same call continues."""

    class Flaky(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.data, self.fail = torch.randn(11, 1, 6, 6, generator=torch.Generator().manual_seed(0)), True

        def __len__(self) -> int:
            return 11

        def __getitem__(self, i: int):
            if i == 7 and self.fail:
                raise RuntimeError("the disk hiccuped")
            return self.data[i], i % 3

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU())
    options = dict(batch_size=2, save_every=1, positions=4, progress=False)
    data = Flaky()
    with pytest.raises(RuntimeError, match="hiccuped"):
        ls.dump(model, data, out=tmp_path / "out", **options)
    assert progress(tmp_path / "out") == 3  # batches 0-2 saved; 7 is in batch 3
    data.fail = False
    resumed = ls.dump(model, data, out=tmp_path / "out", **options)
    ls.dump(model, data, out=tmp_path / "fresh", **options)
    assert digests(tmp_path / "out") == digests(tmp_path / "fresh")
    assert resumed.sources[10] == ["dataset[10]", 1]
    again = ls.dump(model, data, out=tmp_path / "out", **options)  # complete: loads, writes nothing
    assert again.meta == resumed.meta and digests(tmp_path / "out") == digests(tmp_path / "fresh")
