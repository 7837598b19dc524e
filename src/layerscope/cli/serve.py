"""``layerscope serve MODEL [IMAGES...]``: a local explorer in the browser (extra ``layerscope[serve]``).

Example::

    layerscope serve torchvision:resnet18 photos/          # then open http://127.0.0.1:8000
    layerscope serve builtin:digits --self-test            # start, answer one page and one analysis, stop
"""

from __future__ import annotations

import json
import sys

from ._common import add_layer_arguments, add_model_arguments, layers_from_args, model_from_args, print_preprocessing


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
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
    group.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others print a warning)")
    group.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    group.add_argument("--max-upload-mb", type=float, default=50.0, metavar="MB", help="largest upload (default 50)")
    group.add_argument("--max-pixels", type=int, default=40_000_000, metavar="N",
                       help="largest image or video frame in pixels (default 40,000,000)")
    group.add_argument("--video-fps", type=float, default=1.0, metavar="FPS",
                       help="frames per second sampled from uploaded videos (default 1)")
    group.add_argument("--no-samples", dest="samples", action="store_false", help="do not offer the sample photos")
    group.add_argument("--self-test", action="store_true",
                       help="start on a free port, load the page and analyse one input over HTTP, print what it "
                       "measured and stop (checks an install; exits 0 when everything answered)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from ..errors import InputError
    from ..io.find import find_images
    from ..serve import Limits, self_test, serve

    if args.max_upload_mb <= 0 or args.max_pixels <= 0 or args.video_fps <= 0:
        raise InputError("--max-upload-mb, --max-pixels and --video-fps must be positive numbers.")
    limits = Limits(max_bytes=int(args.max_upload_mb * 2**20), max_pixels=args.max_pixels, video_fps=args.video_fps)
    loaded = model_from_args(args)
    print_preprocessing(loaded, sys.stderr)
    images = find_images(args.images) if args.images else []
    common = {"layers": layers_from_args(args), "images": images, "limits": limits, "samples": args.samples}
    if args.self_test:
        report = self_test(loaded, **common)
        print(f"layerscope explorer self-test: ok, {json.dumps(report)}")
        return 0
    serve(loaded, host=args.host, port=args.port, **common)
    return 0
