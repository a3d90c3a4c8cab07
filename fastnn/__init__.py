"""fastnn: fast CPU training and hyperparameter search for fully connected networks."""

from fastnn._config import config, show_config
from fastnn._threads import get_num_threads, set_num_threads
from fastnn._version import __version__
from fastnn.layers import BatchNorm, Dense, Dropout, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from fastnn.model import MLP, Sequential, load
from fastnn.optim import (SGD, Adam, AdamW, ExponentialDecay, InverseTimeDecay, Momentum,
                          RMSprop, StepDecay)
from fastnn.train import Callback, DivergedError, EarlyStopping, History

__all__ = [
    "__version__", "config", "show_config", "get_num_threads", "set_num_threads",
    "Sequential", "MLP", "Dense", "BatchNorm", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax",
    "Dropout", "SGD", "Momentum", "RMSprop", "Adam", "AdamW", "InverseTimeDecay",
    "ExponentialDecay", "StepDecay",
    "History", "Callback", "EarlyStopping", "DivergedError", "load",
]
