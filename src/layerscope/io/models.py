"""``load_model``: a spec (or module, or checkpoint file) -> module + preprocessing + provenance.

>>> loaded = load_model("torchvision:resnet18")
>>> loaded.preprocessing.describe()
'resize shorter side to 256 (bilinear), center-crop 224x224, RGB, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) [ImageNet defaults (random-init torchvision model)]'

Checkpoints (``checkpoint=PATH``) are sniffed from content. State dicts
(safetensors, ``torch.save``) load safely and strictly. Files that run code
(TorchScript, ``.pt2``, whole pickled modules) need ``trust_checkpoint=True``;
then:

* with a model spec, the file's own state dict is applied to the spec's
  architecture (an eager module whose layers can be hooked);
* given as the model itself (``load_model("model.pt", trust_checkpoint=True)``
  or ``load_model(None, checkpoint=...)``), the saved module REPLACES the
  model as is, with ImageNet-default preprocessing (sized to the export's
  input for ``.pt2``). A ``.pt2`` module is unflattened so its layers can be
  hooked; a TorchScript module cannot be (``LoadedModel.hookable`` is False).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Union

import torch
import torch.nn as nn

from ..core.jsonio import jsonable
from ..errors import InputError, ModelSpecError
from .checkpoints import WRAPPER_KEYS, apply_state_dict, load_trusted_module, read_state_dict, sniff_checkpoint
from .find import load_images
from ..capturing.hookable import why_not_hookable
from .predictions import top_predictions
from .preprocess import Preprocessing, first_conv_channels
from .specs import Built, build_from_spec

__all__ = ["LoadedModel", "load_model"]


@dataclass
class LoadedModel:
    """A module with the preprocessing it expects, the spec it came from and where its weights came from.

    >>> loaded = LoadedModel(nn.Conv2d(1, 2, 3), "example", Preprocessing(32, (28, 28), (0.5,), (0.5,), 1))
    >>> import PIL.Image
    >>> loaded.preprocess(PIL.Image.new("L", (40, 40))).shape
    torch.Size([1, 1, 28, 28])
    >>> sized = loaded.with_preprocessing(size=20)
    >>> sized.preprocessing.input_size, sized.native_preprocessing.input_size, sized.overrides
    ((20, 20), (28, 28), {'size': 20})

    ``native_preprocessing`` is what the model came with (its weights' or spec's
    own), kept when overrides change ``preprocessing``; ``overrides`` records
    the override values given (``size``, ``mean``, ``std``, ``grayscale``, or
    ``preprocessing`` for a whole replacement), empty when none. ``classes`` names the outputs of a
    classifier whose classes are known (torchvision weights, builtin models), for
    :meth:`predictions`. ``task`` says what the output is when the spec knows it (``hf:`` folders:
    ``classification``, ``segmentation``, ``detection``, ``embedding``, ``features``); predictions are only
    made of a classifier's output (or of an output of unknown task that looks like class scores).
    """

    module: nn.Module
    spec: str
    preprocessing: Preprocessing
    weights: Optional[str] = None  # None: random init
    notes: list[str] = field(default_factory=list)
    native_preprocessing: Optional[Preprocessing] = None  # None: the same as ``preprocessing``
    overrides: dict[str, Any] = field(default_factory=dict)
    classes: Optional[tuple[str, ...]] = None  # output class names of a classifier, when known
    task: Optional[str] = None  # what the output is (classification, segmentation, detection, embedding ...); None: unknown

    def __post_init__(self) -> None:
        if self.native_preprocessing is None:
            self.native_preprocessing = self.preprocessing

    @property
    def hookable(self) -> bool:
        """False when forward hooks cannot capture the module's layers (TorchScript); see :func:`ensure_hookable`."""
        return why_not_hookable(self.module) is None

    def preprocess(self, images: Any) -> torch.Tensor:
        """(N, C, H, W) float32 CPU batch from a path, PIL image, uint8 array, or a list of them.

        Any image that fails to load raises :class:`~layerscope.errors.ImageError`.
        """
        loaded, _ = load_images(images if isinstance(images, (list, tuple)) else [images], strict=True)
        tensors = [self.preprocessing(item.image) for item in loaded]
        shapes = sorted({tuple(t.shape) for t in tensors})
        if len(shapes) > 1:
            raise InputError(
                f"Images give different tensor shapes after preprocessing ({shapes[0]} vs {shapes[-1]}): "
                f"{self.preprocessing.describe()}. Set a size (with_preprocessing(size=N) / --size N) so every "
                f"image is cropped alike, or preprocess them one at a time."
            )
        return torch.stack(tensors)

    def seen_image(self, image: Any) -> Any:
        """The image (a path or PIL image) as this model sees it, after resize and crop: a PIL image.

        Overlays belong on this image: on the uncropped original the map would be misaligned.
        """
        loaded, _ = load_images([image], strict=True)
        return self.preprocessing.seen_image(loaded[0].image)

    def predictions(self, output: Any, k: int = 3) -> Optional[list[list[tuple[str, float]]]]:
        """The ``k`` most probable classes of each input for a model ``output`` (None: not class scores).

        The one rule of :func:`~layerscope.io.predictions.top_predictions`: names from :attr:`classes`
        (``class i`` when unknown), probabilities used as they are when the model outputs them.

        >>> LoadedModel(nn.Identity(), "x", Preprocessing(), classes=("a", "b")).predictions(torch.tensor([[0.0, 2.0]]))
        [[('b', 0.881), ('a', 0.119)]]
        >>> LoadedModel(nn.Identity(), "x", Preprocessing(), task="embedding").predictions(torch.tensor([[0.0, 2.0]])) is None
        True
        """
        if not self.predicts_classes:
            return None
        return top_predictions(output, self.classes, k)

    @property
    def predicts_classes(self) -> bool:
        """False when the output is known not to be class scores (an embedding, segmentation, detection)."""
        return self.task in (None, "classification")

    def with_preprocessing(self, **overrides: Any) -> "LoadedModel":
        """A copy whose preprocessing has :meth:`Preprocessing.with_overrides` applied (module shared).

        The values given (not None) are added to :attr:`overrides`; :attr:`native_preprocessing` stays.
        """
        given = {name: value for name, value in overrides.items() if value is not None}
        return dataclasses.replace(
            self, preprocessing=self.preprocessing.with_overrides(**overrides), overrides={**self.overrides, **given}
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-able provenance: spec, weights, module type, preprocessing, overrides and notes.

        ``native_preprocessing`` is included when overrides were applied.
        """
        data = {
            "spec": self.spec,
            "module": type(self.module).__name__,
            "weights": self.weights,
            "preprocessing": self.preprocessing.to_dict(),
            "overrides": jsonable(self.overrides),
            "notes": list(self.notes),
        }
        if self.task is not None:
            data["task"] = self.task
        if self.overrides:
            data["native_preprocessing"] = self.native_preprocessing.to_dict()
        return data


def _default_preprocessing(module: nn.Module, why: str) -> tuple[Preprocessing, list[str]]:
    channels = first_conv_channels(module)
    pre = Preprocessing(source=f"ImageNet defaults ({why})")
    if channels == 1:
        pre = pre.with_overrides(grayscale=True)
        return dataclasses.replace(pre, source=f"ImageNet defaults, 1 channel ({why}; first conv takes 1 channel)"), []
    if channels not in (None, 3):
        return pre, [f"the first convolution takes {channels} channels; images give 1 or 3, pass a tensor instead"]
    return pre, []


def _weights_only_file(path: str) -> ModelSpecError:
    return ModelSpecError(
        f"{path} holds only weights (a state dict). Give the architecture as the model spec and this file as "
        f"the checkpoint, e.g. load_model('torchvision:resnet18', checkpoint={path!r}) or "
        f"`layerscope ... torchvision:resnet18 --checkpoint {path}`."
    )


def _file_as_model(path: str, trust: bool) -> Built:
    fmt = sniff_checkpoint(path)
    if fmt.kind == "safetensors":
        raise _weights_only_file(path)
    if not trust:
        read_state_dict(path)  # raises UnsafeCheckpointError for code-running files and whole pickles
        raise _weights_only_file(path)
    obj = load_trusted_module(path, fmt)
    if isinstance(obj, Mapping):
        obj = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), nn.Module)), obj)
    if not isinstance(obj, nn.Module):
        raise _weights_only_file(path)
    notes = [f"model loaded whole from {fmt.description} {path} (trusted)"]
    blocked = why_not_hookable(obj)
    notes += [blocked] if blocked else []
    pre, more = _exported_input(obj) if fmt.kind == "torch-export" else (None, [])
    return Built(obj, pre, f"{fmt.description} {path}", notes + more)


def _exported_input(module: nn.Module) -> tuple[Optional[Preprocessing], list[str]]:
    """Preprocessing sized to a torch.export module's (N, C, H, W) example input, and notes on its limits."""
    graph = getattr(module, "graph", None)
    shapes = [
        tuple(node.meta["val"].shape)
        for node in (graph.nodes if graph is not None else [])
        if node.op == "placeholder" and hasattr(node.meta.get("val"), "shape")
    ]
    notes = [
        "torch.export keeps layer names but not layer types: select layers by name (not type:Conv2d)",
        "train/eval behaviour (dropout, batch norm) was fixed when the model was exported",
    ]
    if len(shapes) != 1:
        return None, notes
    shape = shapes[0]
    notes.insert(0, f"exported for input shape ({', '.join(map(str, shape))}); other shapes (batch size "
                    f"included) fail unless it was exported with dynamic_shapes")
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]) or shape[1] not in (1, 3):
        return None, notes
    height, width = shape[2], shape[3]
    pre = Preprocessing().with_overrides(size=(height, width), grayscale=shape[1] == 1)
    source = f"ImageNet defaults sized to the export's input {height}x{width}"
    return dataclasses.replace(pre, source=source), notes


def _eval(module: nn.Module) -> None:
    try:
        module.eval()
    except NotImplementedError:  # a flat exported graph: its train/eval behaviour was fixed at export
        pass


def _is_model_file(spec: Any) -> bool:
    return isinstance(spec, (str, os.PathLike)) and os.path.isfile(spec) and not os.fspath(spec).endswith(".py")


def load_model(
    spec: Union[str, nn.Module, None],
    *,
    checkpoint: Union[str, "os.PathLike[str]", None] = None,
    trust_checkpoint: bool = False,
    device: Union[str, torch.device, None] = None,
    preprocessing: Optional[Preprocessing] = None,
) -> LoadedModel:
    """Build or wrap a model, apply a checkpoint, attach its preprocessing.

    ``spec`` is a spec string (see :data:`~layerscope.io.specs.SPEC_FORMS`), an
    ``nn.Module`` (used as is: a checkpoint is loaded into it and ``device``
    moves it, both in place), a path to a saved whole module, or None with
    ``checkpoint``. A checkpoint that does not fit leaves the model untouched.
    ``preprocessing`` replaces what the spec implies (which stays as
    ``native_preprocessing``). Models built here are put in eval mode; a module
    passed in keeps its mode.
    """
    if isinstance(spec, nn.Module):
        built, label = Built(spec, None, None, ["module passed in directly"]), f"<{type(spec).__name__} module>"
    elif spec is None or _is_model_file(spec):
        if spec is None and checkpoint is None:
            raise ModelSpecError("No model given: pass a model spec, an nn.Module, or checkpoint=PATH.")
        if spec is not None and checkpoint is not None:
            raise ModelSpecError(f"{spec} is a file; give a model spec with checkpoint={checkpoint!r}, or only the file.")
        path = os.fspath(spec if spec is not None else checkpoint)
        built, label, checkpoint = _file_as_model(path, trust_checkpoint), path, None
        _eval(built.module)
    elif isinstance(spec, str):
        if not spec.strip():
            raise ModelSpecError("The model spec is empty; give e.g. 'torchvision:resnet18'.")
        built, label = build_from_spec(spec, trust=trust_checkpoint), spec.strip()
        built.module.eval()
    else:
        raise ModelSpecError(f"A model is a spec string or an nn.Module, not {type(spec).__name__}.")
    notes, weights, classes = list(built.weight_notes) + list(built.notes), built.weights, built.classes
    if checkpoint is not None:  # the spec's own weights, and what was said about them (classes too), are replaced
        classes = None
        state, read_notes = read_state_dict(checkpoint, trust=trust_checkpoint)
        notes = list(built.notes) + read_notes + apply_state_dict(built.module, state, source=os.fspath(checkpoint))
        weights = f"checkpoint {os.fspath(checkpoint)}"
    native = built.preprocessing
    if native is None:
        why = "no preprocessing metadata for this model; override with size/mean/std if it expects other input"
        native, more = _default_preprocessing(built.module, why)
        notes += more
    if device is not None:
        try:
            built.module.to(torch.device(device))
        except (RuntimeError, TypeError, AssertionError) as err:
            raise InputError(f"Device {device!r} cannot be used ({err}); give e.g. 'cpu', 'cuda', 'cuda:0' or 'mps'.") from None
    overrides = {} if preprocessing is None else {"preprocessing": preprocessing}
    return LoadedModel(built.module, label, preprocessing or native, weights, notes, native, overrides, classes, built.task)
