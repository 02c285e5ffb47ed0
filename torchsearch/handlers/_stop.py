"""The one way a torchsearch handler stops training: record why on the engine, then terminate.

``request_stop(trainer, code, reason)`` writes ``trainer.state.stop_code`` (machine-readable:
``"patience"``, ``"divergence"``, ``"non_finite"``, ``"target"``, ``"time_budget"``...) and
``trainer.state.stop_reason`` (a sentence), then calls ``trainer.terminate()``. The first
request of a run wins; a later one in the same run only terminates (it is already
terminating). The record is cleared when the engine starts its next run, so it always
describes the run that just ended.

Readers:
- a plain Ignite script: ``stop_record(trainer)`` (or ``trainer.state.stop_reason``) after
  ``trainer.run(...)``;
- torchsearch's :class:`~torchsearch.Trainer` copies the record into its ``stop_code`` /
  ``stop_reason``, which ``tune()`` stores on the trial (state ``stopped``);
- :class:`~torchsearch.handlers.Reporter` hands it to the study's trial before ``tell``.
"""

from __future__ import annotations

from ignite.engine import Engine, Events

__all__ = ["request_stop", "stop_record"]


def _clear(engine: Engine) -> None:
    engine.state.stop_code = None
    engine.state.stop_reason = None


def watch(engine: Engine) -> None:
    """Make ``engine`` forget the previous run's stop record when a new run starts (idempotent).

    Handlers call this in ``attach`` before adding their own ``STARTED`` handlers, so a stop
    requested at ``STARTED`` (an already spent time budget) is not wiped.
    """
    if not engine.has_event_handler(_clear, Events.STARTED):
        engine.add_event_handler(Events.STARTED, _clear)


def request_stop(engine: Engine, code: str, reason: str) -> None:
    """Record ``(code, reason)`` on ``engine.state`` and terminate it after the current event.

    The first request of a run wins: if ``engine`` is already terminating with a recorded
    reason, the new one is dropped.
    """
    if not isinstance(engine, Engine):
        raise TypeError(f"request_stop: engine must be an ignite Engine, got {engine!r}")
    if not isinstance(code, str) or not code:
        raise ValueError(f"request_stop: code must be a non-empty string, got code={code!r}")
    already = bool(engine.should_terminate) and getattr(engine.state, "stop_code", None) is not None
    if not already:
        if engine.last_event_name != Events.STARTED:  # (a handler added while STARTED fires would run now)
            watch(engine)
        engine.state.stop_code = code
        engine.state.stop_reason = str(reason)
    engine.terminate()


def stop_record(engine: Engine) -> tuple[str, str] | None:
    """``(code, reason)`` of the stop requested in the engine's last run, or None."""
    code = getattr(engine.state, "stop_code", None)
    if code is None:
        return None
    return code, getattr(engine.state, "stop_reason", None) or code
