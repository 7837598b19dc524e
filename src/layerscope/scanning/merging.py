"""Merge the states of disjoint shards of one scan: counts, extrema, histograms and top-k exactly.

>>> import torch
>>> from layerscope.stats import ResponseStats
>>> def part(i):
...     meta = {"complete": True, "shards": [[i, 2]], "inputs": 1, "skipped": [], "sources": {}, "notes": [],
...             "dropped": [], "layers": [{"name": "c"}], "data": {"size": 2}}
...     return State(meta, {"c": ResponseStats(1).update(torch.full((1, 1, 2, 2), float(i)), torch.tensor([i]))})
>>> merged = merge_states([part(1), part(0)])
>>> merged.meta["shards"], merged.meta["whole"], merged.layers["c"].result().mean.tolist()
([[0, 2], [1, 2]], True, [0.5])

Parts are merged in shard order whatever order they are given in, so the bytes of a merge do
not depend on it. Every part must be complete; parts whose model (weights), preprocessing,
layers, data, top-k size or histogram edges differ, or whose shards overlap, are refused with
a message that says which.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence, Union

from ..errors import InputError
from ..io.shard import Shard, covers_all
from ..stats import ResponseStats
from .state import (
    State,
    differences,
    prune_sources,
    read_state,
    state_path,
    write_state,
)

__all__ = ["merge_states", "merge_files", "check_parts"]


def _shards(state: State) -> list[Shard]:
    return [Shard(int(i), int(n)) for i, n in state.meta["shards"]]


def check_parts(states: Sequence[State], names: Sequence[str], command: str = "scan") -> None:
    """Refuse parts that are unfinished, of another run (model, preprocessing, layers, data ...) or overlapping
    (also for the activation store's merge: ``command`` names the command that finishes a part)."""
    for state, name in zip(states, names):
        if not state.meta.get("complete"):
            done = state.meta.get("done") or {}
            raise InputError(
                f"{name} is not complete ({done.get('batches')} batches done); finish it by running its {command} "
                "command again, then merge."
            )
    first, first_name = states[0], names[0]
    for state, name in zip(states[1:], names[1:]):
        found = differences(first.meta, state.meta)
        if found:
            raise InputError(f"Cannot merge {first_name} and {name}: they differ in " + "; ".join(found) + ".")
    owners = [(shard, name) for state, name in zip(states, names) for shard in _shards(state)]
    for i, (a, name_a) in enumerate(owners):
        for b, name_b in owners[i + 1 :]:
            if a.overlaps(b):
                raise InputError(
                    f"Cannot merge {name_a} (shard {a}) and {name_b} (shard {b}): their shards overlap, so some inputs "
                    "would count twice; merge each shard once."
                )


def merge_states(states: Sequence[State], names: Sequence[str] = ()) -> State:
    """One state of the union of ``states`` (disjoint, complete shards of one scan)."""
    names = list(names) or [f"part {i}" for i in range(len(states))]
    if not states:
        raise InputError("Nothing to merge; give the result folders of two or more shards.")
    check_parts(states, names)
    order = sorted(range(len(states)), key=lambda i: [(s.count, s.index) for s in _shards(states[i])])
    states = [states[i] for i in order]
    shaped = [s for s in states if s.layers]
    base = shaped[0] if shaped else states[0]
    layers = {name: ResponseStats.from_state(stats.state_dict()) for name, stats in base.layers.items()}
    for state in shaped[1:]:
        if list(state.layers) != list(layers):
            raise InputError(f"Cannot merge: one part has the layers {list(state.layers)}, another {list(layers)}.")
        for name, stats in state.layers.items():
            layers[name].merge(stats)
    meta = copy.deepcopy(base.meta)
    shards = sorted((s for state in states for s in _shards(state)), key=lambda s: (s.count, s.index))
    sizes = [state.meta["data"].get("size") for state in states if state.meta["data"].get("size") is not None]
    meta.update(
        shards=[[s.index, s.count] for s in shards], whole=covers_all(shards), done=None,
        inputs=sum(state.meta["inputs"] for state in states),
        skipped=sorted((item for state in states for item in state.meta["skipped"]), key=lambda item: item[0]),
        notes=list(dict.fromkeys(note for state in states for note in state.meta["notes"])),
        dropped=list(dict.fromkeys(name for state in states for name in state.meta["dropped"])),
        sources={k: v for state in states for k, v in state.meta["sources"].items()},
    )
    meta["data"]["size"] = max(sizes) if sizes else None
    merged = State(meta, layers)
    prune_sources(merged)
    return merged


def merge_files(inputs: Sequence[Union[str, Path]], out: Union[str, Path], *, overwrite: bool = False) -> State:
    """Merge the result folders (or state files) ``inputs`` into ``out``/stats.safetensors."""
    target = state_path(out)
    paths = [state_path(p) for p in inputs]
    if any(p.resolve() == target.resolve() for p in paths if p.exists()):
        raise InputError(f"--out {out} is one of the parts; write the merge to a new folder.")
    states = [read_state(p) for p in paths]
    merged = merge_states(states, [str(p.parent) for p in paths])
    if target.exists() and not overwrite:
        read_state(target)  # refuses a file that is not a layerscope scan result: never replaced silently
    write_state(merged, target)
    return merged
