"""pytest plugin (loaded by ``run.py`` with ``-p ts_ignite_shim``): Ignite's handler tests, our handlers.

Loaded before the test modules are imported, it replaces three names in ``ignite.handlers``,
and only those: ``from ignite.handlers import EarlyStopping`` then gives
:class:`torchsearch.handlers.Patience`, ``TimeLimit`` gives ``TimeBudget`` and
``TerminateOnNan`` gives ``Divergence``. No argument is translated: each test builds our class
exactly as it builds Ignite's.

Each test named in ``expected_failures.EXPECTED`` runs as ``xfail(strict=True, raises=...)``:
it must fail, with the exception listed, for the documented difference given as the reason;
if it passes, the run fails (the list stays honest). A listed test that is not collected is an
error too. ``TS_IGNITE_COMPAT=reference`` (``run.py --reference``) keeps Ignite's handlers and
expects every test to pass.

Ignite's conftest asks for pytest-xdist's ``worker_id`` fixture (its distributed fixtures use it
to pick a rank); without xdist, the one process is the ``"master"``, as xdist names it.
"""

from __future__ import annotations

import importlib.util
import os

import ignite.handlers
import pytest

from expected_failures import EXPECTED
from torchsearch.handlers import Divergence, Patience, TimeBudget

MODE = os.environ.get("TS_IGNITE_COMPAT", "torchsearch")
SUBSTITUTES = {"EarlyStopping": Patience, "TimeLimit": TimeBudget, "TerminateOnNan": Divergence}

if MODE not in ("torchsearch", "reference"):
    raise pytest.UsageError(f"TS_IGNITE_COMPAT must be 'torchsearch' or 'reference', got {MODE!r}")
if MODE == "torchsearch":
    for _name, _ours in SUBSTITUTES.items():
        setattr(ignite.handlers, _name, _ours)


def pytest_report_header(config: pytest.Config) -> str:
    if MODE == "reference":
        return "ignite_compat: Ignite's own handlers (reference run, no expected failures)"
    pairs = ", ".join(f"{k} -> {v.__module__}.{v.__name__}" for k, v in SUBSTITUTES.items())
    return f"ignite_compat: {pairs}; {len(EXPECTED)} expected failures"


if importlib.util.find_spec("xdist") is None:
    @pytest.fixture(scope="session")
    def worker_id() -> str:
        return "master"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if MODE == "reference":
        return
    collected = {item.nodeid for item in items}
    stale = sorted(set(EXPECTED) - collected)
    if stale:
        raise pytest.UsageError("ignite_compat: expected_failures.py names tests that were not collected "
                                f"(renamed or removed upstream?): {stale}")
    for item in items:
        entry = EXPECTED.get(item.nodeid)
        if entry is not None:
            raises, reason = entry
            item.add_marker(pytest.mark.xfail(strict=True, raises=raises, reason=reason))
