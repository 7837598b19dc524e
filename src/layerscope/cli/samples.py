"""``layerscope samples OUT``: write sample inputs (held-out digits, public-domain photos) to try the other commands on.

Example::

    layerscope samples samples          # samples/digit_00_label0.png ... and chelsea.jpg, coffee.jpg, astronaut.jpg
    layerscope show builtin:digits samples/digit_0*.png --out maps
"""

from __future__ import annotations

from ..zoo import PHOTOS, write_sample_images
from ._common import add_output_arguments, examples


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "samples",
        **examples(
            'layerscope samples samples   # digit_00_label0.png ... and chelsea.jpg, coffee.jpg, astronaut.jpg',
            "layerscope samples digits --count 30 --photos ''",
        ),
        help="write sample inputs: held-out handwritten digits and public-domain photos (offline)",
        description="Write COUNT held-out digits of builtin:digits (28x28 PNG, never seen in training) and "
        "public-domain photos from scikit-image (JPEG; needs layerscope[samples]) into OUT. Running it again "
        "is safe: files that already hold these bytes are left as they are; other files are never replaced "
        "without --overwrite.",
    )
    parser.add_argument("out", metavar="OUT", help="directory to write into (created if missing)")
    parser.add_argument("--count", type=int, default=10, metavar="N", help="digits to write, 0-30 (default 10)")
    parser.add_argument("--photos", default=",".join(PHOTOS), metavar="NAMES",
                        help=f"comma-separated photos (default {','.join(PHOTOS)}; '' for none)")
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    photos = tuple(name.strip() for name in args.photos.split(",") if name.strip())
    paths = write_sample_images(args.out, count=args.count, photos=photos, overwrite=args.overwrite)
    print(f"{len(paths)} sample inputs in {args.out}: {', '.join(p.name for p in paths[:3])}"
          f"{' ...' if len(paths) > 3 else ''}")
    return 0
