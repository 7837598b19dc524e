"""``layerscope atlas MODEL IMAGES... --layer L --out atlas.png|report.html|DIR`` (or ``layerscope atlas STORE
--layer L ...``, a folder of ``layerscope dump``): the dataset atlas of a layer.

Example::

    layerscope samples digits
    layerscope atlas builtin:digits digits --layer conv2 --labels folders --out atlas.html
"""

from __future__ import annotations

from pathlib import Path

from ..atlas import atlas_of, atlas_of_store, draw_atlas
from ..core.files import write_atomic
from ..atlas.sources import PER
from ..errors import InputError
from ..render.png import save_png
from ..reporting.page import Page
from ..reporting.sections import as_sections
from ._common import (
    add_image_arguments,
    add_model_arguments,
    examples,
    feed_from_args,
    model_from_args,
    print_preprocessing,
)

LABELS = ("none", "folders")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "atlas",
        **examples(
            "layerscope samples digits --count 30 --photos ''",
            'layerscope atlas builtin:digits digits/ --layer fc1 --grid 6 --out atlas.png',
        ),
        help="a 2-D map (UMAP) of a layer's activations over images, binned into cells of thumbnails",
        description="Lay out the images (or every map position, --per position) by their activations at LAYER "
        "with UMAP, bin the map into a grid and show each cell's members nearest its centre. Writes a PNG "
        "(FILE.png), a self-contained HTML page with a zoomable map (FILE.html) or a folder (atlas.png, "
        "atlas.json, points.json).",
    )
    add_model_arguments(parser)
    add_image_arguments(parser, required=False)
    group = parser.add_argument_group("atlas")
    group.add_argument("--layer", required=True, metavar="NAME", help="the layer (see `layerscope layers MODEL`)")
    group.add_argument("--per", choices=PER, default="image", help="one point per image (maps averaged over "
                       "positions, the default) or per map position (receptive-field crops)")
    group.add_argument("--labels", choices=LABELS, default="none", help="'folders': each image's label is the name "
                       "of its folder (an ImageFolder tree)")
    group.add_argument("--grid", type=int, default=24, metavar="G", help="G x G cells (default 24)")
    group.add_argument("--seed", type=int, default=0, help="the UMAP seed (default 0)")
    group.add_argument("--neighbors", type=int, default=15, metavar="K", help="UMAP's n_neighbors (default 15)")
    group.add_argument("--max-points", type=int, default=100_000, metavar="N",
                       help="with --per position: a seeded sample of at most N positions")
    group.add_argument("--out", required=True, metavar="FILE", help="atlas.png, atlas.html or a folder")
    group.add_argument("--overwrite", action="store_true", help="replace what is there")
    parser.set_defaults(run=run)


def run(args) -> int:
    out = Path(args.out)
    if out.suffix.lower() in (".png", ".html") and out.exists() and not args.overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it.")
    if not args.images:  # MODEL is a store folder (layerscope dump)
        if not Path(args.model).is_dir():
            raise InputError(f"Give IMAGES after the model {args.model!r}, or a folder written by `layerscope dump`.")
        result = atlas_of_store(args.model, layer=args.layer, grid=args.grid, seed=args.seed,
                                n_neighbors=args.neighbors, max_points=args.max_points)
        return _write(result, out, args, f"layerscope atlas: {args.model} {args.layer}")
    feed = feed_from_args(args).check()
    loaded = model_from_args(args)
    print_preprocessing(loaded)
    feed.preprocessing = loaded.preprocessing
    images = feed.one()
    names = list(feed.sources) if len(feed.sources) == len(images) else None
    labels = [Path(source).parent.name for source in names] if args.labels == "folders" and names else None
    result = atlas_of(loaded, images, names=names, layer=args.layer, per=args.per, labels=labels, grid=args.grid, seed=args.seed,
                      n_neighbors=args.neighbors, max_points=args.max_points)
    return _write(result, out, args, f"layerscope atlas: {loaded.spec} {args.layer}")


def _write(result, out: Path, args, title: str) -> int:
    if out.suffix.lower() == ".png":
        save_png(draw_atlas(result), out)
    elif out.suffix.lower() == ".html":
        page = Page(title=title, sections=as_sections([result]))
        write_atomic(page.html().encode("utf-8"), out, overwrite=True)
    else:
        out = result.save(out, overwrite=args.overwrite)
    print(f"{result.summary()} -> {out}")
    return 0
