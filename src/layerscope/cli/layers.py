"""``layerscope layers MODEL``: every layer name, type, output shape and parameter count.

Example::

    layerscope layers torchvision:resnet18 --size 224
    layerscope layers builtin:digits --json
"""

from __future__ import annotations

import json
import sys

from ..capturing import list_layers
from ._common import add_model_arguments, examples, model_from_args, print_preprocessing

_DEPTH = 16  # frames of the zero clip fed to a model whose first convolution is 3-D


def example_input(module, preprocessing):
    """A zero batch of one that the model's first convolution accepts (1-D, 2-D or 3-D), at the model's size."""
    import torch
    import torch.nn as nn

    height, width = preprocessing.input_size or (224, 224)
    channels = preprocessing.channels
    first = next((m for m in module.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))), None)
    if first is not None:
        channels = first.in_channels
    if isinstance(first, nn.Conv1d):
        return torch.zeros(1, channels, width)
    if isinstance(first, nn.Conv3d):
        return torch.zeros(1, channels, _DEPTH, height, width)
    return torch.zeros(1, channels, height, width)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "layers",
        **examples(
            'layerscope layers builtin:digits',
            'layerscope layers torchvision:resnet18 --no-run | head -8',
        ),
        help="list a model's layers (names to pass to --layers), with output shapes",
        description="List every submodule of MODEL in execution order with its type, output shape and "
        "parameter count. The names are what --layers accepts (also globs, re:REGEX, type:Conv2d).",
    )
    add_model_arguments(parser)
    parser.add_argument("--no-run", action="store_true", help="list names and types only, without a forward pass")
    parser.add_argument("--leaves", action="store_true", help="only modules without children")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args) -> int:
    loaded = model_from_args(args)
    example = None if args.no_run else example_input(loaded.module, loaded.preprocessing)
    table = list_layers(loaded.module, example, leaves_only=args.leaves)
    if args.json:
        payload = {
            "model": loaded.spec,
            "weights": loaded.weights,
            "preprocessing": loaded.preprocessing.to_dict(),
            "input_shape": list(example.shape) if example is not None else None,
            "layers": table.to_dicts(),
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    shape = "x".join(map(str, example.shape)) if example is not None else "none (--no-run)"
    print(f"{loaded.spec}: {len(table)} modules, input {shape}")
    print_preprocessing(loaded, sys.stdout)
    print(table)
    return 0
