"""``layerscope merge DIR... --out DIR``: merge the results of disjoint shards of one scan (or one dump).

Example::

    layerscope scan builtin:digits digits/ --out part0 --shard 0/2
    layerscope scan builtin:digits digits/ --out part1 --shard 1/2
    layerscope merge part0 part1 --out whole

Counts, extrema, histograms and top-k lists merge exactly; means and variances to float64
rounding. Parts of other models, layers, preprocessing or data, or overlapping shards, are refused.
Activation stores (``layerscope dump --shard i/N``) merge the same way, by
:func:`layerscope.storing.merge_stores`.
"""

from __future__ import annotations

from ..scanning import merge
from ..storing import is_store, merge_stores
from ._common import add_output_arguments, examples


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "merge",
        **examples(
            'layerscope samples samples',
            'layerscope scan builtin:digits samples/ --out part0 --shard 0/2 && layerscope scan builtin:digits samples/ --out part1 --shard 1/2',
            'layerscope merge part0 part1 --out merged',
        ),
        help="merge the results of disjoint shards of one scan or dump (layerscope scan/dump --shard i/N)",
        description="Merge the --out folders of `layerscope scan --shard i/N` runs (or copies of them from other "
        "machines) into one result, and the --out folders of `layerscope dump --shard i/N` into one store. Refuses "
        "parts of different models, weights, layers, preprocessing or data, "
        "unfinished parts, and overlapping shards, saying which.",
    )
    parser.add_argument("parts", metavar="DIR", nargs="+", help="result folders (or their stats.safetensors)")
    parser.add_argument("--out", metavar="DIR", required=True, help="folder for the merged result")
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.parts and is_store(args.parts[0]):  # activation stores (layerscope dump --shard i/N) merge there
        store = merge_stores(args.parts, args.out, overwrite=args.overwrite)
        print(f"merged {len(args.parts)} stores: {store.meta['inputs']} inputs, shards "
              f"{', '.join(f'{i}/{n}' for i, n in store.meta['shards'])}")
        print(f"store: {store.root}")
        return 0
    stats = merge(args.parts, args.out, overwrite=args.overwrite)
    print(stats.summary())
    print(f"result: {stats.path}")
    return 0
