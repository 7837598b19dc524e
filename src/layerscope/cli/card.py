"""``layerscope card MODEL [IMAGES...] --layer L --channel C [--stats DIR] --out card.png``: one channel's card.

Example::

    layerscope scan builtin:efficientnet_lite0 samples --out scan
    layerscope card builtin:efficientnet_lite0 samples/*.png --layer blocks.1 --channel 5 --stats scan --out card.png
"""

from __future__ import annotations

from pathlib import Path

from ..explain import CardOptions, card
from ._common import (
    add_image_arguments,
    add_model_arguments,
    add_output_arguments,
    examples,
    feed_from_args,
    model_from_args,
    print_preprocessing,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "card",
        **examples(
            'layerscope samples samples',
            'layerscope card builtin:digits samples/digit_00_label0.png --layer conv2 --channel 5 --steps 16 --out card.png',
        ),
        help="one PNG per channel: its visualization, top dataset examples, statistics, flags and importance",
        description="Draw the card of one channel of LAYER: its feature visualization; with --stats (a folder "
        "written by `layerscope scan`), its top dataset examples as receptive-field crops and its statistics over "
        "the scanned data; with IMAGES (given right after MODEL), the diagnosis flags that name it and its "
        "importance for each image.",
    )
    add_model_arguments(parser)
    add_image_arguments(parser, required=False)
    group = parser.add_argument_group("card")
    group.add_argument("--layer", required=True, metavar="NAME", help="the layer (see `layerscope layers MODEL`)")
    group.add_argument("--channel", required=True, type=int, metavar="C", help="the channel index")
    group.add_argument("--stats", metavar="DIR", help="a scan result (from `layerscope scan`) for examples and statistics")
    CardOptions.add_flags(group)  # --examples --target --steps --seed
    group.add_argument("--labels", action="store_true", help="add the channel's label from the synthetic probe "
                       "set ('responds to: grating 45°, 8 px (selectivity 5.1)'; see `layerscope labels`)")
    group.add_argument("--out", required=True, metavar="FILE", help="the PNG to write (FILE.png), or a folder for "
                       "card.png and card.json")
    add_output_arguments(group)
    parser.set_defaults(run=run)


def run(args) -> int:
    feed = feed_from_args(args).check() if args.images else None  # missing files fail before the model loads
    options = CardOptions.from_flags(args)
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    found = card(loaded, args.layer, args.channel, stats=args.stats, images=feed, options=options,
                 labels=args.labels or None)
    save = found.save_png if Path(args.out).suffix.lower() == ".png" else found.save
    path = save(args.out, overwrite=args.overwrite)
    print(f"{found!r} -> {path}")
    if found.label is not None:
        print(f"  {found.label.line()}")
    for row in found.importance or []:
        print(f"  {row['input']}: importance {row['importance']:.4g} for "
              f"{'class ' * isinstance(row['target'], int)}{row['target']}, "
              f"rank {row['rank']} of {row['channels']}")
    return 0
