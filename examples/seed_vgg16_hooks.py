"""The "What does a CNN see?" tutorial (a forward hook per layer, a channel grid per layer) in layerscope.

    python examples/seed_vgg16_hooks.py cat.jpg [--weights DEFAULT]

Without --weights the VGG16 is randomly initialised (nothing is downloaded); with
``--weights DEFAULT`` torchvision downloads its ImageNet weights and layerscope uses
their own preprocessing (resize 256, crop 224, ImageNet mean/std).
"""

import argparse

import layerscope as ls

LAYERS = {"features.0": "conv1_1", "features.5": "conv2_1", "features.10": "conv3_1", "features.17": "conv4_1"}

parser = argparse.ArgumentParser()
parser.add_argument("image")
parser.add_argument("--weights", help="torchvision weights name, e.g. DEFAULT (downloads)")
parser.add_argument("--out", default="vgg16-maps")
args = parser.parse_args()

spec = "torchvision:vgg16" + (f":{args.weights}" if args.weights else "")
model = ls.load_model(spec)
print("preprocessing:", model.preprocessing.describe())
acts = ls.capture(model, args.image, layers=list(LAYERS))       # the hooks, the forward, the clean-up
for name, tensor in acts.items():
    print(LAYERS[name], name, tuple(tensor.shape))
result = ls.show(model, args.image, layers=list(LAYERS), out=args.out, max_channels=12, labels=True)
print(result)
