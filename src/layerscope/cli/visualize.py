"""``layerscope visualize MODEL --layer L --channels 0-15 --out DIR``: what each channel responds to most.

Example::

    layerscope visualize builtin:digits --layer conv2 --channels 0-7 --out what-conv2-wants
    layerscope visualize torchvision:resnet18 --layer layer2.0.conv1 --channels 3,9 --negative --out off
"""

from __future__ import annotations

import sys

from ..errors import InputError
from ..explain import VisualizeOptions, visualize
from ._common import (
    add_model_arguments,
    add_output_arguments,
    examples,
    model_from_args,
    print_preprocessing,
)


def parse_channels(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``; malformed text is an InputError naming the flag.

    >>> parse_channels("0-3,7")
    [0, 1, 2, 3, 7]
    """
    channels: list[int] = []
    try:
        for part in text.split(","):
            low, sep, high = part.strip().partition("-")
            channels.extend(range(int(low), int(high) + 1) if sep else [int(low)])
    except ValueError:
        raise InputError(f"--channels {text!r} is not a list of channel indices; write e.g. --channels 0-15 "
                         "or --channels 3,9,12") from None
    if not channels:
        raise InputError(f"--channels {text!r} selects no channel; write e.g. --channels 0-15")
    return channels


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "visualize",
        **examples(
            'layerscope visualize builtin:digits --layer conv1 --channels 0-3 --steps 16 --out wants',
        ),
        help="optimize an image per channel to show what the channel responds to (feature visualization)",
        description="Optimize one image per chosen channel of LAYER to maximize (or, with --negative, "
        "minimize) its mean activation, with a Fourier parameterization, decorrelated colour and small random "
        "transformations at each step. Writes OUT/channel-<C>.png, OUT/channels.png and OUT/index.json "
        "(objective curves included).",
    )
    add_model_arguments(parser)
    group = parser.add_argument_group("visualization")
    group.add_argument("--layer", required=True, metavar="NAME", help="the layer (see `layerscope layers MODEL`)")
    group.add_argument("--channels", default="0-7", metavar="LIST", help="channels, e.g. 0-15 or 3,9 (default 0-7)")
    VisualizeOptions.add_flags(group)  # --objective --negative --diversity --steps --resolution --seed
    group.add_argument("--out", required=True, metavar="DIR", help="output directory")
    add_output_arguments(group)
    parser.set_defaults(run=run)


def run(args) -> int:
    channels = parse_channels(args.channels)
    options = VisualizeOptions.from_flags(args)
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    result = visualize(loaded, args.layer, channels, options=options)
    out = result.save(args.out, overwrite=args.overwrite)
    written = len(result.channels) + 2
    per_channel = result.seconds / len(result.channels)
    print(f"{result.layer}: {len(result.channels)} channels, {result.curves.shape[0]} steps, "
          f"{result.seconds:.1f} s ({per_channel:.1f} s per channel)")
    for channel, start, end in zip(result.channels, result.curves[0].tolist(), result.curves[-1].tolist()):
        print(f"  channel {channel}: objective {start:.3g} -> {end:.3g}")
    print(f"wrote {written} files to {out}", file=sys.stdout)
    return 0


