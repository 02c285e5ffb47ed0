"""Exceptions raised by torchsearch.

The tree::

    TorchSearchError                 base of everything torchsearch raises on purpose
    ├── SpaceError (ValueError)      a bad search-space declaration or a value outside it
    ├── StorageError                 the SQLite store could not be read or written, or is not ours
    │                                (an empty or foreign study.db, a newer schema, a bad checkpoint file)
    ├── TrialError                   misuse of a trial (tell twice, report after finish, a study
    │   │                            metric the trial does not report)
    │   └── ContractError (TypeError) a TrialModule broke its contract (setup did not set model,
    │                                training_step returned no tensor, validation_step no dict)
    └── TrialFailed                  a trial could not finish (NaN loss, crash); recorded, not fatal
    Terminated (KeyboardInterrupt)   SIGTERM reached a running study: handled as Ctrl+C

Errors from sqlite3, torch or pickle are wrapped (``raise StorageError(...) from e``) so the
user sees what torchsearch was doing, with the original error attached.
"""

from __future__ import annotations


class TorchSearchError(Exception):
    """Base class of every error torchsearch raises on purpose."""


class SpaceError(TorchSearchError, ValueError):
    """A search-space parameter was declared wrongly, or a value is not in the space."""


class StorageError(TorchSearchError):
    """The study storage could not be opened, read or written."""


class TrialError(TorchSearchError):
    """A trial was used wrongly: told twice, reported to after it finished, unknown number."""


class ContractError(TrialError, TypeError):
    """A :class:`~torchsearch.TrialModule` broke its contract: ``setup`` did not set ``model``,
    ``optimizer``, ``train_loader`` or ``val_loader``, ``training_step`` returned no loss tensor,
    ``validation_step`` no dict of metrics. A programming error: every trial would repeat it, so
    ``tune()`` raises it at the first trial instead of failing them all (see ``torchsearch._failfast``)."""


class TrialFailed(TorchSearchError):
    """A trial could not go on (for example its loss became NaN). The study records it as failed."""


__all__ = ["TorchSearchError", "SpaceError", "StorageError", "TrialError", "ContractError", "TrialFailed", "Terminated"]


class Terminated(KeyboardInterrupt):
    """The process running a study received SIGTERM (a scheduler's preemption, ``kill``, a
    container stopping). While ``tune`` / ``optimize`` / ``Study.run`` runs in the main thread,
    SIGTERM raises this (unless the program installed its own SIGTERM handler): the study ends as
    on Ctrl+C, running trials interrupted (PBT members kept paused), nothing finished lost, and
    the same command resumes it. It is a ``KeyboardInterrupt``, so it is not caught by
    ``except Exception``."""
