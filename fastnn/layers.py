"""Layers: Dense, BatchNorm, activations and Softmax.

A layer stores its settings in ``__init__``, learns its input width in
``build``, and gets views into its model's flat parameter, gradient and
state arrays in ``bind``. It computes nothing itself: ``spec()`` describes
it as an op of the model's compiled network (``fastnn._kernels._network``),
which runs whole training epochs and inference passes in compiled code.

How a layer fits among its neighbours (a Dense before BatchNorm has no
bias, a ReLU after BatchNorm runs inside it, the output layer is fused with
the loss, a Dropout(0) is nothing) is decided by one pure pass,
:func:`plan`, which reads the layers and changes none of them: each layer
gets a :class:`Placement` that its methods take.

Formulas, per layer:

- ``Dense``: ``y = x @ W + b``; ``W`` has shape (n_in, units).
  ``dW = x.T @ dy``, ``db = dy.sum(0)``, ``dx = dy @ W.T``.
- ``BatchNorm`` (training): ``y = gamma * (x - mu) / sqrt(var + eps) + beta``
  with the batch's mean and biased variance per feature; running averages
  ``running = momentum * running + (1 - momentum) * batch`` (the running
  variance takes the unbiased batch variance). At test time
  ``y = x * a + b`` with ``a = gamma / sqrt(running_var + eps)`` and
  ``b = beta - running_mean * a``.
- the activations (``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``...):
  elementwise, one per row of ``fastnn/kinds.py`` (its formulas); their
  backward passes get the forward input and output.
- ``Dropout``: inverted dropout, ``y = x * keep / (1 - rate)`` in training
  with ``keep`` drawn per element; the identity at test time.
- ``Softmax``: the output layer of a classifier. In training the model
  fuses it with the cross-entropy loss (``dz = (softmax(z) - onehot) / n``);
  it must be the last layer. A last ``Sigmoid`` is likewise fused with the
  sigmoid cross-entropy loss.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from fastnn import _validation as V
from fastnn import kinds

__all__ = ["Layer", "Dense", "BatchNorm", "Activation", "Softmax", "Dropout", "Placement",
           "plan", "layer_from_config", "ACTIVATIONS"]          # and each activation's layer


class Placement(NamedTuple):
    """How one layer runs among its neighbours, as :func:`plan` decided.

    Attributes
    ----------
    index : int
        The layer's position in the model.
    absorbed : bool
        The layer is no op of its own: a ReLU run inside the BatchNorm
        before it, the output layer fused with the loss, a Dropout(0).
    use_bias : bool
        Dense: whether it adds a bias (not when a BatchNorm follows).
    he_init : bool
        Dense: He initialization (a ReLU-like activation follows).
    fused_relu : bool
        BatchNorm: the ReLU right after it runs inside it.
    """

    index: int
    absorbed: bool = False
    use_bias: bool = True
    he_init: bool = False
    fused_relu: bool = False


class Layer:
    """Base class of all layers.

    A layer of your own, written in NumPy, subclasses it and defines
    ``forward(x, training) -> y`` and ``backward(x, y, dy) -> dx`` (which
    also writes the gradients of its parameters into ``self.grads[name]``),
    and, if it has parameters, ``param_shapes`` and ``initialize``; ``build``
    if it changes the width. It trains inside a ``Sequential`` like any
    other: the compiled epoch calls it, with the GIL, on NumPy views of its
    buffers (a slower path than the compiled layers). Such a model is not
    saved to files (they hold only fastnn's own layers).
    """

    def __init__(self):
        self.n_in: int | None = None
        self.n_out: int | None = None

    # -- shapes and weights
    def build(self, n_in: int) -> int:
        """Learn the input width; return the output width."""
        self.n_in = self.n_out = n_in
        return n_in

    #: names of the parameters weight decay applies to (weight matrices)
    decayed: tuple[str, ...] = ()

    def param_shapes(self, place: Placement) -> dict[str, tuple[int, ...]]:
        """Trainable arrays: name -> shape (after build)."""
        return {}

    def state_shapes(self, place: Placement) -> dict[str, tuple[int, ...]]:
        """Non-trainable arrays kept with the model (running averages)."""
        return {}

    def initialize(self, params: dict, state: dict, rng: np.random.Generator,
                   place: Placement) -> None:
        """Fill freshly bound parameter and state views with initial values."""

    def bind(self, params: dict, grads: dict, state: dict) -> None:
        """Take views into the model's flat parameter, gradient and state arrays."""
        self.params, self.grads, self.state = params, grads, state

    # -- computation
    def spec(self, place: Placement) -> dict:
        """This layer as an op of the compiled network (``fastnn._kernels._network``):
        ``{"kind", "n_out", "arrays", "values", "flags"}`` in the kind's slot order."""
        if type(self).forward is not Layer.forward:      # a layer written in Python
            if type(self).backward is Layer.backward:
                raise TypeError(f"{type(self).__name__} defines forward but not backward")
            return {"kind": "python", "n_out": self.n_out, "object": self}
        raise NotImplementedError(f"{type(self).__name__} must define forward and backward")

    def inference_steps(self, place: Placement) -> list[tuple]:
        """This layer's test-time computation as steps on float64 arrays
        (``fastnn.export.inference_steps`` lists their forms); [] for the identity."""
        raise NotImplementedError(f"{type(self).__name__} has no ONNX form yet "
                                  "(Layer.inference_steps)")

    def forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        """A Python layer's output on ``x`` (n, n_in): (n, n_out)."""
        raise NotImplementedError

    def backward(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        """A Python layer's input gradient (n, n_in) from its input, output and the
        gradient ``dy`` of the loss with respect to the output; writes ``self.grads``."""
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
        ``sqrt(1 / n_in)`` ("xavier"). "auto" picks the initialization the
        next activation declares (``fastnn/kinds.py``: "he" for ReLU and
        LeakyReLU), else "xavier".
    """

    def __init__(self, units: int | None, bias: bool | None = None, init: str = "auto"):
        super().__init__()
        self.units = V.width(units, "units", allow_none=True)
        if bias is not None and not isinstance(bias, bool):
            raise TypeError(f"bias must be True, False or None; got {bias!r}")
        if init not in ("auto", "he", "xavier"):
            raise ValueError(f"init must be 'auto', 'he' or 'xavier'; got {init!r}")
        self.bias, self.init = bias, init

    def build(self, n_in):
        if self.units is None:
            raise ValueError("Dense(None) takes its width from the number of classes: "
                             "fit the model first, or give units")
        self.n_in, self.n_out = n_in, self.units
        return self.units

    decayed = ("W",)

    def param_shapes(self, place):
        shapes = {"W": (self.n_in, self.n_out)}
        if place.use_bias:
            shapes["b"] = (self.n_out,)
        return shapes

    def initialize(self, params, state, rng, place):
        std = math.sqrt((2.0 if place.he_init else 1.0) / self.n_in)
        params["W"][...] = rng.standard_normal(params["W"].shape) * std
        if "b" in params:
            params["b"][...] = 0

    def spec(self, place):
        p, g = self.params, self.grads
        return {"kind": "dense", "n_out": self.n_out,
                "arrays": [p["W"], p.get("b"), g["W"], g.get("b")]}

    def inference_steps(self, place):
        b = self.params.get("b")
        return [("dense", self.params["W"].astype(np.float64),
                 None if b is None else b.astype(np.float64))]

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
        self.momentum = V.real(momentum, "momentum", lo=0, hi=1)
        self.eps = V.real(eps, "eps", lo=0, lo_open=True)

    def param_shapes(self, place):
        return {"gamma": (self.n_out,), "beta": (self.n_out,)}

    def state_shapes(self, place):
        return {"running_mean": (self.n_out,), "running_var": (self.n_out,)}

    def initialize(self, params, state, rng, place):
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

    def spec(self, place):
        return {"kind": "batchnorm",
                "arrays": [self.gamma, self.beta, self.grads["gamma"], self.grads["beta"],
                           self._mean, self._rstd, self.running_mean, self.running_var],
                "values": [self.eps, self.momentum], "flags": [int(place.fused_relu)]}

    def inference_steps(self, place):
        a = self.gamma.astype(np.float64) / np.sqrt(self.running_var.astype(np.float64)
                                                    + self.eps)
        shift = self.beta.astype(np.float64) - self.running_mean.astype(np.float64) * a
        steps = [("affine", a, shift)]
        if place.fused_relu:            # the ReLU run inside this layer, as its own step
            steps.append(("activation", "relu", 0.0))
        return steps

    def get_config(self):
        return {"momentum": self.momentum, "eps": self.eps}


class Activation(Layer):
    """Base of the activation layers: one subclass per row of ``fastnn/kinds.py``
    (``ReLU``, ``LeakyReLU``, ``Tanh``, ``Sigmoid``...), made by this module."""

    #: the row of fastnn/kinds.py, its number (its position there) and its name
    row: kinds.Activation
    number = -1
    kind = ""

    def __init__(self, alpha: float = 0.0):
        super().__init__()
        self._alpha = alpha

    def spec(self, place):
        return {"kind": "activation", "values": [self._alpha], "flags": [self.number]}

    def inference_steps(self, place):
        # absorbed: a ReLU fused into the BatchNorm before it (which gives its step) or
        # the output Sigmoid fused with the loss (its output map)
        return [] if place.absorbed else [("activation", self.kind, float(self._alpha))]


def _activation_layer(number: int, row: kinds.Activation) -> type:
    """The layer class of activation ``row`` of fastnn/kinds.py."""
    doc = f"``{row.forward}``."
    if row.alpha is None:
        def __init__(self):
            Activation.__init__(self)

        def get_config(self):
            return {}
    else:
        doc += (f"\n\n    Parameters\n    ----------\n    alpha : float >= 0, default "
                f"{row.alpha}\n    ")

        def __init__(self, alpha: float = row.alpha):
            Activation.__init__(self, V.real(alpha, "alpha", lo=0))
            self.alpha = self._alpha

        def get_config(self):
            return {"alpha": self.alpha}
    __init__.__qualname__ = f"{row.layer}.__init__"
    return type(row.layer, (Activation,), {
        "__init__": __init__, "get_config": get_config, "__doc__": doc, "row": row,
        "number": number, "kind": row.name, "__module__": __name__, "__qualname__": row.layer})


#: activation layers by name (MLP's ``activation=``, the command line, the search space),
#: one per row of fastnn/kinds.py
ACTIVATIONS: dict[str, type] = {}
for _number, _row in enumerate(kinds.ACTIVATIONS):
    ACTIVATIONS[_row.name] = globals()[_row.layer] = _activation_layer(_number, _row)
    __all__.append(_row.layer)
del _number, _row


class Softmax(Layer):
    """Softmax output layer: class probabilities. Must be the last layer.

    It is not an op of the compiled network: training fuses it with the
    loss, inference applies it to the network's output.
    """

    def inference_steps(self, place):
        return []                       # the loss's output map


class Dropout(Layer):
    """Inverted dropout: in training, each element is zeroed with probability ``rate``
    and the rest scaled by ``1 / (1 - rate)``; at test time the identity.

    Parameters
    ----------
    rate : float in [0, 1), default 0.5
        ``Dropout(0.0)`` is no layer at all (the same bits as without it).

    The masks are drawn from the model's dropout seed, the training step,
    the layer's position, the row and the unit (a counter-based generator,
    ``fastnn._reference.dropout_mask``): a fit is reproducible from its
    seed, at any thread count.
    """

    def __init__(self, rate: float = 0.5):
        super().__init__()
        self.rate = V.real(rate, "rate", lo=0, hi=1, hi_open=True)

    def spec(self, place):
        return {"kind": "dropout", "values": [self.rate], "flags": [place.index]}

    def inference_steps(self, place):
        return []                       # the identity at test time

    def get_config(self):
        return {"rate": self.rate}


BUILTIN_LAYERS = (Dense, BatchNorm, *ACTIVATIONS.values(), Softmax, Dropout)
_LAYERS = {cls.__name__: cls for cls in BUILTIN_LAYERS}


def plan(layers, output: type | None = None) -> list[Placement]:
    """How each layer runs among its neighbours; reads the layers, changes none.

    Parameters
    ----------
    layers : list of Layer
    output : Layer class or None
        The output layer the loss absorbs (Softmax, Sigmoid), if the last
        layer is one.
    """
    places = []
    n = len(layers)
    for i, layer in enumerate(layers):
        nxt = layers[i + 1] if i + 1 < n else None
        prev = layers[i - 1] if i else None
        if isinstance(layer, Dense):
            act = layers[i + 2] if isinstance(nxt, BatchNorm) and i + 2 < n else nxt
            use_bias = layer.bias if layer.bias is not None else not isinstance(nxt, BatchNorm)
            he = layer.init == "he" or (layer.init == "auto" and isinstance(act, Activation)
                                        and act.row.init == "he")
            places.append(Placement(i, use_bias=use_bias, he_init=he))
        elif isinstance(layer, BatchNorm):
            places.append(Placement(i, fused_relu=type(nxt) is ReLU))
        elif type(layer) is ReLU and isinstance(prev, BatchNorm):
            places.append(Placement(i, absorbed=True))
        elif isinstance(layer, Dropout) and layer.rate == 0:
            places.append(Placement(i, absorbed=True))
        elif i == n - 1 and output is not None and type(layer) is output:
            places.append(Placement(i, absorbed=True))
        else:
            places.append(Placement(i))
    return places


def layer_from_config(config: dict) -> Layer:
    """Build a layer from ``{"class": name, "config": {...}}``."""
    try:
        cls = _LAYERS[config["class"]]
        return cls.from_config(dict(config.get("config", {})))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a fastnn layer description: {config!r} ({exc})") from None
