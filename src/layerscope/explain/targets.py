"""What importance explains: one score per input, taken from the model's output.

>>> import torch
>>> logits = torch.tensor([[0.0, 1.0, 5.0], [4.0, 1.0, 0.0]])
>>> as_target(None).score(logits), as_target(1).score(logits)      # the top class; class 1
(tensor([5., 4.]), tensor([1., 1.]))
>>> as_target("cat", ("dog", "cat", "fox")).score(logits)          # a class name
tensor([1., 1.])
>>> as_target(lambda out: out[:, 0] - out[:, 2]).score(logits)     # any function of the output
tensor([-5.,  4.])
>>> detections = [{"boxes": torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]]),
...                "scores": torch.tensor([0.9, 0.6]), "labels": torch.tensor([1, 2])}]
>>> Box(22, 18, 40, 44).score(detections)                          # the prediction that overlaps most
tensor([0.6000])
>>> segmentation = {"out": torch.arange(8.0).reshape(1, 2, 2, 2)}  # torchvision: (N, classes, H, W) under "out"
>>> Mask(torch.tensor([[1, 0], [0, 1]]), cls=1).score(segmentation)  # 4 + 7
tensor([11.])
>>> Embedding([1.0, 0.0]).score(torch.tensor([[3.0, 4.0]]))          # cosine similarity
tensor([0.6000])
>>> parse_target("box:10,10,50,60:cat")
Box(10.0, 10.0, 50.0, 60.0, label='cat')

A target is one small class over :class:`Target` with ``score(output, size=None) -> Tensor[N]``;
:func:`as_target` turns what ``target=`` accepts into one, :func:`parse_target` reads the CLI's
``--target`` (:data:`TARGET_FORMS`). Outputs come as they are: a logits tensor, a dict with
``"out"`` (torchvision segmentation), torchvision detection lists of dicts, or Hugging Face
``ModelOutput`` (``.logits``; DETR ``.logits`` and ``.pred_boxes``). Box and rectangle
coordinates are pixels of the model's input (``size``: its height and width).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..capturing.call import describe_inputs
from ..core.tensors import first_field
from ..errors import InputError, did_you_mean

__all__ = ["Target", "Class", "Function", "Box", "Mask", "Embedding", "as_target", "parse_target", "check_target",
           "class_index", "TARGET_FORMS", "TARGET_HELP"]

TARGET_FORMS = ("CLASS (an index or a name; class:NAME for any name)", "box:X0,Y0,X1,Y1[:LABEL]",
                "mask:CLASS[:X0,Y0,X1,Y1 or FILE.npy]", "embedding:FILE.npy or FILE.pt")
_FIX = "--target " + " | ".join(TARGET_FORMS)
TARGET_HELP = ("what the importance explains: a class index or name (class:NAME), box:X0,Y0,X1,Y1[:LABEL] (the "
               "detection that overlaps the box most), mask:CLASS[:X0,Y0,X1,Y1 or FILE.npy] (the summed logit of a "
               "class in a region), or embedding:FILE.npy (cosine similarity to a vector); default: the top class")
Size = Optional[Sequence[int]]


class Target:
    """One score per input from a model's output; ``resolve`` turns class names into indices."""

    def resolve(self, classes: Optional[Sequence[str]]) -> "Target":
        return self

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        raise NotImplementedError

    def describe(self) -> str:
        return repr(self)


def class_index(target: Union[None, int, str], classes: Optional[Sequence[str]]) -> Optional[int]:
    """The class index ``target`` names: an index (int or digits) or, when ``classes`` are known, a class name.

    >>> class_index("3", None), class_index(None, ("cat", "dog")), class_index("dog", ("cat", "dog"))
    (3, None, 1)
    """
    if target is None:
        return None
    if isinstance(target, bool) or not isinstance(target, (int, np.integer, str)):
        raise InputError(f"target must be a class index or a class name, got {target!r}; or a callable, Box, Mask "
                         "or Embedding (layerscope.explain.targets).")
    text = str(target).strip()
    if text.lstrip("-").isdigit():
        index = int(text)
        if index < 0 or (classes and index >= len(classes)):
            upper = f"0..{len(classes) - 1}" if classes else "a class index >= 0"
            raise InputError(f"target {index} is not a class of this model; give {upper}, or leave it out for the "
                             "top prediction.")
        return index
    if not classes:
        raise InputError(f"target {text!r} is a class name, but this model's class names are unknown; give a "
                         "class index (e.g. --target 3), or leave it out for the top prediction.")
    if text in classes:
        return list(classes).index(text)
    raise InputError(f"target {text!r} is not one of this model's {len(classes)} classes."
                     f"{did_you_mean(text, classes)} Give a class name (e.g. {classes[0]!r}) or an index "
                     f"0..{len(classes) - 1}.")


def _tensor(output: Any, *names: str) -> Optional[torch.Tensor]:
    value = output if isinstance(output, torch.Tensor) else first_field(output, *names)
    return value if isinstance(value, torch.Tensor) else None


class Class(Target):
    """The logit of class ``index`` (an int, a name, one per input; None: each input's top class).

    >>> Class([2, 0]).score(torch.tensor([[0.0, 1.0, 5.0], [4.0, 1.0, 0.0]]))
    tensor([5., 4.])
    """

    def __init__(self, index: Union[None, int, str, Sequence[int], torch.Tensor] = None) -> None:
        self.index = index

    def resolve(self, classes: Optional[Sequence[str]]) -> "Class":
        if isinstance(self.index, (torch.Tensor, np.ndarray, list, tuple)):
            return self
        return Class(class_index(self.index, classes))

    def indices(self, output: Any) -> torch.Tensor:
        """The class each input's score is for."""
        logits = _tensor(output, "logits")
        if logits is None or logits.dim() != 2:
            dense = logits is not None and logits.dim() == 4 or first_field(output, "out") is not None
            hint = (" For segmentation, give a region: Mask(mask, cls) (--target mask:CLASS)." if dense else
                    " For detection, give a box: Box(x0, y0, x1, y1) (--target box:X0,Y0,X1,Y1)."
                    if _detections_of(output) else " Or give a target=callable returning one score per input.")
            raise InputError(f"importance for a class needs a classifier output (batch, classes); the model returned "
                             f"{describe_inputs(output)}.{hint}")
        if self.index is None:
            return logits.argmax(1)
        if isinstance(self.index, str):
            raise InputError(f"target {self.index!r} is a class name; resolve it with the model's classes first "
                             "(as_target(target, classes)).")
        index = torch.as_tensor(self.index, device=logits.device).long().reshape(-1)
        index = index.expand(logits.shape[0]) if index.numel() == 1 else index
        if index.numel() != logits.shape[0] or int(index.max()) >= logits.shape[1] or int(index.min()) < 0:
            raise InputError(f"target {self.index!r} does not fit an output of {logits.shape[1]} classes for "
                             f"{logits.shape[0]} inputs; give one class index, or one per input.")
        return index

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        return _tensor(output, "logits").gather(1, self.indices(output)[:, None])[:, 0]

    def __repr__(self) -> str:
        return f"Class({self.index!r})"

    def describe(self) -> str:
        return "the top class" if self.index is None else f"class {self.index}"


class Function(Target):
    """``fn(output)``: any function of the model's output that returns one score per input."""

    def __init__(self, fn: Callable[[Any], torch.Tensor]) -> None:
        self.fn = fn

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        value = self.fn(output)
        n = _batch(output)
        if not isinstance(value, torch.Tensor) or value.dim() > 2 or (n is not None and value.numel() != n):
            got = f"shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else type(value).__name__
            raise InputError(f"target function {getattr(self.fn, '__name__', self.fn)!r} returned {got}; it must "
                             f"return a tensor of one score per input (shape ({n},)) computed from the output.")
        return value.reshape(-1)

    def __repr__(self) -> str:
        return f"Function({getattr(self.fn, '__name__', self.fn)})"

    def describe(self) -> str:
        return f"target function {getattr(self.fn, '__name__', 'callable')}"


def _batch(output: Any) -> Optional[int]:
    if isinstance(output, (list, tuple)) and output and isinstance(output[0], Mapping):
        return len(output)
    value = _tensor(output, "logits", "out", "image_embeds", "pooler_output", "last_hidden_state")
    return None if value is None or value.dim() == 0 else value.shape[0]


def _detections_of(output: Any) -> bool:
    torchvision = isinstance(output, (list, tuple)) and bool(output) and all(
        isinstance(o, Mapping) and "boxes" in o and "scores" in o for o in output)
    return torchvision or first_field(output, "pred_boxes") is not None


def _xyxy(values: Any, what: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(v) for v in values)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be four numbers x0, y0, x1, y1 (pixels of the model's input), got "
                         f"{values!r}; e.g. --target box:10,10,50,60.") from None
    if not (x1 > x0 and y1 > y0):
        raise InputError(f"{what} ({x0:g}, {y0:g}, {x1:g}, {y1:g}) is empty: give x0 < x1 and y0 < y1 (the top-left "
                         "and bottom-right corners).")
    return x0, y0, x1, y1


def _label(label: Any, classes: Optional[Sequence[str]], what: str) -> Optional[int]:
    if label is None or isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        return None if label is None else int(label)
    try:
        return class_index(label, classes)
    except InputError as err:
        raise InputError(f"{what}: {err}") from None


class Box(Target):
    """The score of the prediction that best matches the box ``(x0, y0, x1, y1)`` (highest IoU; of ``label`` only,
    when given); ties go to the higher score. Detection outputs: torchvision lists of dicts (boxes, scores, labels)
    or DETR-like outputs (``.logits`` with a last no-object class, ``.pred_boxes`` as centre x, y, width, height in
    fractions of the input's ``size``)."""

    def __init__(self, x0: float, y0: float, x1: float, y1: float, label: Union[None, int, str] = None) -> None:
        self.box = _xyxy((x0, y0, x1, y1), "A box")
        self.label = label

    def resolve(self, classes: Optional[Sequence[str]]) -> "Box":
        return Box(*self.box, label=_label(self.label, classes, f"box label {self.label!r}"))

    def _predictions(self, output: Any, size: Size) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        if isinstance(output, (list, tuple)) and _detections_of(output):
            return [(o["boxes"], o["scores"], o.get("labels", torch.zeros_like(o["scores"]).long())) for o in output]
        boxes, logits = first_field(output, "pred_boxes"), _tensor(output, "logits")
        if boxes is None or logits is None:
            raise InputError(f"A box target needs a detection output (torchvision detection dicts, or .pred_boxes "
                             f"and .logits); the model returned {describe_inputs(output)}. For a classifier give a "
                             "class (--target 3); for segmentation a region (--target mask:CLASS).")
        if size is None:
            raise InputError("A box target on normalized boxes (.pred_boxes) needs the input's size=(height, width).")
        scores, labels = logits.softmax(-1)[..., :-1].max(-1)
        cx, cy, w, h = boxes.unbind(-1)
        scale = boxes.new_tensor([size[1], size[0], size[1], size[0]])
        xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1) * scale
        return list(zip(xyxy, scores, labels))

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        found = []
        for i, (boxes, scores, labels) in enumerate(self._predictions(output, size)):
            with torch.no_grad():
                iou = _iou(boxes.new_tensor(self.box), boxes.detach())
                if self.label is not None:
                    iou = torch.where(labels == self.label, iou, iou.new_tensor(-1.0))
                best = iou.max() if iou.numel() else iou.new_tensor(-1.0)
                tied = (iou == best) & (best > 0)
            if not bool(tied.any()):
                of = f" of label {self.label}" if self.label is not None else ""
                raise InputError(f"No prediction{of} overlaps {self.describe()} on input {i} ({len(scores)} "
                                 "predictions); check the box (pixels of the model's input) or lower the detector's "
                                 "score threshold (torchvision: box_score_thresh=).")
            found.append(torch.where(tied, scores, scores.new_tensor(-float("inf"))).max())
        return torch.stack(found)

    def __repr__(self) -> str:
        label = f", label={self.label!r}" if self.label is not None else ""
        return f"Box({', '.join(f'{v!r}' for v in self.box)}{label})"

    def describe(self) -> str:
        label = f" label {self.label}" if self.label is not None else ""
        return f"box {','.join(f'{v:g}' for v in self.box)}{label}"


def _iou(box: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """IoU of one box ``[4]`` with each of ``boxes`` ``[M, 4]`` (x0, y0, x1, y1)."""
    low, high = torch.maximum(box[:2], boxes[:, :2]), torch.minimum(box[2:], boxes[:, 2:])
    inter = (high - low).clamp(min=0).prod(1)
    area = lambda b: (b[..., 2] - b[..., 0]).clamp(min=0) * (b[..., 3] - b[..., 1]).clamp(min=0)  # noqa: E731
    return inter / (area(box) + area(boxes) - inter).clamp(min=1e-12)


class Mask(Target):
    """The summed logit of class ``cls`` inside a region: ``mask`` an H x W or N x H x W bool / 0-1 array, a
    rectangle ``(x0, y0, x1, y1)`` of the input, or None (everywhere). Segmentation outputs (N, classes, h, w): a
    tensor, ``{"out": ...}`` (torchvision) or ``.logits`` (SegFormer); logits of another size than the mask are
    resized to it (bilinear, as segmentation post-processing does)."""

    def __init__(self, mask: Any = None, cls: Union[int, str] = 0) -> None:
        if mask is None or isinstance(mask, tuple) and len(mask) == 4:
            self.mask = None if mask is None else _xyxy(mask, "A mask rectangle")
        else:
            values = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
            if values.dim() not in (2, 3) or values.numel() == 0:
                raise InputError(f"A mask must be H x W or N x H x W, got shape {tuple(values.shape)}; or give a "
                                 "rectangle (x0, y0, x1, y1), or None for the whole output.")
            values = values.float()
            if bool(((values < 0) | (values > 1)).any()):
                raise InputError("A mask's values must be bool or in 0..1 (1: inside the region).")
            self.mask = values
        self.cls = cls

    def resolve(self, classes: Optional[Sequence[str]]) -> "Mask":
        found = Mask(None, _label(self.cls, classes, f"mask class {self.cls!r}"))
        found.mask = self.mask
        return found

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        logits = _tensor(output, "out", "logits")
        if logits is None or logits.dim() != 4:
            raise InputError(f"A mask target needs a segmentation output (batch, classes, height, width); the model "
                             f"returned {describe_inputs(output)}. For a classifier give a class (--target 3); for "
                             "detection a box (--target box:X0,Y0,X1,Y1).")
        if isinstance(self.cls, str) or not 0 <= self.cls < logits.shape[1]:
            raise InputError(f"mask class {self.cls!r} is not one of the output's {logits.shape[1]} classes; give "
                             f"0..{logits.shape[1] - 1} or a class name.")
        if self.mask is None:
            return logits[:, self.cls].flatten(1).sum(1)
        if isinstance(self.mask, tuple):
            height, width = size if size is not None else logits.shape[-2:]
            x0, y0, x1, y1 = self.mask
            ys, xs = torch.arange(height) + 0.5, torch.arange(width) + 0.5  # pixel centres inside the rectangle
            mask = (((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None]).float()
        else:
            mask = self.mask
        if mask.dim() == 3 and mask.shape[0] not in (1, logits.shape[0]):
            raise InputError(f"The mask has {mask.shape[0]} masks for {logits.shape[0]} inputs; give one H x W mask "
                             "or one per input.")
        if tuple(logits.shape[-2:]) != tuple(mask.shape[-2:]):
            logits = F.interpolate(logits, size=tuple(mask.shape[-2:]), mode="bilinear", align_corners=False)
        return (logits[:, self.cls] * mask.to(logits)).flatten(1).sum(1)

    def __repr__(self) -> str:
        region = "everywhere" if self.mask is None else (self.mask if isinstance(self.mask, tuple)
                                                         else f"mask {tuple(self.mask.shape)}")
        return f"Mask({region}, cls={self.cls!r})"

    def describe(self) -> str:
        region = " everywhere" if self.mask is None else (f" in {','.join(f'{v:g}' for v in self.mask)}"
                                               if isinstance(self.mask, tuple) else " in the mask")
        return f"class {self.cls}{region}"


class Embedding(Target):
    """Cosine similarity of the output (an embedding per input: a tensor (N, D, ...), or ``.image_embeds`` /
    ``.pooler_output`` of a ModelOutput) to ``vector`` (D, or one per input N x D)."""

    def __init__(self, vector: Any) -> None:
        self.vector = torch.as_tensor(np.asarray(vector) if not isinstance(vector, torch.Tensor) else vector).float()
        if self.vector.dim() not in (1, 2) or self.vector.numel() == 0:
            raise InputError(f"An embedding target needs one vector (D) or one per input (N x D), got shape "
                             f"{tuple(self.vector.shape)}.")

    def score(self, output: Any, size: Size = None) -> torch.Tensor:
        found = _tensor(output, "image_embeds", "pooler_output", "embeddings")
        if found is None or found.dim() < 2:
            raise InputError(f"An embedding target needs an embedding per input; the model returned "
                             f"{describe_inputs(output)}. Give a target=callable that picks it from the output.")
        found = found.flatten(1)
        reference = self.vector.to(found).reshape(-1 if self.vector.dim() == 2 else 1, self.vector.shape[-1])
        if found.shape[1] != reference.shape[1]:
            raise InputError(f"The reference vector has {reference.shape[1]} values; the model's embedding has "
                             f"{found.shape[1]}. Give a vector of the model's embedding size.")
        return F.cosine_similarity(found, reference, dim=1)

    def __repr__(self) -> str:
        return f"Embedding({tuple(self.vector.shape)})"

    def describe(self) -> str:
        return "similarity to the reference embedding"


def _load(path: str, what: str) -> torch.Tensor:
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(f"{what} file {path!r} does not exist; give a .npy or .pt file.")
    if file.suffix == ".npy":
        return torch.as_tensor(np.load(file, allow_pickle=False))
    if file.suffix == ".pt":
        value = torch.load(file, map_location="cpu", weights_only=True)
        if isinstance(value, torch.Tensor):
            return value
    raise InputError(f"{what} file {path!r} must be a .npy array or a .pt file holding one tensor.")


def _name(text: str) -> Union[int, str]:
    return int(text) if text.strip().lstrip("-").isdigit() else text.strip()


def parse_target(text: str) -> Target:
    """The target the CLI's ``--target TEXT`` names (:data:`TARGET_FORMS`); a bad one is an InputError.

    >>> parse_target("3"), parse_target("class:box"), parse_target("mask:1:0,0,8,8")
    (Class(3), Class('box'), Mask((0.0, 0.0, 8.0, 8.0), cls=1))
    """
    text = str(text).strip()
    kind, sep, rest = text.partition(":")
    if not sep or kind not in ("class", "box", "mask", "embedding"):
        if sep and kind in ("boxes", "bbox", "region", "segment", "embed", "cls"):
            raise InputError(f"Unknown target kind {kind!r}.{did_you_mean(kind, ('class', 'box', 'mask', 'embedding'))}"
                             f" Use {_FIX}.")
        return Class(_name(text))
    if not rest:
        raise InputError(f"--target {text!r} names no {kind}; use {_FIX}.")
    if kind == "class":
        return Class(_name(rest))
    if kind == "embedding":
        return Embedding(_load(rest, "embedding"))
    parts = rest.split(":")
    if kind == "box":
        if len(parts) > 2:
            raise InputError(f"--target {text!r}: a box is box:X0,Y0,X1,Y1 or box:X0,Y0,X1,Y1:LABEL.")
        label = _name(parts[1]) if len(parts) == 2 else None
        return Box(*_xyxy(parts[0].split(","), f"--target {text!r}"), label=label)
    cls, region = _name(parts[0]), ":".join(parts[1:])
    if not region:
        return Mask(None, cls)
    if region.endswith((".npy", ".pt")):
        return Mask(_load(region, "mask"), cls)
    return Mask(_xyxy(region.split(","), f"--target {text!r}"), cls)


def check_target(target: Any) -> Any:
    """``target`` unchanged once a string's syntax is checked (class names are checked later, with the model)."""
    if isinstance(target, str):
        parse_target(target)
    return target


def as_target(target: Any, classes: Optional[Sequence[str]] = None) -> Target:
    """``target`` as a :class:`Target` with class names resolved by ``classes``: None (each input's top class), a
    class index or name, one index per input, a callable on the output, a Target, or a string of the CLI's."""
    if isinstance(target, Target):
        return target.resolve(classes)
    if isinstance(target, str):
        return parse_target(target).resolve(classes)
    if target is None or isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return Class(target).resolve(classes)
    if isinstance(target, (torch.Tensor, np.ndarray, list, tuple)):
        values = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target)
        if values.dtype.is_floating_point or values.dtype == torch.bool:
            raise InputError(f"target must be a class index or a class name, got {target!r}; or one class index per "
                             "input.")
        return Class(values)
    if callable(target):
        return Function(target)
    class_index(target, classes)  # raises: not a form of target
    raise InputError(f"target {target!r} is not a target.")
