"""``layerscope demo``: the offline tour (builtin trained vs untrained models: digits, and a photo network).

Example::

    layerscope demo --out layerscope-demo
"""

from __future__ import annotations

from ..demo.run import run_demo
from ._common import add_output_arguments, examples


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        **examples(
            'layerscope demo --out layerscope-demo   # then open layerscope-demo/start-here.png',
        ),
        help="run the offline demo: learned vs untrained feature maps, on digits and on a photo",
        description="Write channel grids of the builtin digits model and of the ImageNet-trained "
        "EfficientNet-Lite0 on a public-domain photo (layerscope[samples,pretrained]), each beside the same "
        "architecture untrained, and start-here.png, which puts them on one page. Needs no network. A second "
        "run replaces the demo's own earlier output (listed in demo.json), never other files.",
    )
    parser.add_argument("--out", default="layerscope-demo", help="output directory (default: %(default)s)")
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    run_demo(args.out, overwrite=args.overwrite)
    return 0
