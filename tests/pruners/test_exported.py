"""torchsearch.pruners' public API is what its __all__ lists."""

from __future__ import annotations

import importlib


def test_pruners_all_lists_exactly_the_public_names():
    module = importlib.import_module("torchsearch.pruners")
    assert set(module.__all__) == {"Pruner", "Median", "ASHA", "Hyperband"}
    public = {n for n in vars(module) if not n.startswith("_") and not isinstance(getattr(module, n), type(importlib))}
    assert public == set(module.__all__)
    import torchsearch as ts

    assert ts.pruners.ASHA is module.ASHA  # reachable as ts.pruners after `import torchsearch`
