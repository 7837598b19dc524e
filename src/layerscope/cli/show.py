"""``layerscope show MODEL IMAGES... --out DIR``: channel grids of chosen layers as PNG files.

Example::

    layerscope show torchvision:resnet18 cat.jpg --layers conv1,layer1.0.conv1 --out maps --labels
    layerscope show torchvision:vgg16 photos/ --atlas --out atlas      # every channel, default layers
    layerscope show builtin:efficientnet_lite0 cat.jpg --view overlay,progression --out views
    layerscope show builtin:efficientnet_lite0 cat.jpg --rank importance --target tabby --view grid,importance --out why
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError
from ..io.video import is_video_path
from ..render.options import (
    RenderOptions,
    _pair,  # noqa: F401  (cli/report.py imports it from here until it generates its flags)
)
from ..run.options import OutputOptions, RunOptions
from ..showing.api import DEFAULT_OPTIONS, show
from ..showing.options import ShowOptions
from ..showing.video import show_video
from ._common import (
    add_dictionary_argument,
    add_image_arguments,
    add_layer_arguments,
    add_model_arguments,
    add_option_flags,
    add_output_arguments,
    add_render_arguments,
    add_run_arguments,
    examples,
    feed_from_args,
    layers_from_args,
    model_from_args,
    print_preprocessing,
    print_skipped_summary,
    subject_from_args,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "show",
        **examples(
            'layerscope samples samples',
            'layerscope show builtin:digits samples/digit_0*.png --layers conv1,conv2 --out maps',
        ),
        help="render channel grids of chosen layers for some images (PNG files + index.json)",
        description="Capture the chosen layers of MODEL on each image and write one channel grid per "
        "(layer, image) to OUT/<image>/<NN>_<layer>.png, with OUT/index.json describing the model, "
        "preprocessing, layers and normalization. Unreadable images are skipped and listed.",
    )
    add_model_arguments(parser)
    add_image_arguments(parser)
    add_layer_arguments(parser)
    add_dictionary_argument(parser)
    group = parser.add_argument_group("what to draw (ShowOptions)")
    group.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    add_option_flags(group, ShowOptions)
    _add_render_arguments(parser.add_argument_group("how grids are drawn (RenderOptions)"))
    running = parser.add_argument_group("the run (RunOptions, OutputOptions)")
    add_run_arguments(running, "batch_size", "workers", "progress", "long_after")  # --device, --strict ... are model/image flags
    add_output_arguments(running)
    _add_video_arguments(parser.add_argument_group("video inputs (.mp4, .webm, .mov ...; needs layerscope[video])"))
    parser.set_defaults(run=run)


def _add_video_arguments(group) -> None:
    group.add_argument("--fps", type=float, default=1.0, help="frames sampled per second of video (default 1)")
    group.add_argument("--animate", metavar="LAYER", help="the layer of the filmstrip and animation (default: the first)")
    group.add_argument("--animation", choices=("webp", "gif"), default="webp", help="animation format (default webp)")


def _run_videos(args, options: RenderOptions, shown: ShowOptions, run_options: RunOptions) -> int:
    """Videos among IMAGES: each is sampled at --fps and shown frame by frame (see layerscope.video)."""

    videos = [item for item in args.images if is_video_path(item)]
    if len(videos) != len(args.images):
        raise InputError("Give either videos or images to one `layerscope show`, not both; run it once for each.")
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    for video in videos:
        out = Path(args.out) if len(videos) == 1 else Path(args.out) / Path(video).stem
        result = show_video(loaded, video, layers_from_args(args), out, fps=args.fps, animate=args.animate,
                            animation=args.animation, options=options, show=shown, run=run_options,
                            overwrite=getattr(args, "overwrite", False))
        print(f"{video}: {len(result.frames)} frames at {args.fps:g} fps -> {out}/ (per-frame grids, "
              f"{result.filmstrip.name}, {result.animation.name} of {result.layer}, {result.info.name})")
    return 0


def _add_render_arguments(group) -> None:
    """The flags of :class:`~layerscope.render.RenderOptions` (a flag left out keeps the field of show's
    :data:`~layerscope.showing.api.DEFAULT_OPTIONS`), and --atlas, the CLI's name for ``--max-channels 0``."""
    add_render_arguments(group)
    group.add_argument("--atlas", dest="max_channels", action="store_const", const=0, default=argparse.SUPPRESS,
                       help=f"every channel of every selected layer (same as --max-channels 0; default "
                       f"{DEFAULT_OPTIONS.max_channels} channels)")


def run(args) -> int:
    # bad options fail before the model loads
    options = RenderOptions.from_flags(args, base=DEFAULT_OPTIONS)
    shown, run_options, output = ShowOptions.from_flags(args), RunOptions.from_flags(args), OutputOptions.from_flags(args)
    if any(is_video_path(item) for item in args.images):
        return _run_videos(args, options, shown, run_options)
    feed_from_args(args).check()  # missing files fail before a model is built or downloaded
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    result = show(subject_from_args(args, loaded), list(args.images), None, output, options=options,
                  run=run_options, show=shown)
    for entry in result.inputs:
        for note in entry["notes"]:
            print(f"  {entry['source']}: {note}", file=sys.stderr)
    for path, reason in result.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print_skipped_summary(len(result.inputs) + len(result.skipped), result.skipped, sys.stderr)
    for name, reason in result.skipped_layers:
        print(f"skipped layer {name}: {reason}", file=sys.stderr)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for finding in result.input_findings:
        if finding.severity in ("error", "warning"):
            print(f"input {finding.severity}: {finding.code}: {finding.message} Fix: {finding.fix}", file=sys.stderr)
    layers = [row["name"] for row in result.layers]
    named = ", ".join(layers) if len(layers) <= 12 else f"{', '.join(layers[:6])} ... {layers[-1]} ({len(layers)})"
    print(f"normalization: {result.options.normalize}; layers: {named or 'none'}")
    pictures, count, inputs = len(result.written) - 1, len(result.layers), len(result.inputs)
    print(f"wrote {pictures} PNG files ({', '.join(result.views)}; {count} layer{'s' * (count != 1)} x {inputs} "
          f"input{'s' * (inputs != 1)}) and {result.index}")
    for entry in result.inputs:
        guess = f"; predicted: {entry['prediction']}" if entry.get("prediction") else ""
        target = entry.get("importance_target")
        guess += f"; importance for {'class ' * isinstance(target, int)}{target}" if target is not None else ""
        print(f"  {entry['source']} -> {args.out}/{entry['name']}/{guess}")
    return 0
