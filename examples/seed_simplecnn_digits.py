"""The MNIST SimpleCNN tutorial (conv1 feature maps of a batch of digits) in layerscope, offline.

    python examples/seed_simplecnn_digits.py

``builtin:digits`` is the tutorial's SimpleCNN, trained by this project on scikit-learn's
real handwritten digits; its weights ship with the package.
"""

import layerscope as ls
from layerscope.zoo import write_sample_images

inputs = write_sample_images("digit-inputs", count=8, photos=(), overwrite=True)
acts = ls.capture("builtin:digits", [str(p) for p in inputs], layers="conv1")
print(acts)                                                     # conv1: (8, 16, 24, 24)
ls.show("builtin:digits", [str(p) for p in inputs], layers=["conv1", "conv2"], out="digit-maps",
        scale=4, labels=True, overwrite=True)
print(ls.diagnose("builtin:digits", [str(p) for p in inputs]).summary())
