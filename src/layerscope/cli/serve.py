"""``layerscope serve MODEL [IMAGES...]``: a local explorer in the browser (extra ``layerscope[serve]``).

Example::

    layerscope serve torchvision:resnet18 photos/          # then open http://127.0.0.1:8000
    layerscope serve builtin:digits --self-test            # start, answer one page and one analysis, stop

The server flags come from :class:`~layerscope.serve.ServeOptions` and
:class:`~layerscope.serve.Limits` (declared once, beside their fields).
"""

from __future__ import annotations

import json
import sys

from ._common import (
    add_layer_arguments,
    add_model_arguments,
    examples,
    layers_from_args,
    model_from_args,
    print_preprocessing,
)


def register(subparsers) -> None:
    from ..serve.options import ServeOptions
    from ..serve.uploads import Limits

    parser = subparsers.add_parser(
        "serve",
        **examples(
            'layerscope samples samples',
            'layerscope serve builtin:digits samples/ --self-test   # without --self-test: serves http://127.0.0.1:8000',
        ),
        help="a local web explorer: upload or pick images and videos, browse layers and channels, live camera",
        description="Serve a local web page (on 127.0.0.1 by default) for MODEL: pick or upload an image or "
        "a video, choose a layer, browse its channels (value under the cursor, overlay), see predictions "
        "and diagnostics, or stream the browser's camera live. The model is fixed here; the browser "
        "cannot load another. Runs until Ctrl-C.",
    )
    add_model_arguments(parser)
    parser.add_argument("images", metavar="IMAGES", nargs="*", help="images to offer as picks (besides the sample photos)")
    add_layer_arguments(parser)
    group = parser.add_argument_group("server")
    ServeOptions.add_flags(group)
    Limits.add_flags(group)
    group.add_argument("--self-test", action="store_true",
                       help="start on a free port, load the page and analyse one input over HTTP, print what it "
                       "measured and stop (checks an install; exits 0 when everything answered)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..io.find import find_images
    from ..run.subject import Subject
    from ..serve import DEFAULT_LIMITS, Limits, ServeOptions, self_test, serve

    options = ServeOptions.from_flags(args).replace(limits=Limits.from_flags(args, DEFAULT_LIMITS))
    loaded = model_from_args(args)
    print_preprocessing(loaded, sys.stderr)
    subject = Subject.of(loaded, layers_from_args(args))  # the model and its layers, resolved once
    images = find_images(args.images) if args.images else []
    if args.self_test:
        report = self_test(subject, images, options)
        print(f"layerscope explorer self-test: ok, {json.dumps(report)}")
        return 0
    serve(subject, images, options)
    return 0
