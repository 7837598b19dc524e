"""``layerscope scan MODEL DATA --out DIR``: what each channel responds to across a whole dataset.

Example::

    layerscope scan torchvision:resnet18:DEFAULT photos/ --out scan --top-k 9
    layerscope scan builtin:digits digits/ --out scan --shard 0/4        # one of four jobs; then `layerscope merge`
    torchrun --standalone --nproc_per_node=4 --no-python layerscope scan torchvision:resnet18 imagenet/val --out scan

Run the same command again after a crash or a kill: it continues from the last checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Iterator

from ..run.options import OutputOptions, RunOptions
from ..scanning import ScanOptions, scan
from ..scanning.distributed import rank_device
from ..scanning.options import SCAN_BATCH_SIZE
from ._common import (
    add_dataset_arguments,
    add_dataset_run_flags,
    add_dictionary_argument,
    add_layer_arguments,
    add_model_arguments,
    examples,
    model_from_args,
    parse_max_pixels,
    print_preprocessing,
    subject_from_args,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan",
        **examples(
            'layerscope samples samples',
            'layerscope scan builtin:digits samples/ --out scan --top-k 3',
        ),
        help="scan a whole dataset: per channel statistics and the top-k inputs (streaming, resumable, distributed)",
        description="Run MODEL over every input of DATA and keep, per layer and channel, count, mean, variance, min, "
        "max, the share of active positions and inputs, a histogram of each input's peak, and the top-k inputs by "
        "the map's max and mean with the position and receptive-field box of the peak. The state is checkpointed "
        "to OUT/stats.safetensors; the same command resumes a stopped scan. Under torchrun each rank scans its "
        "shard and rank 0 merges. Read the result with layerscope.load_stats(OUT).",
    )
    add_model_arguments(parser)
    add_dataset_arguments(parser)
    add_layer_arguments(parser)
    add_dictionary_argument(parser)
    group = parser.add_argument_group("scan")
    group.add_argument("--out", metavar="DIR", required=True, help="folder for the result (stats.safetensors)")
    ScanOptions.add_flags(group)
    add_dataset_run_flags(group)
    parser.set_defaults(run=run)


def run(args) -> int:
    with _log_to_stderr():
        return _run(args)


def _run(args) -> int:
    args.device = rank_device(args.device)  # under torchrun, a bare cuda is this rank's GPU
    subject = subject_from_args(args, model_from_args(args))
    lead = os.environ.get("RANK", "0") == "0"
    if lead:
        print_preprocessing(subject.loaded, sys.stderr)
    given = vars(args)
    running = RunOptions(batch_size=SCAN_BATCH_SIZE, device=args.device, strict=args.strict,
                         max_pixels=parse_max_pixels(args.max_pixels), progress=False if args.no_progress else None)
    running = running.replace(**{name: given[name] for name in ("batch_size", "workers") if name in given})
    stats = scan(subject, list(args.data), options=ScanOptions.from_flags(args), run=running,
                 output=OutputOptions.from_flags(args, OutputOptions(out=args.out)))
    if lead:
        for index, source, reason in stats.skipped:
            print(f"skipped {source}: {reason}", file=sys.stderr)
        print(stats.summary())
        print(f"result: {stats.path} (read it with layerscope.load_stats({str(stats.path.parent)!r}))")
    return 0


class _Stderr(logging.StreamHandler):
    """A handler that writes to ``sys.stderr`` as it is when a message comes (a notebook or a test harness may have
    replaced the one there was when the handler was made)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


@contextlib.contextmanager
def _log_to_stderr(verb: str = "scan") -> Iterator[None]:
    """The messages of the verb's logger (``layerscope.scan``: resuming, already complete, a rank that failed) on
    stderr while the command runs; the library logger is left as it was (a program that calls the CLI in-process
    gets no handler it did not ask for)."""
    logger = logging.getLogger(f"layerscope.{verb}")
    handler, level = _Stderr(), logger.level
    handler.setFormatter(logging.Formatter(f"layerscope {verb}: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
