"""The public surface is small and explicit: __all__ is pinned, and no subpackage is shadowed by a function."""

import subprocess
import sys
import types

import torch
import torch.nn as nn

import layerscope

PINNED = [
    "capture", "Recorder", "Activations", "LayerInfo", "Args", "list_layers",
    "show", "diagnose", "report", "scan", "load_stats", "dump", "load_activations", "probe", "compare", "browse",
    "visualize", "importance", "channel_labels",
    "load_model", "LoadedModel", "Preprocessing", "load_image",
    "LayerscopeError", "CheckpointError", "ForwardError", "ImageError", "InputError", "LayerNotFoundError",
    "LayoutError", "MissingDependencyError", "ModelSpecError", "UnsafeCheckpointError",
    "errors", "io", "render", "train", "zoo", "__version__",
]


def test_all_is_pinned():
    assert layerscope.__all__ == PINNED


def test_all_matches_public_names():
    """Every public attribute is in __all__, except submodules that other imports attach (layerscope.cli)."""
    public = {
        name
        for name, value in vars(layerscope).items()
        if not name.startswith("_") and not (isinstance(value, types.ModuleType) and name not in layerscope.__all__)
    }
    assert public | {"__version__"} == set(layerscope.__all__)


def test_errors_share_one_root():
    errors = [getattr(layerscope, n) for n in layerscope.__all__ if n.endswith("Error")]
    assert len(errors) == 10
    assert all(issubclass(e, layerscope.LayerscopeError) for e in errors)


def test_verbs_are_plain_functions_and_shadow_no_module():
    """``ls.capture`` is a function (a type checker sees one); the packages behind the verbs have other names."""
    import layerscope.capturing.recorder
    import layerscope.diagnosis.verdict
    import layerscope.showing.api

    verbs = ["capture", "show", "diagnose", "report", "scan", "load_stats", "compare", "browse", "visualize", "importance"]
    assert all(isinstance(getattr(layerscope, v), types.FunctionType) for v in verbs)
    assert layerscope.capturing.recorder.Recorder is layerscope.Recorder
    assert layerscope.diagnosis.Thresholds is layerscope.diagnosis.thresholds.Thresholds
    assert layerscope.showing.api.ShowResult.__name__ == "ShowResult"
    assert layerscope.reporting.Report.__name__ == "Report"
    acts = layerscope.capture(nn.Sequential(nn.Conv2d(1, 2, 3)), torch.zeros(1, 1, 5, 5))
    assert list(acts) == ["0"]


def _modules():
    import pkgutil

    return sorted(m.name for m in pkgutil.walk_packages(layerscope.__path__, "layerscope.")
                  if not m.name.endswith("__main__"))


def test_every_module_is_importable_by_its_dotted_name_and_reachable_as_an_attribute():
    """No function hides a module: ``import a.b.c`` works and ``a.b.c`` is that module."""
    import importlib
    import operator

    for name in _modules():
        module = importlib.import_module(name)
        assert operator.attrgetter(name.split(".", 1)[1])(layerscope) is module, name


def test_import_styles_work_in_a_fresh_interpreter():
    code = (
        "import layerscope.capturing.recorder as r, layerscope as ls\n"
        "from layerscope import capture, show, diagnose\n"
        "assert r.Recorder is ls.Recorder and capture is ls.capture and callable(show) and callable(diagnose)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
