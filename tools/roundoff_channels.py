"""The measurement behind ``layerscope.render.normalize.ROUNDOFF``: how small channel ranges get, relative to their layer.

For the pretrained EfficientNet-Lite0, its untrained copy and an untrained ResNet-18 on the 18 scikit-image photos,
every channel map (conv, BatchNorm, activation and block outputs, maps of at least 2x2) with a non-zero range is
counted by log10 of its span over the layer's typical (median non-zero) channel span, and over the layer's max |x|.
A threshold is safe where the trained network's round-off population ends and the untrained ones have nothing.

    PYTHONPATH=src python tools/roundoff_channels.py     # ~10 minutes on 2 cores
"""

from __future__ import annotations

import numpy as np
import torch

from calibrate_inputs import NATURAL, photos


def _models():
    import timm
    import torchvision

    from layerscope.zoo._registry import build_builtin

    yield "lite0", build_builtin("efficientnet_lite0")
    torch.manual_seed(0)
    yield "lite0-untrained", timm.create_model("tf_efficientnet_lite0", pretrained=False)
    torch.manual_seed(0)
    yield "resnet18-untrained", torchvision.models.resnet18()


def _watched(name: str, module: torch.nn.Module) -> bool:
    kinds = (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU, torch.nn.ReLU6)
    block = (name.startswith("blocks") and name.count(".") == 2) or (name.startswith("layer") and name.count(".") == 1)
    return isinstance(module, kinds) or block


def main() -> None:
    torch.set_num_threads(1)
    images = photos()
    for title, model in _models():
        model.eval()
        outputs: dict[str, torch.Tensor] = {}
        for name, module in model.named_modules():
            if _watched(name, module):
                module.register_forward_hook(lambda m, i, o, n=name: outputs.__setitem__(n, o.detach()))
        ratios: dict[str, list[np.ndarray]] = {"typical": [], "max|x|": []}
        for photo in NATURAL:
            outputs.clear()
            with torch.no_grad():
                model((images[photo][None] - 0.5) / 0.5)
            for out in outputs.values():
                if out.dim() != 4 or out.shape[-1] * out.shape[-2] < 4:
                    continue
                lo, hi = out[0].amin((1, 2)).double(), out[0].amax((1, 2)).double()
                span = hi - lo
                moving = span[span > 0]
                if not moving.numel():
                    continue
                ratios["typical"].append((moving / moving.median()).numpy())
                ratios["max|x|"].append((moving / torch.maximum(lo.abs(), hi.abs()).max()).numpy())
        print(f"== {title}: channel maps with a non-zero range, by log10(span / reference)")
        for reference, parts in ratios.items():
            logs = np.log10(np.clip(np.concatenate(parts), 1e-12, None))
            counts, edges = np.histogram(logs, bins=np.arange(-12, 1))
            print(f"  {reference:8s}", " ".join(f"{int(e)}:{c}" for e, c in zip(edges[:-1], counts)))


if __name__ == "__main__":
    main()
