"""Hugging Face ``transformers`` models saved with ``save_pretrained`` in a local folder (``hf:FOLDER`` specs).

>>> hf_folder("google/vit-base-patch16-224")
Traceback (most recent call last):
...
layerscope.errors.ModelSpecError: hf:google/vit-base-patch16-224 is not a local folder: layerscope loads Hugging Face models only from a folder written by save_pretrained (local_files_only, never a download). ...

Nothing is downloaded: the folder is read with ``local_files_only=True``, its weights with transformers' safe
loaders (safetensors, or ``torch.load(weights_only=True)``); a folder whose config asks for its own code
(``auto_map``) or whose ``.bin`` weights hold objects needs ``trust_checkpoint=True`` (CLI: ``--trust-checkpoint``). The head is the one the config's
``architectures`` names (image classification, semantic segmentation, object detection; else the bare model);
a CLIP-like checkpoint (a ``vision_model`` and ``get_image_features``) becomes its vision tower,
:class:`VisionEmbedding`, whose output is the image embedding.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any, Optional

import torch
import torch.nn as nn

from ..errors import ModelSpecError, UnsafeCheckpointError, require
from .preprocess import Preprocessing, from_hf_processor

__all__ = ["hf_folder", "load_hf_model", "hf_preprocessing", "VisionEmbedding", "TASKS"]

# what a model's output is, for the verbs that read it (predictions only for "classification")
TASKS = ("classification", "segmentation", "detection", "embedding", "features")
_HEADS = (  # (task, name of the Auto class, name of its mapping in transformers.models.auto.modeling_auto)
    ("classification", "AutoModelForImageClassification", "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES"),
    ("segmentation", "AutoModelForSemanticSegmentation", "MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES"),
    ("detection", "AutoModelForObjectDetection", "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES"),
)


def _transformers() -> Any:
    return require("transformers", "hf", "hf: model specs")


def _fix(name: str) -> str:
    return (
        f"Download it once yourself and save it to a folder: python -c \"from transformers import AutoModel, "
        f"AutoImageProcessor; AutoModel.from_pretrained('{name}').save_pretrained('my-model'); "
        f"AutoImageProcessor.from_pretrained('{name}').save_pretrained('my-model')\" (use the task's class, e.g. "
        f"AutoModelForImageClassification, to keep its head), then give hf:my-model."
    )


def hf_folder(name: str) -> str:
    """The folder ``hf:NAME`` names, or a ModelSpecError at once (no network) saying how to make one."""
    name = name.strip()
    if not name:
        raise ModelSpecError("Model spec hf: names no folder; write hf:FOLDER (a folder written by save_pretrained).")
    if not os.path.isdir(name):
        if os.path.exists(name):
            raise ModelSpecError(f"hf:{name} is a file; hf: takes the folder save_pretrained wrote (config.json inside).")
        raise ModelSpecError(
            f"hf:{name} is not a local folder: layerscope loads Hugging Face models only from a folder written by "
            f"save_pretrained (local_files_only, never a download). {_fix(name)}"
        )
    if not os.path.isfile(os.path.join(name, "config.json")):
        raise ModelSpecError(
            f"hf:{name} has no config.json, so it is not a folder written by save_pretrained; give the folder that "
            f"holds config.json and the weights (model.safetensors)."
        )
    return name


def _config_json(folder: str) -> dict[str, Any]:
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise ModelSpecError(f"hf:{folder}: config.json cannot be read ({err}).") from None


def _check_code(folder: str, trust: bool) -> None:
    """UnsafeCheckpointError when the folder's config asks for code of its own and ``trust`` is False."""
    if trust:
        return
    for file in ("config.json", "preprocessor_config.json"):
        path = os.path.join(folder, file)
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("auto_map"):
            raise UnsafeCheckpointError(
                f"hf:{folder}: {file} names code of its own (auto_map: {', '.join(data['auto_map'])}), which would run "
                f"when loaded (trust_remote_code). Load it only if you trust where it came from: "
                f"trust_checkpoint=True (CLI: --trust-checkpoint)."
            )


def _names(mapping: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for value in mapping.values():
        found.update(value if isinstance(value, (tuple, list)) else (value,))
    return found


def _head(architecture: Optional[str], auto_map: dict[str, Any]) -> tuple[str, str]:
    """(task, Auto class name) for the class the config's ``architectures`` names (its own code's too)."""
    auto = _transformers().models.auto.modeling_auto
    for task, cls, mapping in _HEADS:
        if architecture and architecture in _names(getattr(auto, mapping, {})):
            return task, cls
        if architecture and str(auto_map.get(cls, "")).rpartition(".")[2] == architecture:
            return task, cls
    return "features", "AutoModel"


class VisionEmbedding(nn.Module):
    """The vision tower of a CLIP-like model: pixels in, the image embedding out (``get_image_features``).

    Its submodules keep the Hugging Face names (``vision_model.encoder.layers.0``, ``visual_projection``).
    """

    def __init__(self, vision_model: nn.Module, visual_projection: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.vision_model = vision_model
        self.visual_projection = visual_projection

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        pooled = self.vision_model(pixel_values=pixel_values).pooler_output
        return pooled if self.visual_projection is None else self.visual_projection(pooled)


def load_hf_model(folder: str, trust: bool = False) -> tuple[nn.Module, str, Optional[tuple[str, ...]], list[str]]:
    """``(module, task, classes, notes)`` for a ``save_pretrained`` folder (see the module's docstring)."""
    transformers = _transformers()
    _check_code(folder, trust)
    data = _config_json(folder)
    architecture = (data.get("architectures") or [None])[0]
    task, cls = _head(architecture, data.get("auto_map") or {})
    bar = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # a local folder loads in a blink: no "Loading weights" bar
    try:
        module = getattr(transformers, cls).from_pretrained(folder, local_files_only=True, trust_remote_code=trust,
                                                            weights_only=not trust)
    except pickle.UnpicklingError:
        raise UnsafeCheckpointError(
            f"hf:{folder}: its pytorch_model.bin holds more than weights (objects that run code when unpickled). "
            f"Save it again as safetensors (model.save_pretrained(folder) writes model.safetensors), or, only if you "
            f"trust where it came from, load it with trust_checkpoint=True (CLI: --trust-checkpoint)."
        ) from None
    except Exception as err:
        raise ModelSpecError(f"transformers could not load hf:{folder} with {cls} ({type(err).__name__}: {err}).") from None
    finally:
        if bar:
            transformers.utils.logging.enable_progress_bar()
    notes = [f"Hugging Face {type(module).__name__} from {folder} ({cls}, local files only)"]
    if task == "features" and hasattr(module, "get_image_features") and isinstance(getattr(module, "vision_model", None), nn.Module):
        module = VisionEmbedding(module.vision_model, getattr(module, "visual_projection", None))
        task = "embedding"
        notes.append(f"{architecture or 'multimodal model'}: vision tower only, output = image embedding")
    classes = None
    labels = getattr(module.config, "id2label", None) if task in ("classification", "segmentation", "detection") else None
    if labels:
        classes = tuple(str(labels[i]) for i in range(len(labels)))
    return module, task, classes, notes


def hf_preprocessing(folder: str, trust: bool = False) -> tuple[Optional[Preprocessing], list[str]]:
    """The image processor's preprocessing (None and a note when the folder has no ``preprocessor_config.json``)."""
    if not os.path.isfile(os.path.join(folder, "preprocessor_config.json")):
        return None, [f"hf:{folder} has no preprocessor_config.json: ImageNet-default preprocessing assumed "
                      f"(save the image processor with save_pretrained too, or give --size/--mean/--std)"]
    transformers = _transformers()
    _check_code(folder, trust)
    try:
        processor = transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True, trust_remote_code=trust)
    except Exception as err:
        raise ModelSpecError(f"transformers could not read hf:{folder}/preprocessor_config.json "
                             f"({type(err).__name__}: {err}).") from None
    return from_hf_processor(processor, folder)
