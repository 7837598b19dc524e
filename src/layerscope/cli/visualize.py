"""``layerscope visualize MODEL --layer L --channels 0-15 --out DIR``: what each channel responds to most.

Example::

    layerscope visualize builtin:digits --layer conv2 --channels 0-7 --out what-conv2-wants
    layerscope visualize torchvision:resnet18 --layer layer2.0.conv1 --channels 3,9 --negative --out off
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ._common import add_model_arguments, model_from_args, print_preprocessing


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


def add_optimization_arguments(group) -> None:
    """--steps and --seed of the feature visualization (``visualize``, ``card``)."""
    group.add_argument("--steps", type=int, metavar="N", help="optimization steps (default 128 on CPU, 512 on GPU)")
    group.add_argument("--seed", type=int, default=0, help="random seed of the optimization (default 0)")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "visualize",
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
    group.add_argument("--objective", choices=("channel", "neuron"), default="channel",
                       help="channel: mean activation (default); neuron: the centre position")
    group.add_argument("--negative", action="store_true", help="what turns the channel off instead")
    group.add_argument("--diversity", type=float, default=0.0, metavar="W", help="push the images apart (e.g. 0.5)")
    add_optimization_arguments(group)
    group.add_argument("--resolution", type=int, metavar="PX", help="optimized resolution (default min(128, size))")
    group.add_argument("--out", required=True, metavar="DIR", help="output directory")
    group.add_argument("--overwrite", action="store_true", help="replace files of an earlier run in --out")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..explain import visualize
    from ..explain.files import save_visualization

    channels = parse_channels(args.channels)
    if args.steps is not None and args.steps < 1:
        raise InputError(f"--steps {args.steps} must be at least 1")
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    result = visualize(loaded, args.layer, channels, objective=args.objective, negative=args.negative,
                       diversity=args.diversity, steps=args.steps, size=args.resolution, seed=args.seed)
    written = save_visualization(result, Path(args.out), overwrite=args.overwrite, model=loaded.to_dict())
    per_channel = result.seconds / len(result.channels)
    print(f"{result.layer}: {len(result.channels)} channels, {result.curves.shape[0]} steps, "
          f"{result.seconds:.1f} s ({per_channel:.1f} s per channel)")
    for channel, start, end in zip(result.channels, result.curves[0].tolist(), result.curves[-1].tolist()):
        print(f"  channel {channel}: objective {start:.3g} -> {end:.3g}")
    print(f"wrote {len(written)} files to {args.out}", file=sys.stdout)
    return 0


