"""``--stats DIR`` for ``layerscope diagnose``: the dataset-level findings of a ``layerscope scan`` result.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_stats_arguments(parser)
>>> stats_findings(argparse.Namespace(model="builtin:digits", images=["a.png"], stats=None)) is None
True
>>> with_findings('{"layers": []}', None)
'{"layers": []}'
"""

from __future__ import annotations

import json
from typing import Any, Optional

from ..errors import InputError
from ..scanning.findings import RARE, dataset_findings

__all__ = ["add_stats_arguments", "stats_findings", "with_findings"]


def add_stats_arguments(group: Any) -> None:
    """--stats DIR and --rare SHARE."""
    group.add_argument("--stats", metavar="DIR", help="also report the dataset-level dead and rarely active channels "
                       "of a `layerscope scan` result (alone: without MODEL and IMAGES)")
    group.add_argument("--rare", metavar="SHARE", type=float, default=RARE,
                       help=f"with --stats: a channel active on fewer than this share of inputs is rarely active "
                       f"(default {RARE})")


def stats_findings(args: Any) -> Optional[Any]:
    """The findings of ``--stats`` (None without it); checks that MODEL and IMAGES come together."""
    has_model, has_images = bool(getattr(args, "model", None)), bool(getattr(args, "images", None))
    if getattr(args, "stats", None) is None:
        if not (has_model and has_images):
            raise InputError("diagnose needs MODEL and IMAGES (or --stats DIR, the result of `layerscope scan`).")
        return None
    if has_model != has_images:
        raise InputError("Give MODEL and IMAGES together (or neither, with --stats DIR alone).")
    if not has_model and getattr(args, "fail_on", None):
        raise InputError("--fail-on judges the layers of MODEL on IMAGES; give them too, or drop --fail-on.")
    return dataset_findings(args.stats, rare=args.rare)


def with_findings(text: str, findings: Optional[Any]) -> str:
    """The diagnosis JSON with the dataset findings under ``"dataset"`` (unchanged without them)."""
    if findings is None:
        return text
    return json.dumps({**json.loads(text), "dataset": findings.to_dict()}, indent=2)
