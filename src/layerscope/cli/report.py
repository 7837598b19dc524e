"""``layerscope report MODEL INPUTS... -o report.html``: one self-contained HTML file to open or share.

Example::

    layerscope report torchvision:resnet50 photos/ -o resnet50.html
    layerscope report builtin:digits digits/ --layers conv1,conv2 --views grid,diagnostics -o digits.html
"""

from __future__ import annotations

import sys

from ..render.options import RenderOptions
from ..reporting import REPORT_OPTIONS, ReportOptions, report
from ..scanning import load_stats
from ._common import (
    add_dictionary_argument,
    add_image_arguments,
    add_layer_arguments,
    add_model_arguments,
    add_output_arguments,
    add_render_arguments,
    examples,
    feed_from_args,
    model_from_args,
    print_preprocessing,
    print_skipped_summary,
    subject_from_args,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report",
        **examples(
            'layerscope samples samples',
            'layerscope report builtin:digits samples/digit_0*.png -o report.html',
        ),
        help="write one self-contained HTML report of a model's layers on a few inputs",
        description="Capture the chosen layers of MODEL on the inputs (side by side, at most 16) and write "
        "one HTML file: the model, the inputs with the predictions, the layers shallow to deep, the "
        "diagnostics and every layer's channels; click a channel to enlarge it. The file needs nothing "
        "else (pictures inlined, no network).",
    )
    add_model_arguments(parser)
    add_image_arguments(parser)
    add_layer_arguments(parser)
    add_dictionary_argument(parser)
    group = parser.add_argument_group("report")
    group.add_argument("-o", "--out", required=True, metavar="FILE.html", help="the HTML file to write")
    ReportOptions.add_flags(group)  # --views, --title: declared beside their fields
    group.add_argument("--stats", metavar="DIR", help="a `layerscope scan` result of the same model: each shown "
                       "channel's top dataset examples (receptive-field crops, checked against the scan) open with it")
    group.add_argument("--examples", type=int, default=6, metavar="K", dest="examples_per_channel",
                       help="dataset examples per channel with --stats (default 6)")
    add_output_arguments(group)
    draw = parser.add_argument_group("how grids are drawn (declared beside RenderOptions' fields)")
    add_render_arguments(draw, ["normalize", "percentiles", "cmap", "max_channels", "order"])
    parser.set_defaults(run=run)


def run(args) -> int:
    render = RenderOptions.from_flags(args, base=REPORT_OPTIONS)  # bad options fail before the model loads
    options = ReportOptions.from_flags(args)
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    feed = feed_from_args(args)
    subject = subject_from_args(args, loaded)
    if args.stats:
        options = options.replace(examples=load_stats(args.stats).report_examples(  # of the layers shown only
            subject.layers, channels=render.max_channels or 0, k=args.examples_per_channel, model=subject))
    result = report(subject, feed, out=args.out, options=options, render=render, overwrite=args.overwrite)
    for path, reason in feed.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print_skipped_summary(feed.count + len(feed.skipped), feed.skipped, sys.stderr)
    page = result.page
    verdict = f", diagnosis: {page.diagnosis.verdict}" if page.diagnosis is not None else ""
    print(f"wrote {result.path} ({result.size / 1e6:.2f} MB): {len(page.layers)} layers x {len(page.inputs)} inputs{verdict}")
    return 0
