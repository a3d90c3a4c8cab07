"""Layers: Dense, BatchNorm, activations and Softmax.

A layer stores its settings in ``__init__``, learns its input width in
``build``, and gets views into its model's flat parameter, gradient and
state arrays in ``bind``. It computes nothing itself: ``spec()`` describes
it as an op of the model's compiled network (``fastnn._kernels._network``),
which runs whole training epochs and inference passes in compiled code.

Formulas, per layer:

- ``Dense``: ``y = x @ W + b``; ``W`` has shape (n_in, units).
  ``dW = x.T @ dy``, ``db = dy.sum(0)``, ``dx = dy @ W.T``.
- ``BatchNorm`` (training): ``y = gamma * (x - mu) / sqrt(var + eps) + beta``
  with the batch's mean and biased variance per feature; running averages
  ``running = momentum * running + (1 - momentum) * batch`` (the running
  variance takes the unbiased batch variance). At test time
  ``y = x * a + b`` with ``a = gamma / sqrt(running_var + eps)`` and
  ``b = beta - running_mean * a``.
- ``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``: elementwise; their
  backward passes use the forward output.
- ``Softmax``: the output layer of a classifier. In training the model
  fuses it with the cross-entropy loss (``dz = (softmax(z) - onehot) / n``);
  it must be the last layer.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from fastnn import ops
from fastnn import _kernels

__all__ = ["Layer", "Dense", "BatchNorm", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax",
           "layer_from_config"]


class Layer:
    """Base class of all layers."""

    def __init__(self):
        self.n_in: int | None = None
        self.n_out: int | None = None

    # -- shapes and weights
    def build(self, n_in: int) -> int:
        """Learn the input width; return the output width."""
        self.n_in = self.n_out = n_in
        return n_in

    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Trainable arrays: name -> shape (after build)."""
        return {}

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """Non-trainable arrays kept with the model (running averages)."""
        return {}

    def initialize(self, params: dict, state: dict, rng: np.random.Generator) -> None:
        """Fill freshly bound parameter and state views with initial values."""

    def bind(self, params: dict, grads: dict, state: dict) -> None:
        """Take views into the model's flat parameter, gradient and state arrays."""
        self.params, self.grads, self.state = params, grads, state

    # -- computation
    def spec(self) -> dict:
        """This layer as an op of the compiled network: its kind, arrays and settings."""
        raise NotImplementedError

    # -- configuration
    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _positive_int(value, name, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return int(value)


class Dense(Layer):
    """Fully connected layer ``y = x @ W + b``.

    Parameters
    ----------
    units : int or None
        Output width. ``None`` (only for the output layer) means "one unit
        per class", set when the model first sees its labels.
    bias : bool or None, default None
        Whether to add ``b``. ``None`` means yes, unless a ``BatchNorm``
        follows (its ``beta`` takes the bias's place).
    init : {"auto", "he", "xavier"}, default "auto"
        Weight initialization: normal with standard deviation
        ``sqrt(2 / n_in)`` ("he", for ReLU-like activations) or
        ``sqrt(1 / n_in)`` ("xavier"). "auto" picks "he" when the next
        activation is ReLU or LeakyReLU.
    """

    def __init__(self, units: int | None, bias: bool | None = None, init: str = "auto"):
        super().__init__()
        self.units = _positive_int(units, "units", allow_none=True)
        if bias is not None and not isinstance(bias, bool):
            raise TypeError(f"bias must be True, False or None; got {bias!r}")
        if init not in ("auto", "he", "xavier"):
            raise ValueError(f"init must be 'auto', 'he' or 'xavier'; got {init!r}")
        self.bias, self.init = bias, init
        self.use_bias = bias is not False      # settled by the model in build
        self.he_init = init == "he"            # settled by the model in build

    def build(self, n_in):
        if self.units is None:
            raise ValueError("Dense(None) takes its width from the number of classes: "
                             "fit the model first, or give units")
        self.n_in, self.n_out = n_in, self.units
        return self.units

    def param_shapes(self):
        shapes = {"W": (self.n_in, self.n_out)}
        if self.use_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def initialize(self, params, state, rng):
        std = math.sqrt((2.0 if self.he_init else 1.0) / self.n_in)
        params["W"][...] = rng.standard_normal(params["W"].shape) * std
        if "b" in params:
            params["b"][...] = 0

    def spec(self):
        return {"kind": "dense", "n_out": self.n_out, "W": self.params["W"],
                "dW": self.grads["W"], "b": self.params.get("b"), "db": self.grads.get("b")}

    def get_config(self):
        return {"units": self.units, "bias": self.bias, "init": self.init}


class BatchNorm(Layer):
    """Batch normalization with learned ``gamma`` and ``beta``.

    Parameters
    ----------
    momentum : float in [0, 1], default 0.9
        Weight of the old value in the running averages used at test time
        (PyTorch's ``momentum=0.1`` is this ``momentum=0.9``).
    eps : float > 0, default 1e-5

    A ``ReLU`` right after a ``BatchNorm`` is fused into it by the model.
    """

    def __init__(self, momentum: float = 0.9, eps: float = 1e-5):
        super().__init__()
        self.momentum = ops._scalar(momentum, "momentum", lo=0, hi=1)
        self.eps = ops._scalar(eps, "eps", lo=0, lo_open=True)
        self.fused_relu = False                # set by the model in build

    def param_shapes(self):
        return {"gamma": (self.n_out,), "beta": (self.n_out,)}

    def state_shapes(self):
        return {"running_mean": (self.n_out,), "running_var": (self.n_out,)}

    def initialize(self, params, state, rng):
        params["gamma"][...] = 1
        params["beta"][...] = 0
        state["running_mean"][...] = 0
        state["running_var"][...] = 1

    def bind(self, params, grads, state):
        super().bind(params, grads, state)
        dtype = params["gamma"].dtype
        self._mean = np.empty(self.n_out, dtype)    # kept from forward for backward
        self._rstd = np.empty(self.n_out, dtype)

    @property
    def running_mean(self) -> np.ndarray:
        return self.state["running_mean"]

    @property
    def running_var(self) -> np.ndarray:
        return self.state["running_var"]

    @property
    def gamma(self) -> np.ndarray:
        return self.params["gamma"]

    @property
    def beta(self) -> np.ndarray:
        return self.params["beta"]

    def spec(self):
        return {"kind": "batchnorm", "n_out": self.n_out, "eps": self.eps,
                "momentum": self.momentum, "relu": self.fused_relu,
                "gamma": self.gamma, "beta": self.beta, "dgamma": self.grads["gamma"],
                "dbeta": self.grads["beta"], "mean": self._mean, "rstd": self._rstd,
                "running_mean": self.running_mean, "running_var": self.running_var}

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}


class _Activation(Layer):
    kind = ""

    def __init__(self):
        super().__init__()
        self.fused = False                 # a ReLU folded into the BatchNorm before it
        self._alpha = 0.0

    def spec(self):
        return {"kind": "activation", "act": _kernels.ops.ACTIVATIONS[self.kind],
                "alpha": self._alpha}


class ReLU(_Activation):
    """``max(x, 0)``."""

    kind = "relu"


class LeakyReLU(_Activation):
    """``x if x >= 0 else alpha * x``.

    Parameters
    ----------
    alpha : float >= 0, default 0.01
    """

    kind = "leaky_relu"

    def __init__(self, alpha: float = 0.01):
        super().__init__()
        self.alpha = self._alpha = ops._scalar(alpha, "alpha", lo=0)

    def get_config(self):
        return {"alpha": self.alpha}


class Tanh(_Activation):
    """Hyperbolic tangent."""

    kind = "tanh"


class Sigmoid(_Activation):
    """Logistic sigmoid ``1 / (1 + exp(-x))``."""

    kind = "sigmoid"


class Softmax(Layer):
    """Softmax output layer: class probabilities. Must be the last layer.

    It is not an op of the compiled network: training fuses it with the
    loss, inference applies it to the network's output.
    """


_LAYERS = {cls.__name__: cls for cls in (Dense, BatchNorm, ReLU, LeakyReLU, Tanh, Sigmoid, Softmax)}


def layer_from_config(config: dict) -> Layer:
    """Build a layer from ``{"class": name, "config": {...}}``."""
    try:
        cls = _LAYERS[config["class"]]
        return cls.from_config(dict(config.get("config", {})))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a fastnn layer description: {config!r} ({exc})") from None
