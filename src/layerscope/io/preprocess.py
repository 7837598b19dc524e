"""What a model expects to see: resize, center crop, channels, mean and std, and where that came from.

>>> pre = Preprocessing()
>>> pre.describe()
'resize shorter side to 256 (bilinear), center-crop 224x224, RGB, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225) [ImageNet defaults]'
>>> pre.with_overrides(size=448).input_size
(448, 448)

Wrong preprocessing makes feature maps meaningless, so every model loaded by
:func:`layerscope.io.load_model` carries its :class:`Preprocessing`, and the CLI
prints and records it. The transform is PIL resize + center crop + scale to
[0, 1] + normalize, the same steps (and numbers) as torchvision's
``ImageClassification`` preset applied to a PIL image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from ..errors import InputError
from .images import to_rgb_or_l

__all__ = [
    "Preprocessing",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "first_conv_channels",
    "from_torchvision_weights",
    "from_timm_config",
    "from_hf_processor",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}

Size = Union[int, tuple[int, int]]


def _pair(value: Size) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _resized_hw(width: int, height: int, resize: Size) -> tuple[int, int]:
    """(H, W) after resizing; an int sets the shorter side (torchvision's rule, long side truncated)."""
    if not isinstance(resize, int):
        return _pair(resize)
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(resize * long / short)
    return (new_long, resize) if width <= height else (resize, new_long)


def _center_crop(image: Image.Image, crop: tuple[int, int]) -> Image.Image:
    """Center crop to (H, W), padding with zeros when the image is smaller (as torchvision does)."""
    crop_h, crop_w = crop
    width, height = image.size
    if crop_w > width or crop_h > height:
        canvas = Image.new(image.mode, (max(width, crop_w), max(height, crop_h)), 0)
        canvas.paste(image, ((crop_w - width) // 2 if crop_w > width else 0, (crop_h - height) // 2 if crop_h > height else 0))
        image, (width, height) = canvas, canvas.size
    top = int(round((height - crop_h) / 2.0))
    left = int(round((width - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))


def _fmt(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


@dataclass(frozen=True)
class Preprocessing:
    """Resize, center crop, channel count, mean and std for one model, plus their ``source``.

    >>> import PIL.Image
    >>> Preprocessing(resize=32, crop=(28, 28))(PIL.Image.new("RGB", (64, 48))).shape
    torch.Size([3, 28, 28])

    ``resize`` is the shorter side (int) or an exact (H, W); ``crop`` a center
    crop (H, W); ``None`` skips the step. ``channels`` is 3 (RGB) or 1 (L).
    """

    resize: Optional[Size] = 256
    crop: Optional[tuple[int, int]] = (224, 224)
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3
    interpolation: str = "bilinear"
    source: str = "ImageNet defaults"

    def __post_init__(self) -> None:
        if self.channels not in (1, 3):
            raise InputError(f"Preprocessing channels={self.channels!r} is not supported; use 1 (grayscale) or 3 (RGB).")
        for name in ("mean", "std"):
            values = tuple(float(v) for v in getattr(self, name))
            if len(values) != self.channels:
                raise InputError(
                    f"Preprocessing {name}={values} has {len(values)} values but channels={self.channels}; "
                    f"give one value per channel."
                )
            object.__setattr__(self, name, values)
        if any(s <= 0 for s in self.std):
            raise InputError(f"Preprocessing std={self.std} must be positive (it divides the pixel values).")
        if self.interpolation not in _RESAMPLE:
            raise InputError(
                f"Preprocessing interpolation={self.interpolation!r} is unknown; use one of {', '.join(_RESAMPLE)}."
            )
        if self.crop is not None:
            object.__setattr__(self, "crop", _pair(self.crop))
        if self.resize is not None and not isinstance(self.resize, int):
            object.__setattr__(self, "resize", _pair(self.resize))

    @property
    def input_size(self) -> Optional[tuple[int, int]]:
        """(H, W) of the tensor the model sees, or None when it depends on the image (no crop, int resize)."""
        if self.crop is not None:
            return self.crop
        if self.resize is not None and not isinstance(self.resize, int):
            return self.resize
        return None

    def seen_image(self, image: Image.Image) -> Image.Image:
        """The image the model sees, as a PIL image: converted, resized and center-cropped, before scaling
        and normalization (draw overlays on this, not on the original).

        An image already at the input size is used as it is (not resized up and cropped back).

        >>> Preprocessing().seen_image(Image.new("RGB", (640, 480))).size
        (224, 224)
        >>> Preprocessing(resize=32, crop=(28, 28)).seen_image(Image.new("L", (28, 28))).size
        (28, 28)
        """
        image, _ = to_rgb_or_l(image)
        image = image.convert("RGB" if self.channels == 3 else "L")
        if self.crop is not None and image.size == (self.crop[1], self.crop[0]):
            return image
        image = self._resize(image)
        if self.crop is not None:
            image = _center_crop(image, self.crop)
        return image

    def resized(self, image: Image.Image) -> Image.Image:
        """The image after the conversion and the resize alone, before the crop: all this preprocessing reads of
        it, so ``seen_image(resized(x))`` is ``seen_image(x)`` pixel for pixel (a smaller copy to keep of a large
        picture). Without a resize step the image comes back converted, at its size.

        >>> Preprocessing().resized(Image.new("RGBA", (6000, 4000))).size
        (384, 256)
        """
        image, _ = to_rgb_or_l(image)
        image = image.convert("RGB" if self.channels == 3 else "L")
        if self.crop is not None and image.size == (self.crop[1], self.crop[0]):
            return image  # used as it is, never resized (seen_image's rule)
        return self._resize(image)

    def _resize(self, image: Image.Image) -> Image.Image:
        if self.resize is None:
            return image
        height, width = _resized_hw(*image.size, self.resize)
        return image.resize((width, height), _RESAMPLE[self.interpolation])  # same size: Pillow returns a copy

    def __call__(self, image: Image.Image) -> torch.Tensor:
        """The (C, H, W) float32 tensor for one PIL image (any mode: alpha is composited onto white)."""
        image = self.seen_image(image)
        array = np.asarray(image, dtype=np.float32) / 255.0
        tensor = torch.from_numpy(array.reshape(image.size[1], image.size[0], self.channels).copy()).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        return ((tensor - mean) / std).contiguous()

    def pixels(self, inputs: torch.Tensor) -> Optional[np.ndarray]:
        """The other direction: model inputs back to the RGB pixels they show, as uint8 (normalization undone,
        clipped to [0, 1]; one channel repeated to three). ``(C, H, W)`` gives ``(H, W, 3)``, ``(N, C, H, W)``
        gives ``(N, H, W, 3)``. None when the tensor is not an image this preprocessing made (channels differ,
        or not floating point).

        >>> Preprocessing(mean=(0.5,), std=(0.5,), channels=1).pixels(torch.zeros(1, 2, 2))[0, 0].tolist()
        [128, 128, 128]
        >>> Preprocessing().pixels(torch.zeros(2, 3, 4, 4)).shape
        (2, 4, 4, 3)
        """
        if inputs.dim() not in (3, 4) or inputs.shape[-3] != self.channels or not inputs.is_floating_point():
            return None
        x = inputs.detach().to("cpu", torch.float32)
        mean = torch.tensor(self.mean, dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32).view(-1, 1, 1)
        x = torch.nan_to_num(x * std + mean, nan=0.0).clamp(0.0, 1.0)
        rgb = (x * 255.0).round().to(torch.uint8).movedim(-3, -1)
        if rgb.shape[-1] == 1:
            rgb = rgb.expand(*rgb.shape[:-1], 3)
        return np.ascontiguousarray(rgb.numpy())

    def describe(self) -> str:
        """One line for humans: every step and number, then the source in brackets."""
        steps = []
        if self.resize is None:
            steps.append("no resize")
        elif isinstance(self.resize, int):
            steps.append(f"resize shorter side to {self.resize} ({self.interpolation})")
        else:
            steps.append(f"resize to {self.resize[0]}x{self.resize[1]} ({self.interpolation})")
        if self.crop is not None:
            steps.append(f"center-crop {self.crop[0]}x{self.crop[1]}")
        steps.append("RGB" if self.channels == 3 else "grayscale (1 channel)")
        steps.append(f"mean {_fmt(self.mean)}, std {_fmt(self.std)}")
        return ", ".join(steps) + f" [{self.source}]"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able fields plus ``input_size`` and the ``describe()`` line."""
        as_list = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731
        return {
            "resize": as_list(self.resize),
            "crop": as_list(self.crop),
            "mean": list(self.mean),
            "std": list(self.std),
            "channels": self.channels,
            "interpolation": self.interpolation,
            "source": self.source,
            "input_size": as_list(self.input_size),
            "description": self.describe(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Preprocessing":
        """Inverse of :meth:`to_dict` (extra keys such as ``description`` are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in names}
        for key in ("resize", "crop"):
            if isinstance(kwargs.get(key), list):
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)

    def with_overrides(
        self,
        size: Optional[Size] = None,
        mean: Optional[Sequence[float]] = None,
        std: Optional[Sequence[float]] = None,
        grayscale: Optional[bool] = None,
    ) -> "Preprocessing":
        """A copy with the user's overrides; ``source`` says what was overridden.

        ``size`` is what the model sees (crop H, W); the resize keeps this
        preprocessing's resize/crop ratio (256/224 for ImageNet), applied to the
        longer crop side, so a non-square crop never pads the image. ``grayscale``
        switches to 1 channel (mean/std averaged) or back to 3 (repeated).
        """
        changes: dict[str, Any] = {}
        said = []
        channels = self.channels
        if grayscale is not None:
            channels = 1 if grayscale else 3
            if channels != self.channels:
                changes["channels"] = channels
                for name in ("mean", "std"):
                    old = getattr(self, name)
                    changes[name] = (sum(old) / len(old),) if channels == 1 else old * 3
                said.append("grayscale" if grayscale else "RGB")
        if size is not None:
            changes.update(self._sized(size))
            said.append(f"size {size}")
        for name, values in (("mean", mean), ("std", std)):
            if values is not None:
                values = tuple(float(v) for v in values)
                changes[name] = values * channels if len(values) == 1 else values
                said.append(f"{name} {_fmt(values)}")
        if not changes:
            return self
        changes["source"] = f"{self.source}; overridden: {', '.join(said)}"
        return dataclasses.replace(self, **changes)

    def _sized(self, size: Size) -> dict[str, Any]:
        """Crop to ``size``; the resize keeps its ratio to the crop and covers both crop sides (no padding)."""
        crop_h, crop_w = _pair(size)
        if crop_h <= 0 or crop_w <= 0:
            raise InputError(f"Preprocessing size {size!r} must be positive.")
        if self.resize is None:
            return {"crop": (crop_h, crop_w)}
        if not isinstance(self.resize, int):  # exact (H, W): scale each side by its own ratio
            old_h, old_w = self.crop or self.resize
            scale_h, scale_w = max(self.resize[0] / old_h, 1.0), max(self.resize[1] / old_w, 1.0)
            return {"resize": (math.ceil(crop_h * scale_h), math.ceil(crop_w * scale_w)), "crop": (crop_h, crop_w)}
        ratio = max(self.resize / max(self.crop), 1.0) if self.crop else 1.0
        # the shorter image side goes to this many pixels, so both sides of the image cover the longer crop side
        return {"resize": max(int(round(max(crop_h, crop_w) * ratio)), crop_h, crop_w), "crop": (crop_h, crop_w)}


def first_conv_channels(model: nn.Module) -> Optional[int]:
    """Input channels of the first convolution in ``model.modules()`` order, or None without one.

    >>> first_conv_channels(nn.Sequential(nn.Conv2d(1, 4, 3)))
    1
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            return module.in_channels
    return None


def from_torchvision_weights(weights: Any) -> Preprocessing:
    """Preprocessing from a torchvision weights enum's own ``transforms()`` (no download needed).

    >>> from torchvision.models import ResNet50_Weights
    >>> from_torchvision_weights(ResNet50_Weights.IMAGENET1K_V2).resize
    232
    """
    transform = weights.transforms()
    source = f"torchvision weights {type(weights).__name__}.{weights.name} ({type(transform).__name__})"
    resize = getattr(transform, "resize_size", None)
    crop = getattr(transform, "crop_size", None)
    mean = getattr(transform, "mean", None)
    interpolation = getattr(getattr(transform, "interpolation", None), "value", "bilinear")
    if mean is None:  # detection / optical flow: the model normalizes inside
        return Preprocessing(None, None, (0.0,) * 3, (1.0,) * 3, 3, interpolation, source + ", scaled to [0, 1] only")
    return Preprocessing(
        resize=None if resize is None else (resize[0] if len(resize) == 1 else tuple(resize)),
        crop=None if crop is None else _pair(crop[0] if len(crop) == 1 else tuple(crop)),
        mean=tuple(mean),
        std=tuple(transform.std),
        interpolation=interpolation if interpolation in _RESAMPLE else "bilinear",
        source=source,
    )


def from_timm_config(config: dict[str, Any], name: str) -> Preprocessing:
    """Preprocessing from ``timm.data.resolve_data_config`` output (timm's eval transform numbers).

    >>> from_timm_config({"input_size": (3, 224, 224), "crop_pct": 0.875, "interpolation": "bicubic",
    ...                   "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "crop_mode": "center"}, "x").resize
    256
    """
    channels, height, width = config["input_size"]
    crop_pct = float(config.get("crop_pct") or 1.0)
    scaled = (math.floor(height / crop_pct), math.floor(width / crop_pct))
    if config.get("crop_mode", "center") == "squash":
        resize: Size = scaled
    else:
        resize = scaled[0] if height == width else scaled
    interpolation = config.get("interpolation", "bilinear")
    mean, std = tuple(config["mean"]), tuple(config["std"])
    if channels == 1 and len(mean) == 3:
        mean, std = (sum(mean) / 3,), (sum(std) / 3,)
    return Preprocessing(
        resize=resize,
        crop=(height, width),
        mean=mean,
        std=std,
        channels=channels,
        interpolation=interpolation if interpolation in _RESAMPLE else "bicubic",
        source=f"timm data config ({name}, crop_pct {crop_pct})",
    )


_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for a dict, else ``obj.key`` (None when absent): a processor and its config read alike."""
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def from_hf_processor(processor: Any, name: str) -> tuple[Preprocessing, list[str]]:
    """Preprocessing from a Hugging Face image processor (or its ``preprocessor_config.json`` as a dict), and notes
    on what it cannot follow exactly.

    >>> pre, notes = from_hf_processor({"size": {"shortest_edge": 256}, "crop_size": {"height": 224, "width": 224},
    ...     "do_center_crop": True, "resample": 3, "rescale_factor": 1 / 255, "image_mean": [0.5] * 3,
    ...     "image_std": [0.5] * 3, "image_processor_type": "CLIPImageProcessor"}, "my-clip")
    >>> pre.describe()
    'resize shorter side to 256 (bicubic), center-crop 224x224, RGB, mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5) [Hugging Face preprocessor_config.json of my-clip (CLIPImageProcessor)]'

    ``size`` ``{"height", "width"}`` resizes to exactly that, ``{"shortest_edge"}`` sets the shorter side
    (ConvNeXt's ``crop_pct`` included: below 384 the shorter side goes to ``shortest_edge / crop_pct`` and
    the centre ``shortest_edge`` square is kept); ``rescale_factor`` and ``do_normalize`` fold into the mean and
    std over ``[0, 1]`` pixels. Resizing follows Pillow (the processor's PIL backend); the default torchvision
    backend resizes with antialiasing and differs by a few levels of 255 at most.
    """
    kind = _get(processor, "image_processor_type") or type(processor).__name__
    source = f"Hugging Face preprocessor_config.json of {name} ({kind})"
    notes: list[str] = []
    default = lambda key, value: value if _get(processor, key) is None else _get(processor, key)  # noqa: E731
    size, crop_size = _get(processor, "size") or {}, _get(processor, "crop_size") or {}
    height, width = _get(size, "height"), _get(size, "width")
    shortest, longest = _get(size, "shortest_edge"), _get(size, "longest_edge")
    resize: Optional[Size] = None
    crop: Optional[tuple[int, int]] = None
    if default("do_resize", True):
        if height and width:
            resize = (int(height), int(width))
        elif shortest:
            resize = int(shortest)
            crop_pct = _get(processor, "crop_pct")
            if crop_pct and "ConvNext" in kind:
                if resize < 384:
                    resize, crop = int(resize / float(crop_pct)), (resize, resize)
                else:
                    resize = (resize, resize)
            if longest:
                notes.append(f"{kind} caps the longer side at {longest} pixels; layerscope sets the shorter side to "
                             f"{shortest} only (give --size to fix the input size)")
        else:
            notes.append(f"{kind} size {dict(size) if isinstance(size, dict) else size} is not followed: images are "
                         f"used at their size (give --size)")
    if default("do_center_crop", False) and _get(crop_size, "height") and _get(crop_size, "width"):
        crop = (int(_get(crop_size, "height")), int(_get(crop_size, "width")))
    scale = float(default("rescale_factor", 1 / 255)) * 255.0 if default("do_rescale", True) else 255.0
    mean = tuple(default("image_mean", IMAGENET_MEAN)) if default("do_normalize", True) else (0.0, 0.0, 0.0)
    std = tuple(default("image_std", IMAGENET_STD)) if default("do_normalize", True) else (1.0, 1.0, 1.0)
    resample = _get(processor, "resample")
    resample = _PIL_RESAMPLE.get(int(getattr(resample, "value", resample)), "bilinear") if resample is not None else "bilinear"
    return Preprocessing(
        resize=resize,
        crop=crop,
        mean=tuple(float(m) / scale for m in mean),
        std=tuple(float(s) / scale for s in std),
        interpolation=resample,
        source=source,
    ), notes
