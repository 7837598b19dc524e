"""torch.distributed with real processes: torchrun on one node and on two "machines" (a c10d rendezvous on
127.0.0.1) equal one process; a rank that dies fails the job clearly and running it again resumes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import layerscope as ls

from .compare import assert_same_result
from .conftest import ENV, SCAN_MODEL
from .test_resume import progress

pytestmark = pytest.mark.skipif(shutil.which("torchrun") is None, reason="needs torchrun on PATH")
LAYERS = ["--layers", "conv1,layer2.0.conv1,layer4.1.conv2"]


def scan_args(data: Path, out: Path, *extra: str) -> list[str]:
    """Batches of one: a conv's float32 result for an input can depend on the other inputs of its batch, and
    the ranks' batches hold other inputs than one process's; alone, every input gets the same bits everywhere."""
    return ["scan", *SCAN_MODEL, str(data), "--out", str(out), *LAYERS, "--batch-size", "1", "--top-k", "3", *extra]


@pytest.fixture(scope="module")
def one_process(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("one") / "scan"
    done = subprocess.run([sys.executable, "-m", "layerscope", *scan_args(photos, out)], capture_output=True,
                          text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    return ls.load_stats(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_standalone_two_ranks_equal_one_process(photos, one_process, tmp_path):
    out = tmp_path / "scan"
    done = subprocess.run(["torchrun", "--standalone", "--nproc_per_node=2", "--no-python", "layerscope",
                           *scan_args(photos, out)], capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr
    merged = ls.load_stats(out)
    assert merged.shards == ["0/2", "1/2"] and merged.whole
    assert sorted(p.name for p in (out / "shards").iterdir()) == ["shard-00000-of-00002.safetensors",
                                                                  "shard-00001-of-00002.safetensors"]
    assert_same_result(merged, one_process)
    assert done.stdout.count("scan of torchvision:resnet18") == 1  # rank 0 reports, once


def test_two_nodes_with_a_c10d_rendezvous_equal_one_process(photos, one_process, tmp_path):
    out, port = tmp_path / "scan", free_port()
    nodes = [subprocess.Popen(["torchrun", "--nnodes=2", f"--node_rank={rank}", "--nproc_per_node=1",
                               "--rdzv-backend=c10d", f"--rdzv-endpoint=127.0.0.1:{port}", "--rdzv-id=layerscope-test",
                               "-m", "layerscope", *scan_args(photos, out)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV) for rank in (0, 1)]
    results = [node.communicate(timeout=600) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], results
    assert_same_result(ls.load_stats(out), one_process)


def _rank_pid(tag: str, rank: int) -> int | None:
    """The process started with ``LAYERSCOPE_TEST_TAG=tag`` that torchrun made rank ``rank``."""
    wanted = {f"LAYERSCOPE_TEST_TAG={tag}".encode(), f"RANK={rank}".encode()}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                environ = set((entry / "environ").read_bytes().split(b"\0"))
            except OSError:
                continue
            if wanted <= environ:  # the torchrun agent itself has the tag but no RANK
                return int(entry.name)
    return None


def test_a_dying_rank_fails_the_job_clearly_and_a_rerun_resumes(photos, one_process, tmp_path):
    out, tag = tmp_path / "scan", f"dying-{os.getpid()}"
    command = ["torchrun", "--standalone", "--nproc_per_node=2", "--no-python", "layerscope",
               *scan_args(photos, out, "--save-every", "1")]
    env = {**ENV, "LAYERSCOPE_TEST_TAG": tag}
    job = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    shard = out / "shards" / "shard-00001-of-00002.safetensors"
    deadline = time.monotonic() + 300
    while job.poll() is None and progress(shard) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    victim = _rank_pid(tag, 1)
    assert victim is not None and job.poll() is None, "rank 1 finished before it could be killed"
    os.kill(victim, signal.SIGKILL)
    _, failed = job.communicate(timeout=300)
    assert job.returncode != 0
    assert "rank: 1" in failed and "Signal 9 (SIGKILL)" in failed  # torchrun names the rank and how it died
    assert not (out / "stats.safetensors").exists()
    stopped_at = progress(shard)
    assert 3 <= stopped_at < 14

    again = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0, again.stderr
    assert f"rank 1: resuming shard 1/2 from batch {stopped_at}" in again.stderr
    assert_same_result(ls.load_stats(out), one_process)
