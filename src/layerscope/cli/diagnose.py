"""``layerscope diagnose MODEL IMAGES...``: input checks, a verdict per layer, the model tendency.

Example::

    layerscope diagnose builtin:digits digits/*.png
    layerscope diagnose torchvision:resnet18 photos/ --layers "layer*.conv1" --json
    layerscope diagnose my.models:net photos/ --checkpoint ckpt.safetensors --fail-on "dead>0.2 or verdict==bad"
    layerscope diagnose --stats scan-out        # dataset-level dead / rarely active channels of a `layerscope scan`

Exit codes: 0 diagnosed (whatever the verdict), 3 the --fail-on gate holds ("diagnosis failed
the gate", for CI and training pipelines), 2 bad usage or input, 1 internal error.
"""

from __future__ import annotations

import sys

from ..diagnosis import diagnose
from ..diagnosis.expr import FIELDS, parse_gate
from ..diagnosis.options import DIAGNOSE_RUN, DiagnoseOptions
from ._common import (
    add_dictionary_argument,
    add_image_arguments,
    add_layer_arguments,
    add_model_arguments,
    add_run_arguments,
    examples,
    feed_from_args,
    model_from_args,
    print_image_notes,
    print_preprocessing,
    print_skipped_summary,
    run_options_from_args,
    subject_from_args,
)
from ._stats import add_stats_arguments, stats_findings, with_findings

GATE_FAILED = 3


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "diagnose",
        **examples(
            'layerscope samples samples',
            'layerscope diagnose builtin:digits samples/digit_*.png --fail-on "dead>20%"   # exit 3 when it fails',
        ),
        help="judge each layer's feature maps (dead / uniform / noisy / saturated channels) and check the inputs",
        description="Run MODEL on IMAGES and judge every selected layer: dead, uniform, noisy, saturated and "
        "NaN/Inf channels, activation scale, effective rank, and a verdict (good / suspicious / bad) with the "
        "reason. Input mistakes (range, normalization or size differing from the model's own, BGR order, upscaled, "
        "grayscale, blank or noise images) are reported first. "
        f"Exit code {GATE_FAILED} when --fail-on holds, 2 on bad input.",
    )
    add_model_arguments(parser, required=False)
    add_image_arguments(parser, required=False)
    add_layer_arguments(parser)
    add_dictionary_argument(parser)
    group = parser.add_argument_group("diagnosis")
    group.add_argument("--json", action="store_true", help="print machine-readable JSON instead of the table "
                       "(with the model spec, weights, preprocessing and skipped files)")
    group.add_argument("--per-channel", action="store_true", help="with --json: include every per-channel number")
    group.add_argument(
        "--fail-on", metavar="EXPR",
        help=f"exit with code {GATE_FAILED} when EXPR holds for any layer, e.g. \"dead>0.2\", \"noisy>0.5 or "
        f"verdict==bad\", \"uniform>=30%%, inputs>0\"; fields: {', '.join(FIELDS)}",
    )
    DiagnoseOptions.add_flags(group)  # --threshold, --no-channel-order: declared beside their fields
    group.add_argument("--batch-size", type=int, default=DIAGNOSE_RUN.batch_size, metavar="N",
                       help=f"images per forward pass (default {DIAGNOSE_RUN.batch_size})")
    add_stats_arguments(group)
    add_run_arguments(group, "progress", "long_after")
    parser.set_defaults(run=run)


def run(args) -> int:
    dataset = stats_findings(args)
    if dataset is not None and not args.model:
        print(dataset.to_json() if args.json else dataset.summary())
        return 0
    gate = parse_gate(args.fail_on) if args.fail_on is not None else None
    options = DiagnoseOptions.from_flags(args)  # a bad --threshold fails before the model loads
    feed = feed_from_args(args, batch_size=args.batch_size).check()  # missing files fail before a model is built
    loaded = model_from_args(args)
    info = sys.stderr if args.json else sys.stdout
    print_preprocessing(loaded, info)
    subject = subject_from_args(args, loaded)
    result = diagnose(subject, feed, options=options, run=run_options_from_args(args, DIAGNOSE_RUN))
    print_image_notes(feed.images, feed.skipped)
    print_skipped_summary(result.inputs + len(result.skipped), result.skipped, sys.stderr)
    if args.json:
        print(with_findings(result.to_json(per_channel=args.per_channel), dataset))
    else:
        print(result.summary() + (f"\n\n{dataset.summary()}" if dataset is not None else ""))
    if gate is not None and gate(result):
        print(f"layerscope diagnose: the diagnosis failed the gate --fail-on {args.fail_on!r} ({gate.text}); "
              f"exit code {GATE_FAILED}", file=sys.stderr)
        return GATE_FAILED
    return 0
