"""Ignite tests that fail on purpose against torchsearch's handlers, and why.

``EXPECTED[node id] = (the exception the test fails with, the documented difference it protects)``.
Every difference is in the README ("Using the handlers in your own Ignite loop") and in the
handler's docstring. ``run.py`` runs each as ``xfail(strict=True, raises=...)``: it must fail,
that way; a listed test that passes fails the run.
"""

from __future__ import annotations

import pytest

ES = "tests/ignite/handlers/test_early_stopping.py::"
TL = "tests/ignite/handlers/test_time_limit.py::"
DID_NOT_WARN = pytest.fail.Exception  # what pytest.warns raises when no warning came

EXPECTED: dict[str, tuple[type[BaseException], str]] = {
    # -- Patience for EarlyStopping --------------------------------------------------------------
    ES + "test_args_validation": (
        AssertionError,
        "clearer messages: a bad argument raises Ignite's exception type with a message naming the parameter, "
        "the value and what is allowed ('Patience: patience must be an int >= 1, got patience=-1'), which "
        "Ignite's match= on its own wording rejects; and trainer=None is allowed (give it to attach)"),
    ES + "test_legacy_api_support": (
        DID_NOT_WARN,
        "min_delta and min_delta_mode are Patience's own names (not deprecated): reading them warns nothing"),
    ES + "test_deprecated_setters": (
        DID_NOT_WARN,
        "min_delta and min_delta_mode are Patience's own names (not deprecated): setting them warns nothing"),
    ES + "test_legacy_args_override_new_args": (
        ValueError,
        "two names of one setting (cumulative and cumulative_delta, threshold and min_delta...) is an error "
        "naming both values; Ignite silently lets the deprecated one win"),
    # -- TimeBudget for TimeLimit ------------------------------------------------------------------
    TL + "test_arg_validation": (
        TypeError,
        "the budget is TimeBudget(seconds) (any finite number > 0), not TimeLimit(limit_sec) (an int)"),
    TL + "test_terminate_on_time_limit[20-10]": (
        RuntimeError,
        "the clock starts when the run starts (attach registers it at Events.STARTED), not when the handler is "
        "built; added with add_event_handler alone it raises, naming attach, instead of timing from a wrong start"),
    TL + "test_terminate_on_time_limit[5-10]": (
        RuntimeError,
        "the clock starts when the run starts (attach registers it at Events.STARTED), not when the handler is "
        "built; added with add_event_handler alone it raises, naming attach, instead of timing from a wrong start"),
}
