"""The :class:`Subject`: a model with its preprocessing, its chosen layers, their layouts and its device, resolved once.

>>> import torch.nn as nn
>>> subject = Subject.of(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 2, 3)))
>>> subject.layers, str(subject.device), subject.preprocessing.input_size
(['1', '2'], 'cpu', (224, 224))
>>> Subject.of("builtin:digits", "conv*").layers
['conv1', 'conv2']

Every verb resolves its model here (a spec, an ``nn.Module`` or a
:class:`~layerscope.io.LoadedModel`, see :func:`~layerscope.io.resolve.resolve_model`), so the
layers a verb picks by default, the class names, the predictions and the device rule are one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

import torch
import torch.nn as nn

from ..capturing.call import model_device
from ..capturing.select import LayerSelector, select_layers
from ..capturing.tokens import TokenGeometry, token_geometry
from ..core.layout import canonical_layout
from ..core.names import choose
from ..errors import InputError
from ..io.models import LoadedModel
from ..io.predictions import Predictions
from ..io.preprocess import Preprocessing
from ..io.resolve import resolve_model
from .maps import describe_transform

__all__ = ["Subject"]


@dataclass
class Subject:
    """What every run is about. Build it with :meth:`of`; ``layers`` are resolved dotted names; ``transforms`` the
    layers read through a transform of their maps (see :meth:`of`)."""

    loaded: LoadedModel
    layers: list[str]
    layouts: dict[str, str] = field(default_factory=dict)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    transforms: dict[str, Callable[[torch.Tensor], torch.Tensor]] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        model: Any,
        layers: LayerSelector = None,
        *,
        preprocessing: Optional[Preprocessing] = None,
        layouts: Optional[Mapping[str, str]] = None,
        device: Union[str, torch.device, None] = None,
        transforms: Optional[Mapping[str, Callable[[torch.Tensor], torch.Tensor]]] = None,
    ) -> "Subject":
        """Resolve ``model`` once; ``layers`` default to :func:`~layerscope.capturing.select.default_layers`
        (token models: their block outputs) and else to what follows each convolution's normalization and
        activation (:func:`~layerscope.capturing.select_layers`). A :class:`Subject` is returned as is
        (``layers``, ``preprocessing`` and ``layouts`` then replace its own when given).

        ``device``: a model layerscope loaded from a spec is moved there; a module you pass is never
        moved (InputError when it is elsewhere: move it yourself, or leave ``device`` out).

        ``transforms``: ``{layer: callable}`` taking the layer's maps (N, C, H, W) to (N, K, H, W), such as a
        trained :class:`~layerscope.dictionary.Dictionary`; every verb then reads the K outputs of that layer
        like its channels (the layer keeps its name; its metadata says ``"unit": "latent"`` and names the
        transform). A transformed layer given here is added to ``layers`` when they leave it out; a subject's
        own transforms follow it only onto the layers that stay chosen.

        >>> subject = Subject.of(nn.Sequential(nn.Conv2d(3, 4, 3)), transforms={"0": lambda m: m[:, :2]})
        >>> subject.layers, list(subject.transforms)
        (['0'], ['0'])
        """
        if isinstance(model, Subject):
            if layers is None and preprocessing is None and layouts is None and device is None and transforms is None:
                return model
            base = model
            model = model.loaded if preprocessing is None else resolve_model(model.loaded, preprocessing=preprocessing)
            layers = base.layers if layers is None else layers
            layouts = base.layouts if layouts is None else layouts
            if transforms is None:  # the subject's own, on those of its layers that stay chosen
                narrowed = select_layers(base.module, layers)
                transforms = {name: t for name, t in base.transforms.items() if name in narrowed}
        from_spec = not isinstance(model, (nn.Module, LoadedModel))
        loaded = resolve_model(model, preprocessing=preprocessing)
        module = loaded.module
        chosen = select_layers(module, layers if layers is not None or not transforms else list(transforms))
        canonical = {name: canonical_layout(layout) for name, layout in (layouts or {}).items()}
        return cls(loaded, chosen, canonical, _place(module, device, from_spec), _transforms(module, chosen, transforms))

    # -- what the model is ---------------------------------------------------------------------
    @property
    def module(self) -> nn.Module:
        return self.loaded.module

    @property
    def preprocessing(self) -> Preprocessing:
        return self.loaded.preprocessing

    @property
    def classes(self) -> Optional[tuple[str, ...]]:
        return self.loaded.classes

    @property
    def spec(self) -> str:
        return self.loaded.spec

    @property
    def random_init(self) -> bool:
        return self.loaded.weights is None

    def tokens(self, input_size: Optional[tuple[int, int]] = None) -> Optional[TokenGeometry]:
        """The model's token geometry (prefix tokens, patch grid) for inputs of ``input_size`` (default: the
        preprocessing's); None for a model whose layers are maps (see
        :func:`~layerscope.capturing.tokens.token_geometry`). Captures carry it as ``Activations.tokens``.

        >>> import torchvision
        >>> Subject.of(torchvision.models.vit_b_16()).tokens((224, 320)).grid
        (14, 20)
        """
        size = input_size if input_size is not None else self.preprocessing.input_size
        return None if size is None else token_geometry(self.module, size)

    def predictions(self, output: Any, k: int = 3) -> Optional[list[Predictions]]:
        """The model's top-``k`` classes per input (the one rule: :mod:`layerscope.io.predictions`)."""
        return self.loaded.predictions(output, k)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the model's provenance, the layers, their layouts and the device."""
        found = {"model": self.loaded.to_dict(), "layers": list(self.layers), "layouts": dict(self.layouts),
                 "device": str(self.device)}
        if self.transforms:
            found["transforms"] = {name: describe_transform(t)["transform"] for name, t in self.transforms.items()}
        return found


def _transforms(module: nn.Module, chosen: list[str], transforms: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The transforms by layer, each on a layer of the module (added to ``chosen`` when it is not there)."""
    found = {}
    for name, transform in (transforms or {}).items():
        if not callable(transform):
            raise InputError(f"transforms[{name!r}] is a {type(transform).__name__}; give a callable taking the "
                             "layer's maps (N, C, H, W) to (N, K, H, W), such as a layerscope Dictionary.")
        if name not in chosen:
            name = choose(name, [n for n, _ in module.named_modules() if n], "layer (of transforms=)", "List them with `layerscope layers MODEL`.")
            chosen.append(name)
        found[name] = transform
    return found


def _place(module: nn.Module, device: Union[str, torch.device, None], from_spec: bool) -> torch.device:
    """The device the run uses: the model's own, or ``device`` (moving only a model layerscope loaded)."""
    current = model_device(module)[0]
    if device is None:
        return current
    try:
        wanted = torch.device(device)
    except (RuntimeError, TypeError):
        raise InputError(f"device={device!r} is not a torch device; use cpu, cuda, cuda:1 or mps.") from None
    if wanted.type == "cuda" and wanted.index is None:
        wanted = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    if wanted == current or (wanted.type == current.type == "cpu"):
        return current
    if not from_spec:
        raise InputError(
            f"The model is on {current} and device={str(device)!r} was asked for; layerscope does not move a model "
            f"you pass behind your back. Move it first (model.to({str(device)!r})), or leave device out."
        )
    module.to(wanted)
    return wanted
