"""``layerscope layers MODEL``: every layer name, type, output shape and parameter count.

Example::

    layerscope layers torchvision:resnet18 --input-size 224
    layerscope layers builtin:digits --json
"""

from __future__ import annotations

import json
import sys

from ._common import add_model_arguments, model_from_args


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "layers",
        help="list a model's layers (names to pass to --layers), with output shapes",
        description="List every submodule of MODEL in execution order with its type, output shape and "
        "parameter count. The names are what --layers accepts (also globs, re:REGEX, type:Conv2d).",
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--input-size",
        type=int,
        metavar="N",
        help="run a zero input of N x N pixels to get output shapes (default: the model's input size, else 224)",
    )
    parser.add_argument("--no-run", action="store_true", help="list names and types only, without a forward pass")
    parser.add_argument("--leaves", action="store_true", help="only modules without children")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(run=run)


def run(args) -> int:
    import torch

    from ..capture import list_layers

    loaded = model_from_args(args)
    example = None
    if not args.no_run:
        if args.input_size:
            height = width = args.input_size
        else:  # a resize-only preprocessing (detection / segmentation weights) has no fixed size
            height, width = loaded.preprocessing.input_size or (224, 224)
        example = torch.zeros(1, loaded.preprocessing.channels, height, width)
    table = list_layers(loaded.module, example, leaves_only=args.leaves)
    if args.json:
        payload = {
            "model": loaded.spec,
            "input_shape": list(example.shape) if example is not None else None,
            "layers": table.to_dicts(),
        }
        json.dump(payload, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    shape = "x".join(map(str, example.shape)) if example is not None else "none (--no-run)"
    print(f"{loaded.spec}: {len(table)} modules, input {shape}")
    print(table)
    return 0
