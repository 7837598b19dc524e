"""``layerscope labels MODEL [--layers ...] --out DIR``: a label per channel from synthetic probes, or "no clear match".

Example::

    layerscope labels builtin:efficientnet_lite0 --layers bn1,blocks.1.0.bn2 --out labels
"""

from __future__ import annotations

from ..explain import LabelOptions, channel_labels
from ._common import (
    add_layer_arguments,
    add_model_arguments,
    add_output_arguments,
    examples,
    layers_from_args,
    model_from_args,
    print_preprocessing,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "labels",
        **examples(
            'layerscope labels builtin:digits --layers conv1 --out labels',
        ),
        help="a label per channel from synthetic probes (hues, gratings, checkerboards, dots, textures)",
        description="Run a fixed, seeded set of synthetic probes (uniform hues, oriented gratings, checkerboards, "
        "dots, colour-opponent edges, scikit-image's textures) through MODEL with its own preprocessing and label "
        "each channel of the chosen layers with the probe group that drives it most, its selectivity (a z-score "
        "against all groups) and runners-up; 'no clear match' when nothing stands out. Writes DIR/labels.json.",
    )
    add_model_arguments(parser)
    add_layer_arguments(parser)
    group = parser.add_argument_group("labels")
    LabelOptions.add_flags(group)  # --threshold --runners-up --seed --no-textures --batch-size --progress
    group.add_argument("--out", required=True, metavar="DIR", help="the folder for labels.json")
    add_output_arguments(group)
    parser.set_defaults(run=run)


def run(args) -> int:
    options = LabelOptions.from_flags(args)
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    found = channel_labels(loaded, layers_from_args(args), options=options)
    path = found.save(args.out, overwrite=args.overwrite)
    print(found.summary())
    for row in found.table():
        common = ", ".join(row["common"]) or "-"
        print(f"  {row['layer']}: {100 * row['labelled']:.0f}% of {row['channels']} labelled; most common: {common}")
    print(f"-> {path}")
    return 0
