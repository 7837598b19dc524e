"""``layerscope compare MODEL_A MODEL_B IMAGES...``: how alike two models' layers are on the same images.

Example::

    layerscope compare builtin:digits builtin:digits:untrained digits/
    layerscope compare my.models:net my.models:net photos/ --checkpoint-a epoch1.safetensors \\
        --checkpoint-b epoch9.safetensors --json
    layerscope compare torchvision:resnet18 torchvision:vgg11 photos/ --pairs conv1=features.0 --out cmp
    layerscope compare builtin:digits builtin:digits clean/ --inputs-b blurred/     # one model, two input sets

Prints per layer pair the linear CKA (debiased HSIC), the cosine similarity and relative L2 of
the maps, and how many channels moved; ``--json`` prints the same as JSON; ``--out`` also writes
the CKA heat map and the matched channels side by side.
"""

from __future__ import annotations

import argparse
import sys

from ..comparison import CompareOptions, compare
from ..errors import InputError
from ..run import RunOptions
from ._common import (
    add_image_arguments,
    add_layer_arguments,
    add_model_pair_arguments,
    add_output_arguments,
    examples,
    feed_from_args,
    layers_from_args,
    models_from_args,
    print_image_notes,
    print_preprocessing,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare",
        **examples(
            'layerscope samples samples',
            'layerscope compare builtin:digits builtin:digits:untrained samples/digit_*.png --out compare',
        ),
        help="compare two models or checkpoints layer by layer (CKA, cosine, relative L2, matched channels)",
        description="Run MODEL_A and MODEL_B on the same IMAGES and compare each pair of layers: linear CKA "
        "(debiased HSIC of centred features, summed over blocks of 32 inputs whatever the batch size), cosine "
        "similarity and relative L2 distance of the maps (A is the reference), and the channels matched across the two by correlation. Layers with the same name are "
        "paired; --pairs pairs layers of two different architectures. At least 4 images.",
    )
    add_model_pair_arguments(parser)
    add_image_arguments(parser)
    add_layer_arguments(parser)
    group = parser.add_argument_group("comparison")
    group.add_argument("--layers-b", metavar="SPEC", action="append",
                       help="layers of MODEL_B when they differ from --layers (same syntax)")
    group.add_argument("--pairs", metavar="A=B", action="append", default=[],
                       help="pair layer A of MODEL_A with layer B of MODEL_B (repeat or separate with commas), "
                       "e.g. --pairs conv1=features.0; also selects those layers")
    group.add_argument("--inputs-b", metavar="IMAGES", nargs="+",
                       help="a second set of images for MODEL_B, paired one by one with IMAGES (same count)")
    group.add_argument("--no-match", action="store_true", help="skip matching channels (faster on big layers)")
    group.add_argument("--json", action="store_true", help="print JSON (per layer pair: cka, cosine, rel_l2, match)")
    group.add_argument("--out", metavar="DIR", help="also write DIR/compare.json, DIR/heatmap.png and "
                       "DIR/matched/<NN>_<layer>.png (matched channels side by side)")
    add_output_arguments(group)
    group.add_argument("--batch-size", type=int, default=32, metavar="N", help="images per forward pass (default 32)")
    parser.set_defaults(run=run)


def _pairs(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in (part.strip() for value in items for part in value.split(",")):
        a, sep, b = item.partition("=")
        if not sep or not a.strip() or not b.strip():
            raise InputError(f"--pairs {item!r} must be LAYER_A=LAYER_B, e.g. --pairs conv1=features.0")
        pairs.append((a.strip(), b.strip()))
    return pairs


def run(args) -> int:

    loaded_a, loaded_b = models_from_args(args)
    info = sys.stderr if args.json else sys.stdout
    for label, loaded in (("A", loaded_a), ("B", loaded_b)):
        print(f"{label}: ", end="", file=info)
        print_preprocessing(loaded, info)
    feed = feed_from_args(args, args.batch_size)
    second = argparse.Namespace(**{**vars(args), "images": args.inputs_b, "layers": args.layers_b})
    feed_b = feed_from_args(second, args.batch_size) if args.inputs_b else None
    layers_b = layers_from_args(second)
    options = CompareOptions(pairs=_pairs(args.pairs), layers_b=layers_b, match=not args.no_match)
    result = compare(loaded_a, loaded_b, feed, layers_from_args(args), inputs_b=feed_b, options=options,
                     run=RunOptions(batch_size=args.batch_size))
    print_image_notes(feed.images, feed.skipped)
    print(result.to_json() if args.json else result.summary())
    if args.out:
        out = result.save(args.out, overwrite=args.overwrite)
        print(f"wrote {out}/compare.json, heatmap.png and matched/", file=info)
    return 0
