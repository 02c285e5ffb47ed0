"""torchsearch: hyperparameter search for PyTorch on Ignite.

Declare a space, subclass :class:`TrialModule`, call :func:`tune`; or call :func:`optimize` on a
plain function. See README.md.

Names are imported on first use, so that tools that only read stored studies (the CLI, the
dashboard) start without importing torch and Ignite.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING

from .exceptions import ContractError, SpaceError, StorageError, TorchSearchError, TrialError, TrialFailed

if _TYPE_CHECKING:
    from ._record import Trial
    from .space import Choice, Float, Int, Parameter, PowerOfTwo, Space
    from .storage import Storage
    from .study import ActiveTrial, Study
    from .trainer import Trainer
    from .trial import TrialModule
    from .tuning import optimize, tune
    from ._importance import importance
    from ._load import load_study
    from ._zoom import zoom

__version__ = "0.1.0"

_WHERE = {
    "ActiveTrial": ".study", "Study": ".study",
    "Choice": ".space", "Float": ".space", "Int": ".space", "Parameter": ".space", "PowerOfTwo": ".space",
    "Space": ".space",
    "Storage": ".storage",
    "Trainer": ".trainer",
    "Trial": "._record",
    "TrialModule": ".trial",
    "optimize": ".tuning", "tune": ".tuning",
    "importance": "._importance", "zoom": "._zoom", "load_study": "._load",
}

__all__ = [
    "ActiveTrial",
    "Choice",
    "ContractError",
    "Float",
    "Int",
    "Parameter",
    "PowerOfTwo",
    "SpaceError",
    "Space",
    "Storage",
    "StorageError",
    "Study",
    "TorchSearchError",
    "Trainer",
    "Trial",
    "TrialError",
    "TrialFailed",
    "TrialModule",
    "importance",
    "load_study",
    "optimize",
    "tune",
    "zoom",
]


def __getattr__(name: str) -> object:
    """``torchsearch.<name>``: a public name or a submodule, imported on first use."""
    if name in _WHERE:
        value = getattr(_importlib.import_module(_WHERE[name], __name__), name)
    else:
        try:
            value = _importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
