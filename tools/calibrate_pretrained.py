"""Re-calibrate the diagnosis on a real ImageNet network: EfficientNet-Lite0 trained vs the same architecture untrained.

    python tools/calibrate_pretrained.py [--sets 10] [--parts 1,2,3] [--json out.json]

Needs ``layerscope[pretrained,samples]``; offline; about 5-10 minutes on 2 CPU cores. The 18 photos
that scikit-image ships go through the model's own preprocessing. Printed:

1. Separation per depth: for every stride (input pixels per map pixel) the median channel noise score
   and the share of channels scoring >= ``noisy`` (0.8) of the trained and the untrained network, and
   the ROC AUC of "untrained scores higher" over channels (1: untrained always noisier, 0.5: no
   separation, 0: trained always noisier).
2. The classifier evidence: each network's top-class probability, placed between chance (0) and
   certainty (1), on each photo alone; also builtin:digits trained / untrained on its 30 held-out digits.
3. False alarms with the default thresholds: on single photos and random sets of 4 and 8 photos,
   how often the trained network's headline is not "good" (or "bad", or has an input warning), how
   many of its layers are called suspicious or bad, and how often the untrained network's headline is
   "good" (a miss). ``--models`` names the networks (the hold-outs ``builtin:efficientnet_lite1``,
   ``builtin:efficientnet_lite2`` were not used to choose any cut point).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel", "rocket",
          "immunohistochemistry", "hubble_deep_field", "retina", "moon", "page", "text", "clock", "cell",
          "colorwheel")
MODELS = ("builtin:efficientnet_lite0", "builtin:efficientnet_lite0:untrained")


def write_photos(folder: Path) -> list[str]:
    from PIL import Image
    from skimage import data

    paths = []
    for name in PHOTOS:
        path = folder / f"{name}.png"
        Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB").save(path)
        paths.append(str(path))
    return paths


def auc(low: np.ndarray, high: np.ndarray) -> float:
    """P(a value of ``high`` > a value of ``low``) + half the ties (the Mann-Whitney ROC AUC)."""
    both = np.concatenate([low, high])
    ranks = both.argsort().argsort() + 1.0
    for value in np.unique(both):  # average ranks of ties
        tied = both == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[len(low):].sum() - len(high) * (len(high) + 1) / 2) / (len(low) * len(high)))


def depth_table(photos: list[str]) -> list[dict]:
    from layerscope import diagnose
    from layerscope.io import load_model

    noise = {}
    for spec in MODELS:
        loaded = load_model(spec)
        result = diagnose(loaded, photos, thresholds={"noisy_min_stride": 1}, channel_order=False)
        by_stride = defaultdict(list)
        for layer in result.layers:
            if layer.stride is not None:
                values = layer.channels_summary.noise
                by_stride[round(layer.stride)].append(values[np.isfinite(values)])
        noise[spec] = {stride: np.concatenate(parts) for stride, parts in by_stride.items()}
    rows = []
    for stride in sorted(noise[MODELS[0]]):
        trained, untrained = noise[MODELS[0]][stride], noise[MODELS[1]][stride]
        rows.append({"stride": stride, "trained_median": float(np.median(trained)),
                     "untrained_median": float(np.median(untrained)),
                     "trained_noisy": float((trained >= 0.8).mean()), "untrained_noisy": float((untrained >= 0.8).mean()),
                     "auc": auc(trained, untrained), "channels": [len(trained), len(untrained)]})
    return rows


def confidence_table(photos: list[str]) -> dict:
    import torch

    from layerscope.diagnosis.outputs import ClassifierOutputs
    from layerscope.io import load_model
    from layerscope.zoo import sample_inputs
    from layerscope.zoo.digits import to_tensor

    table = {}
    for spec in MODELS:
        loaded = load_model(spec)
        positions = []
        for photo in photos:
            seen = ClassifierOutputs()
            with torch.no_grad():
                seen.update(loaded.module(loaded.preprocess(photo)), [photo])
            positions.append(seen.position)
        table[spec] = positions
    images, _ = sample_inputs("digits")
    for spec in ("builtin:digits", "builtin:digits:untrained"):
        seen = ClassifierOutputs()
        with torch.no_grad():
            seen.update(load_model(spec).module(to_tensor(images)), ["digits"] * len(images))
        table[spec] = [seen.position]
    return table


def false_alarms(photos: list[str], sets: int, seed: int = 0, families: tuple[str, ...] = (MODELS[0],)) -> list[dict]:
    """Part 3 for each trained network in ``families`` and its untrained copy (``SPEC:untrained``)."""
    from layerscope import diagnose
    from layerscope.io import load_model

    rows = []
    for family in families:
        rng = random.Random(seed)
        loaded = {kind: load_model(spec) for kind, spec in (("trained", family), ("untrained", f"{family}:untrained"))}
        for size in (1, 4, 8):
            groups = [[p] for p in photos] if size == 1 else [rng.sample(photos, size) for _ in range(sets)]
            counts = {"model": family, "size": size, "sets": len(groups), "trained_not_good": 0,
                      "trained_bad": 0, "trained_layers_flagged": [], "untrained_good": 0,
                      "untrained_tendency": defaultdict(int), "trained_tendency": defaultdict(int),
                      "trained_input_warnings": 0, "trained_headlines": defaultdict(int)}
            for group in groups:
                trained = diagnose(loaded["trained"], group)
                untrained = diagnose(loaded["untrained"], group)
                counts["trained_not_good"] += trained.verdict != "good"
                counts["trained_bad"] += trained.verdict == "bad"
                counts["trained_layers_flagged"].append(sum(layer.verdict != "good" for layer in trained.layers))
                counts["trained_input_warnings"] += any(f.severity != "info" for f in trained.input_findings)
                counts["trained_headlines"][trained.headline.split(" — ")[0][:90]] += 1
                counts["untrained_good"] += untrained.verdict == "good"
                counts["trained_tendency"][trained.tendency.label] += 1
                counts["untrained_tendency"][untrained.tendency.label] += 1
                print(f"  {family} {size} {group[0].rsplit('/', 1)[-1]}: {trained.headline[:150]}", flush=True)
            counts["layers"] = len(trained.layers)
            rows.append(counts)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=10, help="random sets of 4 and of 8 photos (default 10)")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 3 (default 1,2,3)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--models", default=MODELS[0],
                        help="part 3's trained networks, comma-separated, each checked with its :untrained copy "
                             "(default builtin:efficientnet_lite0; the hold-outs: builtin:efficientnet_lite1,"
                             "builtin:efficientnet_lite2)")
    args = parser.parse_args(argv)
    parts = {part.strip() for part in args.parts.split(",")}
    depth, confidence, alarms = [], {}, []
    with tempfile.TemporaryDirectory() as folder:
        photos = write_photos(Path(folder))
        if "1" in parts:
            depth = depth_table(photos)
            print("1. separation per depth (channel noise scores, all 18 photos)")
            print("stride  trained median / >=0.8   untrained median / >=0.8   AUC (untrained noisier)   channels")
        for r in depth:
            print(f"{r['stride']:>6}  {r['trained_median']:.2f} / {r['trained_noisy']:.0%}{'':14}"
                  f"{r['untrained_median']:.2f} / {r['untrained_noisy']:.0%}{'':14}{r['auc']:.2f}{'':22}{r['channels']}")
        if "2" in parts:
            confidence = confidence_table(photos)
            print("\n2. classifier confidence, 0 = chance, 1 = certainty (per photo; digits: all 30 together)")
        for spec, values in confidence.items():
            print(f"{spec:<38} min {min(values):.3f} median {float(np.median(values)):.3f} max {max(values):.3f}")
        if "3" in parts:
            alarms = false_alarms(photos, args.sets, families=tuple(m.strip() for m in args.models.split(",")))
            print("\n3. default thresholds: trained headline not good / layers flagged; untrained headline good (miss)")
        for r in alarms:
            flagged = r["trained_layers_flagged"]
            print(f"{r['model']} sets of {r['size']} ({r['sets']}): trained not good {r['trained_not_good']}/{r['sets']} "
                  f"(bad {r['trained_bad']}, input warnings {r['trained_input_warnings']}), layers "
                  f"flagged per run max {max(flagged)} of {r['layers']} (mean {np.mean(flagged):.2f}); tendency trained "
                  f"{dict(r['trained_tendency'])}; untrained good {r['untrained_good']}/{r['sets']}, tendency "
                  f"{dict(r['untrained_tendency'])}")
    if args.json:
        Path(args.json).write_text(json.dumps({"depth": depth, "confidence": confidence, "false_alarms": alarms},
                                              indent=2, default=dict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
