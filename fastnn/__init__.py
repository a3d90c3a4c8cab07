"""fastnn: fast CPU training and hyperparameter search for fully connected networks."""

import importlib as _importlib

from fastnn._config import config, show_config
from fastnn._threads import get_num_threads, num_threads, set_num_threads
from fastnn._version import __version__
from fastnn.layers import ACTIVATIONS as _ACTIVATION_LAYERS
from fastnn.layers import BatchNorm, Dense, Dropout, Layer, Softmax
from fastnn.model import MLP, Sequential, load
from fastnn.optim import OPTIMIZERS as _OPTIMIZERS
from fastnn.optim import ExponentialDecay, InverseTimeDecay, StepDecay
from fastnn.train import Callback, DivergedError, EarlyStopping, History

__all__ = [
    "__version__", "config", "show_config", "get_num_threads", "set_num_threads", "num_threads",
    "Sequential", "MLP", "Dense", "BatchNorm", "Softmax", "Dropout", "Layer",
    "InverseTimeDecay", "ExponentialDecay", "StepDecay",
    "History", "Callback", "EarlyStopping", "DivergedError", "load",
]
# the activation layers and the optimizers, one per row of fastnn/kinds.py (ReLU, Tanh...;
# SGD, Adam...)
for _cls in (*_ACTIVATION_LAYERS.values(), *_OPTIMIZERS.values()):
    globals()[_cls.__name__] = _cls
    __all__.append(_cls.__name__)
del _cls

# Subpackages loaded on first use: fastnn.datasets.load_digits() works with
# no `import fastnn.datasets`, and `import fastnn` stays quick (fastnn.search
# alone would add about half to its time).
_SUBMODULES = ("datasets", "plot", "search")
# scikit-learn's estimators, from fastnn.estimators on first use (it imports scikit-learn)
_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name: str):
    if name in _SUBMODULES:
        return _importlib.import_module(f"{__name__}.{name}")
    if name in _ESTIMATORS:
        return getattr(_importlib.import_module(f"{__name__}.estimators"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *_SUBMODULES, *_ESTIMATORS})
