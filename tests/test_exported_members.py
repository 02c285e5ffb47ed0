"""The public API is what __all__ lists, and every listed name exists."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = ["torchsearch", "torchsearch.schedulers", "torchsearch.executors", "torchsearch.handlers", "torchsearch.pruners"]


@pytest.mark.parametrize("module_name", PUBLIC)
def test_all_lists_exactly_the_public_names(module_name):
    module = importlib.import_module(module_name)
    exported = set(getattr(module, "__all__", []))
    assert exported, f"{module_name} has no __all__"
    for name in exported:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name!r}"
    public = {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(importlib))}
    assert public - exported == set(), f"{module_name} exposes names missing from __all__"


def test_zoom_and_importance_stay_functions_after_their_modules_are_imported():
    import torchsearch as ts
    import torchsearch._importance
    import torchsearch._zoom
    import torchsearch.plot  # noqa: F401  (has a function of the same name)

    assert callable(ts.zoom) and ts.zoom.__name__ == "zoom"
    assert callable(ts.importance) and ts.importance.__name__ == "importance"
