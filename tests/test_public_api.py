"""The public surface is small and explicit: __all__ is pinned, and no subpackage is shadowed by a function."""

import inspect
import subprocess
import sys
import types

import torch
import torch.nn as nn

import layerscope

PINNED = [
    "capture", "Recorder", "Activations", "LayerInfo", "Args", "list_layers",
    "show", "diagnose", "report", "scan", "load_stats", "compare", "browse", "visualize", "importance",
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


def test_verbs_are_their_packages_and_can_be_called():
    import layerscope.capture.recorder
    import layerscope.diagnose.verdict
    import layerscope.show

    assert isinstance(layerscope.capture, types.ModuleType) and callable(layerscope.capture)
    assert layerscope.capture.recorder.Recorder is layerscope.Recorder
    assert layerscope.diagnose.Thresholds is layerscope.diagnose.thresholds.Thresholds
    assert layerscope.show.ShowResult.__name__ == "ShowResult"
    assert layerscope.report.Report.__name__ == "Report" and callable(layerscope.report)
    acts = layerscope.capture(nn.Sequential(nn.Conv2d(1, 2, 3)), torch.zeros(1, 1, 5, 5))
    assert list(acts) == ["0"]


def test_verbs_show_the_signature_of_their_function():
    from layerscope.capture.api import capture

    assert inspect.signature(layerscope.capture) == inspect.signature(capture)
    assert "callable as capture(model" in repr(layerscope.capture)


def test_import_styles_work_in_a_fresh_interpreter():
    code = (
        "import layerscope.capture.recorder as r, layerscope as ls\n"
        "from layerscope import capture, show, diagnose\n"
        "assert r.Recorder is ls.Recorder and capture is ls.capture and callable(show) and callable(diagnose)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
