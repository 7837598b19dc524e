"""The ``layerscope`` command: a thin layer that parses, calls the library and prints.

Each subcommand lives in ``layerscope/cli/<name>.py`` with ``register(subparsers)``
(adds its parser and ``set_defaults(run=...)``) and a ``run(args) -> int``.
Exit codes: 0 ok, 2 bad usage or input (any :class:`~layerscope.errors.LayerscopeError`),
1 internal error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from typing import Optional, Sequence

from .._version import __version__
from ..errors import LayerscopeError

__all__ = ["main", "COMMANDS"]

COMMANDS = ("layers", "show", "diagnose", "report", "serve", "compare", "visualize", "card", "demo", "samples", "scan",
            "merge", "dump", "labels", "atlas", "probe")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="layerscope",
        description="A feature-map microscope for PyTorch: see what each layer of a network sees.",
    )
    parser.add_argument("--version", action="version", version=f"layerscope {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit code (the console script passes it to ``sys.exit``)."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: --help (0) or a usage error (2)
        return int(exit_.code or 0)
    try:
        return int(args.run(args) or 0)
    except LayerscopeError as err:
        print(f"layerscope {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:  # an internal error: show the traceback, ask for a report
        traceback.print_exc()
        print(
            f"layerscope {args.command}: internal error (a bug in layerscope, not in your input); "
            "please report it with the traceback above.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


def _console() -> None:
    """Console-script entry point."""
    sys.exit(main())
