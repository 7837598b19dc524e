"""torch.distributed for a scan: found from ``torchrun``'s environment, one barrier at the end, nothing per batch.

>>> detect(None, environ={}) is None  # no torchrun, no process group: one process
True

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every rank scans the shard
``rank/world_size`` and writes its own state file; after the one barrier, rank 0 merges the
shard files. The process group uses gloo on the CPU and NCCL on CUDA devices. A rank that fails
says so on its stderr, with where its state is kept; ``torchrun`` then stops the others and
fails the job, and running the same command again resumes every shard from its file.
"""

from __future__ import annotations

import logging
import os
import signal
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping, Optional

import torch
import torch.distributed as dist

__all__ = ["World", "detect", "rank_device", "BARRIER_TIMEOUT"]

# The barrier waits for the slowest rank's whole shard (a resumed rank may have far more left than the
# others); a rank that dies is caught by torchrun, not by this timeout.
BARRIER_TIMEOUT = timedelta(hours=24)
log = logging.getLogger("layerscope.scan")


@dataclass
class World:
    """This process's ``rank`` of ``size``, its ``local_rank`` on the node, the ``backend``; ``owned`` when
    layerscope created the process group (and so destroys it)."""

    rank: int
    size: int
    local_rank: int
    backend: str
    owned: bool

    def device(self, device: Any) -> Any:
        """``device`` for this rank: a bare ``cuda`` becomes ``cuda:LOCAL_RANK``."""
        if device is not None and str(device) == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def barrier(self) -> None:
        if self.backend == "nccl":
            dist.barrier(device_ids=[self.local_rank])
        else:
            dist.barrier()

    def close(self) -> None:
        if self.owned and dist.is_initialized():
            dist.destroy_process_group()


def rank_device(device: Any, environ: Optional[Mapping[str, str]] = None) -> Any:
    """``device`` for this process: under ``torchrun`` (``LOCAL_RANK`` set) a bare ``cuda`` is ``cuda:LOCAL_RANK``.

    >>> rank_device("cuda", {"LOCAL_RANK": "2", "WORLD_SIZE": "4"}), rank_device("cuda", {}), rank_device(None, {})
    ('cuda:2', 'cuda', None)
    """
    env = os.environ if environ is None else environ
    if device is not None and str(device) == "cuda" and int(env.get("WORLD_SIZE", "1")) > 1:
        return f"cuda:{int(env.get('LOCAL_RANK', '0'))}"
    return device


def detect(device: Any, environ: Optional[Mapping[str, str]] = None) -> Optional[World]:
    """The :class:`World` this process runs in: an existing process group, or torchrun's environment
    (then the group is created: NCCL for a CUDA ``device``, gloo otherwise); None for one process."""
    env = os.environ if environ is None else environ
    local = int(env.get("LOCAL_RANK", "0"))
    if dist.is_available() and dist.is_initialized():
        return World(dist.get_rank(), dist.get_world_size(), local, dist.get_backend(), owned=False)
    if int(env.get("WORLD_SIZE", "1")) <= 1:
        return None
    backend = "nccl" if device is not None and torch.device(device).type == "cuda" else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend, timeout=BARRIER_TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), local, backend, owned=True)


class Stopped(SystemExit):
    """SIGTERM (torchrun stopping the ranks after one failed) as an exit with a message."""


def on_terminate(world: World, kept: str):
    """Install a SIGTERM handler that exits with a clear message; returns the previous handler."""

    def handler(signum: int, frame: Any) -> None:
        log.error("rank %d of %d was stopped (SIGTERM; another rank probably failed, see its error above). %s",
                  world.rank, world.size, kept)
        raise Stopped(128 + signum)

    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        return None
