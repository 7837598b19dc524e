"""The public surface is explicit: __all__ names exactly the public attributes of the package."""

import types

import layerscope


def test_all_matches_public_names():
    public = {
        name
        for name, value in vars(layerscope).items()
        if not name.startswith("_") and not (isinstance(value, types.ModuleType) and name not in layerscope.__all__)
    }
    assert public | {"__version__"} == set(layerscope.__all__)


def test_every_exported_name_resolves():
    missing = [name for name in layerscope.__all__ if not hasattr(layerscope, name)]
    assert missing == []


def test_errors_share_one_root():
    errors = [getattr(layerscope, n) for n in layerscope.__all__ if n.endswith("Error")]
    assert len(errors) == 10
    assert all(issubclass(e, layerscope.LayerscopeError) for e in errors)


def test_functions_shadow_their_modules_but_submodules_import():
    from layerscope.capture.recorder import Recorder
    from layerscope.diagnose import Thresholds
    from layerscope.show import ShowResult

    assert callable(layerscope.capture) and callable(layerscope.show) and callable(layerscope.diagnose)
    assert Recorder is layerscope.Recorder and Thresholds is layerscope.Thresholds
    assert ShowResult is layerscope.ShowResult
