"""torchsearch: hyperparameter search for PyTorch on Ignite.

Declare a space, subclass :class:`TrialModule`, call :func:`tune`; or call :func:`optimize` on a
plain function. See README.md.
"""

from .exceptions import SpaceError, StorageError, TorchSearchError, TrialError, TrialFailed
from .space import Choice, Float, Int, Parameter, PowerOfTwo, Space
from .storage import Storage
from .study import ActiveTrial, Study
from .trainer import Trainer
from .trial import Trial, TrialModule
from .tuning import optimize, tune

__version__ = "0.1.0"

__all__ = [
    "ActiveTrial",
    "Choice",
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
    "optimize",
    "tune",
]
