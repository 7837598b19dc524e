"""``layerscope probe MODEL DATA [--labels FILE] --out DIR``: how linearly decodable the labels are at each layer.

Prints per layer the held-out accuracy of a cross-validated logistic regression on the layer's spatially
pooled channels, its 95% t-interval over the folds and the chance level; writes DIR/probe.json,
probe.csv, probe.png (accuracy against depth) and selectivity.npz (each channel's d' per class).
"""

from __future__ import annotations

from ..probing import probe
from ..probing.features import POOLS, read_labels
from ._common import (
    add_layer_arguments,
    add_loading_arguments,
    add_model_arguments,
    add_output_arguments,
    add_run_arguments,
    examples,
    layers_from_args,
    model_from_args,
    print_preprocessing,
    print_skipped_summary,
    run_options_from_args,
)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe",
        **examples(
            "layerscope samples digits --count 30 --photos ''",
            "ls digits | sed -E 's/.*label([0-9]).png/\\1/' > labels.txt && layerscope probe builtin:digits digits/ --labels labels.txt --folds 3 --layers conv2,fc1 --out probe",
        ),
        help="linear probes per layer: held-out accuracy against depth, chance level, channel selectivity",
        description="Run MODEL once over DATA, pool each chosen layer's channels over space and fit a multinomial "
        "logistic regression per layer on standardized features, scored on stratified folds: the held-out "
        "accuracy with its 95%% t-interval over the folds, against depth, the chance level (the most frequent "
        "class's share) and each channel's d' for each class. Labels: DATA's class folders (ImageFolder layout) "
        "or --labels FILE (one label per line, in the order of the inputs).",
    )
    add_model_arguments(parser)
    parser.add_argument("data", metavar="DATA", nargs="+",
                        help="an ImageFolder tree (one folder per class), an image folder, a .txt list of image "
                        "paths, or image files and globs")
    add_loading_arguments(parser)
    add_layer_arguments(parser)
    group = parser.add_argument_group("probe")
    group.add_argument("--labels", metavar="FILE", help="one label per line (names or integers), in the order "
                       "of the inputs (default: DATA's class folders)")
    group.add_argument("--folds", type=int, default=5, metavar="K", help="cross-validation folds (default 5)")
    group.add_argument("--seed", type=int, default=0, help="seed of the fold shuffle (default 0)")
    group.add_argument("--pool", choices=POOLS, default="mean", help="pooling over positions (default mean)")
    group.add_argument("--C", dest="C", type=float, default=1.0, help="inverse L2 strength (default 1)")
    group.add_argument("--max-iter", type=int, default=1000, metavar="N", help="lbfgs iterations (default 1000)")
    group.add_argument("--out", metavar="DIR", required=True, help="folder for probe.json, probe.csv, probe.png "
                       "and selectivity.npz")
    add_output_arguments(group)
    add_run_arguments(group, "batch_size", "workers", batch_size=32)
    parser.set_defaults(run=run)


def run(args) -> int:
    labels = read_labels(args.labels) if args.labels else None  # a missing file fails before the model loads
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    options = run_options_from_args(args)
    data = args.data if len(args.data) > 1 else args.data[0]
    result = probe(loaded, data, labels=labels, layers=layers_from_args(args), folds=args.folds, seed=args.seed,
                   pool=args.pool, max_iter=args.max_iter, C=args.C, run=options, out=args.out,
                   overwrite=args.overwrite)
    if result.skipped:
        print_skipped_summary(result.inputs + len(result.skipped), result.skipped)
    print(result.summary())
    print(f"wrote {args.out}/probe.json, probe.csv, probe.png and selectivity.npz")
    return 0
