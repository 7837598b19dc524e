"""Offline, downloads fail fast with the clear message, and image files are checked before any model is built.

The "network" here is real: a proxy setting that points at a closed port on 127.0.0.1, so every
download route meets a refused connection, and empty torch hub / Hugging Face caches.
"""

from __future__ import annotations

import socket
import time

import pytest

import layerscope
from layerscope.errors import ImageError, ModelSpecError
from layerscope.io import load_model
from layerscope.io.network import TIMEOUT, reachable


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once the socket is closed


@pytest.fixture()
def offline(tmp_path, monkeypatch):
    """Empty caches and a proxy nobody answers: what a machine without network looks like to a download."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for name in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    return proxy


def test_a_listening_port_is_reachable_and_a_closed_one_is_not():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert reachable(f"http://127.0.0.1:{server.getsockname()[1]}/weights.pth", seconds=2)
    assert not reachable(f"http://127.0.0.1:{_closed_port()}/weights.pth", seconds=2)


def test_a_url_without_a_host_is_not_reachable():
    assert not reachable("file:///tmp/weights.pth")


def test_the_proxy_is_what_gets_checked(offline):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert not reachable(f"http://127.0.0.1:{server.getsockname()[1]}/w.pth")  # the proxy is closed


@pytest.mark.parametrize(("spec", "message"), [
    ("torchvision:resnet18:DEFAULT", r"Could not get torchvision weights ResNet18_Weights\.IMAGENET1K_V1: "
                                     r"download\.pytorch\.org cannot be reached .*torchvision:resnet18 with --checkpoint"),
    ("timm:resnet18:pretrained", r"Could not get timm pretrained weights of resnet18: huggingface\.co cannot be "
                                 r"reached .*timm:resnet18 with --checkpoint"),
])
def test_downloads_fail_fast_offline_with_the_offline_route(offline, spec, message):
    if spec.startswith("timm"):
        pytest.importorskip("timm")
    start = time.perf_counter()
    with pytest.raises(ModelSpecError, match=message) as caught:
        load_model(spec)
    assert time.perf_counter() - start < TIMEOUT + 5  # not the 11-50 s of retries
    assert "builtin:efficientnet_lite0" in str(caught.value)


def test_cached_torchvision_weights_are_used_without_a_check(offline, tmp_path):
    import torch
    import torchvision

    weights = torchvision.models.get_weight("SqueezeNet1_1_Weights.IMAGENET1K_V1")
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(torchvision.models.squeezenet1_1().state_dict(), cache / weights.url.rsplit("/", 1)[1])
    assert load_model("torchvision:squeezenet1_1:DEFAULT").weights == "SqueezeNet1_1_Weights.IMAGENET1K_V1"


@pytest.mark.parametrize("verb", ["show", "diagnose"])
def test_a_missing_image_fails_before_any_model_is_built(offline, tmp_path, verb):
    # offline, building the model would raise ModelSpecError ("Could not get ..."): the image error comes first
    with pytest.raises(ImageError, match="cat.jpg"):
        getattr(layerscope, verb)("torchvision:resnet18:DEFAULT", str(tmp_path / "cat.jpg"))


@pytest.mark.parametrize("command", ["show", "diagnose"])
def test_the_cli_reports_a_missing_image_before_the_model(offline, tmp_path, capsys, command):
    from layerscope.cli import main

    start = time.perf_counter()
    extra = ["--out", str(tmp_path / "o")] if command == "show" else []
    assert main([command, "torchvision:resnet18:DEFAULT", str(tmp_path / "cat.jpg"), *extra]) == 2
    assert time.perf_counter() - start < TIMEOUT
    err = capsys.readouterr().err
    assert "cat.jpg" in err and "Could not get" not in err
