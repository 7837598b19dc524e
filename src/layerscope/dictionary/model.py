"""A trained sparse dictionary: encode a layer's channel vectors into latents, decode them back; one file.

>>> import torch
>>> d = Dictionary.identity(3, layer="conv", k=1)
>>> d.encode(torch.tensor([[0.0, 2.0, 1.0]]))
tensor([[0., 2., 0.]])
>>> tuple(d(torch.rand(2, 3, 5, 5)).shape), d.latents, d.channels
((2, 3, 5, 5), 3, 3)

A :class:`Dictionary` is a TopK or BatchTopK sparse autoencoder (Gao et al. 2024; Bussmann et al.
2024): ``z = TopK((x - b_dec) W_enc + b_enc)``, ``x_hat = z W_dec + b_dec`` with unit-norm decoder
rows (the latents' directions in channel space). Called on maps (N, C, H, W) it encodes every
position and returns (N, K, H, W): the transform :class:`~layerscope.run.Subject` takes per layer
(``transforms={layer: dictionary}``), so that every verb reads its latents like channels.

The file is one safetensors file (no pickle): the four arrays, and JSON in its header with the
layer, the sizes, the kind, the inference threshold and the training settings and figures.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Union

import torch
from safetensors.torch import load as load_tensors
from safetensors.torch import save as save_tensors

from ..core.files import write_atomic
from ..core.jsonio import jsonable
from ..errors import InputError
from ..run.subject import Subject

__all__ = ["Dictionary", "KINDS"]

KINDS = ("topk", "batchtopk")
FORMAT = "layerscope-dictionary/1"
_KEY = "layerscope_dictionary"
_ARRAYS = ("W_enc", "b_enc", "b_dec", "W_dec")


@dataclass(eq=False)
class Dictionary:
    """``W_enc`` (C, K), ``b_enc`` (K,), ``b_dec`` (C,), ``W_dec`` (K, C) with unit-norm rows; ``k`` latents kept per
    position; ``kind`` ``"topk"`` (the top ``k`` of each position) or ``"batchtopk"`` (trained on the top ``k`` x B
    of a batch; at inference every pre-activation above ``threshold``, estimated in training). ``layer`` the layer
    it was trained on; ``settings`` and ``figures`` what training used and measured."""

    W_enc: torch.Tensor
    b_enc: torch.Tensor
    b_dec: torch.Tensor
    W_dec: torch.Tensor
    k: int
    kind: str = "topk"
    threshold: float = 0.0
    layer: Optional[str] = None
    settings: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"kind={self.kind!r} is not a dictionary kind; use one of {', '.join(KINDS)}.")
        c, latents = self.W_enc.shape
        if tuple(self.W_dec.shape) != (latents, c) or self.b_enc.shape != (latents,) or self.b_dec.shape != (c,):
            raise InputError(f"Dictionary arrays disagree: W_enc {tuple(self.W_enc.shape)}, W_dec "
                             f"{tuple(self.W_dec.shape)}, b_enc {tuple(self.b_enc.shape)}, b_dec {tuple(self.b_dec.shape)}.")
        if not 1 <= int(self.k) <= latents:
            raise InputError(f"k={self.k} must be between 1 and the number of latents ({latents}).")

    @classmethod
    def identity(cls, channels: int, *, layer: Optional[str] = None, k: int = 1) -> "Dictionary":
        """The dictionary whose latents are the channels themselves (a reference: top-``k`` channels per position)."""
        eye = torch.eye(channels)
        return cls(eye.clone(), torch.zeros(channels), torch.zeros(channels), eye.clone(), k, layer=layer)

    @property
    def channels(self) -> int:
        return int(self.W_enc.shape[0])

    @property
    def latents(self) -> int:
        return int(self.W_enc.shape[1])

    @property
    def directions(self) -> torch.Tensor:
        """(K, C): each latent's unit direction in the layer's channel space (the decoder rows)."""
        return self.W_dec

    # -- encoding ---------------------------------------------------------------------------------
    def pre(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-activations (n, K) of rows ``x`` (n, C)."""
        return (x - self.b_dec.to(x)) @ self.W_enc.to(x) + self.b_enc.to(x)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latents (n, K) of rows ``x`` (n, C): the top ``k`` per row (``topk``), or all above the threshold
        (``batchtopk`` at inference), never negative."""
        if x.dim() != 2 or x.shape[1] != self.channels:
            raise InputError(f"This dictionary encodes rows of {self.channels} channels (layer {self.layer!r}); got "
                             f"a tensor of shape {tuple(x.shape)}. Pass it the layer it was trained on.")
        pre = self.pre(x).relu()
        if self.kind == "batchtopk":
            return pre * (pre > self.threshold)
        return topk_rows(pre, self.k)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Rows (n, C) back from latents (n, K)."""
        return z @ self.W_dec.to(z) + self.b_dec.to(z)

    def __call__(self, maps: torch.Tensor) -> torch.Tensor:
        """Maps (N, C, H, W) -> latent maps (N, K, H, W), every position encoded (also (N, C) -> (N, K))."""
        if maps.dim() == 2:
            return self.encode(maps)
        if maps.dim() != 4:
            raise InputError(f"A dictionary transforms maps (N, C, H, W) or vectors (N, C); got shape {tuple(maps.shape)}.")
        n, c, h, w = maps.shape
        rows = maps.permute(0, 2, 3, 1).reshape(-1, c)
        return self.encode(rows.float()).reshape(n, h, w, self.latents).permute(0, 3, 1, 2).to(maps.dtype)

    def on(self, model: Any, layers: Any = None, **subject: Any) -> Subject:
        """``model`` as a :class:`~layerscope.run.Subject` whose layer ``self.layer`` is read through this dictionary:
        give it to any verb (``ls.scan(d.on(model), data, out=DIR)``, ``ls.show``, ``ls.report``, ``ls.diagnose``,
        ``card``) and the layer's latents are its channels. ``layers`` default to that layer alone.

        >>> import torch.nn as nn
        >>> Dictionary.identity(4, layer="0").on(nn.Sequential(nn.Conv2d(3, 4, 1))).transforms
        {'0': Dictionary(topk, 4 channels -> 4 latents, k=1, layer='0')}
        """
        if self.layer is None:
            raise InputError("This dictionary does not say which layer it was trained on; use "
                             "Subject.of(model, transforms={layer: dictionary}).")
        return Subject.of(model, [self.layer] if layers is None else layers, transforms={self.layer: self}, **subject)

    def describe(self) -> dict:
        """What a transformed layer's metadata says about this dictionary (no arrays)."""
        return {"transform": "dictionary", "unit": "latent", "kind": self.kind, "latents": self.latents,
                "channels": self.channels, "k": int(self.k), "layer": self.layer, "fingerprint": self.fingerprint()}

    def fingerprint(self) -> str:
        """A hash of the arrays and the encoding rule: equal only for the same dictionary."""
        digest = hashlib.sha256(f"{self.kind}|{self.k}|{self.threshold!r}".encode())
        for name in _ARRAYS:
            digest.update(getattr(self, name).detach().cpu().float().contiguous().numpy().tobytes())
        return digest.hexdigest()[:16]

    # -- the file ---------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return jsonable({"format": FORMAT, "kind": self.kind, "k": int(self.k), "threshold": float(self.threshold),
                         "layer": self.layer, "channels": self.channels, "latents": self.latents,
                         "settings": self.settings, "figures": self.figures})

    def save(self, path: Union[str, Path], *, overwrite: bool = True) -> Path:
        """Write one ``.safetensors`` file (arrays + JSON header), atomically."""
        tensors = {name: getattr(self, name).detach().cpu().float().contiguous() for name in _ARRAYS}
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return write_atomic(save_tensors(tensors, metadata={_KEY: text}), path, overwrite=overwrite)

    @classmethod
    def load(cls, path: Union[str, Path]) -> "Dictionary":
        """Read a file :meth:`save` wrote.

        >>> import tempfile, os
        >>> path = Dictionary.identity(4, layer="conv", k=2).save(os.path.join(tempfile.mkdtemp(), "d.safetensors"))
        >>> Dictionary.load(path).describe()["latents"], Dictionary.load(path).layer
        (4, 'conv')
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"No dictionary file at {path}; train one with layerscope.train_dictionary(...).save(path).")
        data = path.read_bytes()
        try:
            (length,) = struct.unpack("<Q", data[:8])
            meta = json.loads(json.loads(data[8 : 8 + length])["__metadata__"][_KEY])
            tensors = load_tensors(data)
        except (struct.error, ValueError, KeyError, TypeError):
            raise InputError(f"{path} is not a layerscope dictionary file (a .safetensors file that "
                             "Dictionary.save wrote).") from None
        if meta.get("format") != FORMAT:
            raise InputError(f"{path} is a dictionary of format {meta.get('format')!r}; this layerscope reads {FORMAT}.")
        return cls(*(tensors[name] for name in _ARRAYS), k=meta["k"], kind=meta["kind"], threshold=meta["threshold"],
                   layer=meta["layer"], settings=meta.get("settings", {}), figures=meta.get("figures", {}))

    def __repr__(self) -> str:
        return (f"Dictionary({self.kind}, {self.channels} channels -> {self.latents} latents, k={self.k}, "
                f"layer={self.layer!r})")


def topk_rows(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest entries of each row (ties by index), zero elsewhere.

    >>> topk_rows(torch.tensor([[3.0, 1.0, 2.0]]), 2)
    tensor([[3., 0., 2.]])
    """
    values, index = pre.topk(k, dim=1)
    return torch.zeros_like(pre).scatter(1, index, values)
