"""``layerscope dump MODEL DATA --layers ... --out DIR``: the chosen layers' activations over a dataset, stored as rows.

Example::

    layerscope dump builtin:digits digits/ --layers conv2 --out store --positions 16 --seed 0
    layerscope dump builtin:digits digits/ --out part0 --shard 0/2      # one of two jobs; then `layerscope merge`
    torchrun --standalone --nproc_per_node=4 --no-python layerscope dump torchvision:resnet18 imagenet/val --out store

Run the same command again after a crash or a kill: it continues from the last part. Read the store with
``layerscope.load_activations(DIR, layer=NAME)``.
"""

from __future__ import annotations

import os
import sys

from ..run.options import OutputOptions, RunOptions
from ..run.subject import Subject
from ..scanning.distributed import rank_device
from ..storing import DumpOptions, dump
from ..storing.options import DUMP_BATCH_SIZE
from ._common import (
    add_dataset_arguments,
    add_dataset_run_flags,
    add_layer_arguments,
    add_model_arguments,
    examples,
    layers_from_args,
    model_from_args,
    parse_max_pixels,
    print_preprocessing,
)
from .scan import _log_to_stderr


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "dump",
        **examples(
            'layerscope samples samples',
            'layerscope dump builtin:digits samples/ --layers conv2,fc1 --out store --positions 8',
        ),
        help="store the chosen layers' activations over a dataset as rows (sharded safetensors, resumable)",
        description="Run MODEL over every input of DATA and write the activations of the chosen layers as rows "
        "(one per position: position x channels; one per input for vectors and with --pooled; --positions K keeps "
        "K random positions per input, seeded) to part files under OUT/parts with OUT/index.json. The same command "
        "resumes a stopped dump to the same bytes; under torchrun each rank dumps its shard and rank 0 merges. "
        "Read it with layerscope.load_activations(OUT, layer=NAME).",
    )
    add_model_arguments(parser)
    add_dataset_arguments(parser)
    add_layer_arguments(parser)
    group = parser.add_argument_group("dump")
    group.add_argument("--out", metavar="DIR", required=True, help="folder for the store (index.json, parts/)")
    DumpOptions.add_flags(group)
    add_dataset_run_flags(group)
    parser.set_defaults(run=run)


def run(args) -> int:
    with _log_to_stderr("dump"):
        return _run(args)


def _run(args) -> int:
    args.device = rank_device(args.device)  # under torchrun, a bare cuda is this rank's GPU
    subject = Subject.of(model_from_args(args), layers_from_args(args))
    lead = os.environ.get("RANK", "0") == "0"
    if lead:
        print_preprocessing(subject.loaded, sys.stderr)
    given = vars(args)
    running = RunOptions(batch_size=DUMP_BATCH_SIZE, device=args.device, strict=args.strict,
                         max_pixels=parse_max_pixels(args.max_pixels), progress=False if args.no_progress else None)
    running = running.replace(**{name: given[name] for name in ("batch_size", "workers") if name in given})
    store = dump(subject, list(args.data), options=DumpOptions.from_flags(args), run=running,
                 output=OutputOptions.from_flags(args, OutputOptions(out=args.out)))
    if lead:
        for index, source, reason in store.meta["skipped"]:
            print(f"skipped {source}: {reason}", file=sys.stderr)
        print(summary(store))
        print(f"store: {store.root} (read it with layerscope.load_activations({str(store.root)!r}, layer=NAME))")
    return 0


def summary(store) -> str:
    """One line per layer: rows x channels."""
    meta = store.meta
    lines = [f"dump of {meta['model']['spec']}: {meta['inputs']} inputs, {meta['dtype']}, "
             f"{len(meta['parts'])} part file{'' if len(meta['parts']) == 1 else 's'}"]
    lines += [f"  {name}: {layer['rows']} rows x {layer['channels']} channels" for name, layer in meta["layers"].items()]
    lines += [f"  {name}: not stored: {reason}" for name, reason in meta["dropped"].items()]
    return "\n".join(lines)
