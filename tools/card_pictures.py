"""Regenerate the README's channel cards, ``docs/images/cards/<layer>-channel-<C>.png``.

    python tools/card_pictures.py [--out docs/images/cards] [--layer blocks.1] [--count 3]

The pretrained EfficientNet-Lite0 (``layerscope[pretrained]``) scanned over the offline sample photos
(scikit-image's astronaut, chelsea and coffee, ``layerscope[samples]``); the cards of the ``--count`` channels
of ``--layer`` with the highest mean activation over the scan, each with its importance on ``chelsea`` for the
model's top prediction. Offline; a few minutes per card on 2 shared CPU cores (the visualization's 128 steps).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

MODEL = "builtin:efficientnet_lite0"


def main(argv=None) -> int:
    import numpy as np

    import layerscope as ls
    from layerscope.explain import card
    from layerscope.zoo import PHOTOS, write_sample_images

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "images" / "cards"))
    parser.add_argument("--layer", default="blocks.1")
    parser.add_argument("--count", type=int, default=3)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        photos = write_sample_images(Path(work) / "photos", count=0, photos=PHOTOS)
        stats = ls.scan(MODEL, [str(p) for p in photos], [args.layer], out=Path(work) / "scan", k=3, progress=False)
        chosen = np.argsort(-stats[args.layer].mean, kind="stable")[: args.count].tolist()
        chelsea = [str(p) for p in photos if p.stem == "chelsea"]
        for channel in chosen:
            found = card(MODEL, args.layer, channel, stats=stats, images=chelsea)
            path = found.save(out / f"{args.layer}-channel-{channel}.png", overwrite=True)
            print(f"{found!r} -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
