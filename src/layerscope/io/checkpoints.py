"""Checkpoints: format sniffed from content, weights loaded safely, code-running formats only when trusted.

>>> import tempfile, os, torch, torch.nn as nn
>>> path = os.path.join(tempfile.mkdtemp(), "w.bin")
>>> torch.save({"state_dict": {"module.weight": torch.ones(2, 3), "module.bias": torch.zeros(2)}}, path)
>>> sniff_checkpoint(path).kind
'torch-zip'
>>> model = nn.Linear(3, 2)
>>> notes = apply_state_dict(model, read_state_dict(path)[0], source=path)
>>> model.weight.sum().item()
6.0

Safe by default: ``.safetensors`` via safetensors, torch.save files via
``torch.load(weights_only=True)``. TorchScript archives, torch.export ``.pt2``
archives and whole pickled objects run code when loaded: they need
``trust=True``, and there is never an automatic fall-back to unsafe loading.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import torch
import torch.nn as nn

from ..errors import CheckpointError, UnsafeCheckpointError
from .keys import apply_state_dict

__all__ = ["CheckpointFormat", "sniff_checkpoint", "read_state_dict", "load_trusted_module", "apply_state_dict",
           "checkpoint_of"]

WRAPPER_KEYS = ("state_dict", "model", "model_ema", "module")
RUNS_CODE = ("torchscript", "torch-export")
_SHOW = 5
_TRUST_HINT = (
    "Load it only if you trust where it came from: trust_checkpoint=True (CLI: --trust-checkpoint). "
    "Safer: re-save just the weights, e.g. torch.save(model.state_dict(), 'weights.pt') or safetensors."
)


@dataclass(frozen=True)
class CheckpointFormat:
    """What a checkpoint file is, judged from its bytes (never from its extension)."""

    kind: str  # safetensors | torch-zip | torch-legacy | torchscript | torch-export
    description: str

    @property
    def runs_code(self) -> bool:
        """True for archives whose loading executes code from the file (TorchScript, torch.export)."""
        return self.kind in RUNS_CODE


def _safetensors_header(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    length = int.from_bytes(head[:8], "little")
    return 2 <= length <= size - 8 and head[8:9] == b"{"


def sniff_checkpoint(path: "str | os.PathLike[str]") -> CheckpointFormat:
    """Identify a checkpoint by content: safetensors header, zip layout, or pickle magic.

    >>> sniff_checkpoint(__file__)
    Traceback (most recent call last):
    ...
    layerscope.errors.CheckpointError: ...is not a checkpoint layerscope can read...
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint {path}: no such file. Check the path given to checkpoint= / --checkpoint.")
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(16)
        if _safetensors_header(head, size):
            length = int.from_bytes(head[:8], "little")
            handle.seek(8)
            try:
                json.loads(handle.read(length))
                return CheckpointFormat("safetensors", "safetensors file")
            except ValueError:
                pass
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(path)
    if len(head) >= 2 and head[0] == 0x80 and head[1] in (2, 3, 4, 5):
        return CheckpointFormat("torch-legacy", "pickle file (legacy torch.save format or plain pickle)")
    hint = " It looks like HDF5 (Keras); convert it to a PyTorch state dict." if head.startswith(b"\x89HDF") else ""
    raise CheckpointError(
        f"Checkpoint {path} ({size:,} bytes) is not a checkpoint layerscope can read: expected safetensors, "
        f"a torch.save file, a TorchScript archive or a torch.export .pt2 archive.{hint}"
    )


def _sniff_zip(path: str) -> CheckpointFormat:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"Checkpoint {path} is a damaged zip archive ({err}); re-save or re-download it.") from None
    if any(n.endswith("/archive_format") or n == "archive_format" for n in names):
        return CheckpointFormat("torch-export", "torch.export / AOTInductor .pt2 archive")
    if any(n.endswith("/constants.pkl") or "/code/" in n or n.startswith("code/") for n in names):
        return CheckpointFormat("torchscript", "TorchScript archive")
    if any(n.endswith("/data.pkl") or n == "data.pkl" for n in names):
        return CheckpointFormat("torch-zip", "torch.save archive")
    raise CheckpointError(
        f"Checkpoint {path} is a zip archive but not a PyTorch one (no data.pkl; holds {', '.join(names[:3])}...). "
        f"Give a safetensors file or a torch.save file."
    )


def _unsafe(path: str, fmt: CheckpointFormat, detail: str) -> UnsafeCheckpointError:
    return UnsafeCheckpointError(f"Checkpoint {path} is a {fmt.description}: {detail}. {_TRUST_HINT}")


def _weights_only_load(path: str, fmt: CheckpointFormat) -> Any:
    try:
        with open(path, "rb") as handle, warnings.catch_warnings():  # a handle: torch >= 2.14 picks a loader by extension
            # probing a plain pickle makes torch warn about its protocol; the refusal below says what matters
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(handle, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = f"it needs {found.group(1)}, which weights-only loading refuses" if found else "weights-only loading refuses it"
        detail = f"it holds pickled objects, not just tensors (e.g. a whole saved module), and unpickling would run code ({what})"
        raise _unsafe(path, fmt, detail) from None
    except Exception as err:  # torch raises RuntimeError/EOFError/ValueError on damaged files
        raise CheckpointError(f"Checkpoint {path} ({fmt.description}) cannot be read: {err}") from None


def load_trusted_module(path: "str | os.PathLike[str]", fmt: Optional[CheckpointFormat] = None) -> Any:
    """Load a file that may run code (TorchScript, .pt2, whole pickle). Call only with the user's trust."""
    path = os.fspath(path)
    fmt = fmt or sniff_checkpoint(path)
    try:
        if fmt.kind == "torchscript":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated, files remain
                return torch.jit.load(path, map_location="cpu")
        if fmt.kind == "torch-export":
            return _exported_module(path)
        if fmt.kind == "safetensors":
            from safetensors.torch import load_file

            return load_file(path, device="cpu")
        return _full_pickle(path)
    except Exception as err:
        raise CheckpointError(f"Checkpoint {path} ({fmt.description}) failed to load: {err}") from None


def _exported_module(path: str) -> nn.Module:
    """The module of a torch.export archive, unflattened so that each layer stays a hookable submodule."""
    program = torch.export.load(path)
    try:
        return torch.export.unflatten(program)
    except Exception:  # some programs cannot be unflattened; the flat graph still runs (hooks will not fire)
        return program.module()


def _full_pickle(path: str) -> Any:
    """torch.save files of any kind, or plain ``pickle.dump`` files (torch.load refuses those: no magic number)."""
    with open(path, "rb") as handle:
        try:
            return torch.load(handle, map_location="cpu", weights_only=False)
        except RuntimeError as err:
            if "magic number" not in str(err):
                raise
        handle.seek(0)
        return pickle.load(handle)


def _is_state_dict(obj: Any) -> bool:
    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) or k.endswith("_extra_state") for k, v in obj.items())
    )


def _unwrap(obj: Any, path: str) -> tuple[dict[str, Any], list[str]]:
    notes: list[str] = []
    for _ in range(4):
        if isinstance(obj, nn.Module):
            notes.append(f"used the state dict of the saved {type(obj).__name__}")
            obj = obj.state_dict()
        if _is_state_dict(obj):
            return dict(obj), notes
        key = next((k for k in WRAPPER_KEYS if isinstance(obj, Mapping) and k in obj), None)
        if key is None:
            break
        others = [k for k in obj if k != key][:_SHOW]
        notes.append(f"used the checkpoint's {key!r} entry" + (f" (also holds {', '.join(map(str, others))})" if others else ""))
        obj = obj[key]
    keys = f"a dict with keys {', '.join(map(repr, list(obj)[:8]))}" if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(
        f"Checkpoint {path} holds {keys}, not a state dict (name -> tensor); layerscope unwraps the keys "
        f"{', '.join(WRAPPER_KEYS)}. Save model.state_dict() instead."
    )


def read_state_dict(path: "str | os.PathLike[str]", *, trust: bool = False) -> tuple[dict[str, Any], list[str]]:
    """The state dict in a checkpoint (wrappers unwrapped) and notes on what was done.

    Code-running formats raise :class:`~layerscope.errors.UnsafeCheckpointError`
    unless ``trust``; with trust, the saved module's own state dict is returned.
    """
    path = os.fspath(path)
    fmt = sniff_checkpoint(path)
    notes = [f"checkpoint {path}: {fmt.description}"]
    if fmt.runs_code and not trust:
        raise _unsafe(path, fmt, "its code runs when it loads")
    if fmt.kind == "safetensors" or fmt.runs_code:  # safetensors never runs code; the others are trusted here
        obj = load_trusted_module(path, fmt)
    else:
        try:
            obj = _weights_only_load(path, fmt)
        except UnsafeCheckpointError:
            if not trust:
                raise
            obj = load_trusted_module(path, fmt)
            notes.append("loaded as a full pickle (trusted)")
    state, unwrap_notes = _unwrap(obj, path)
    return state, notes + unwrap_notes


def checkpoint_of(loaded: Any) -> Optional[str]:
    """The checkpoint path a :class:`~layerscope.io.LoadedModel`'s weights were loaded from, else None.

    >>> from types import SimpleNamespace
    >>> checkpoint_of(SimpleNamespace(checkpoint=None, weights="checkpoint run/best.pt")), checkpoint_of(object())
    ('run/best.pt', None)
    """
    path = getattr(loaded, "checkpoint", None)
    if path:
        return str(path)
    weights = getattr(loaded, "weights", None) or ""
    return weights[len("checkpoint "):] if weights.startswith("checkpoint ") else None
