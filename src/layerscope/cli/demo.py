"""``layerscope demo``: the offline tour (builtin trained vs untrained model, VGG16 on a photo).

Example::

    layerscope demo --out layerscope-demo
"""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the offline demo: learned vs untrained feature maps, VGG16 on a photo",
        description="Write channel grids of the builtin digits model (trained and untrained) and of a "
        "VGG16 on a public-domain photo. Needs no network.",
    )
    parser.add_argument("--out", default="layerscope-demo", help="output directory (default: %(default)s)")
    parser.add_argument("--overwrite", action="store_true", help="replace files of an earlier demo in --out")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..demo import run_demo

    run_demo(args.out, overwrite=args.overwrite)
    return 0
