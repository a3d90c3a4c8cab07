"""Sequential models and the MLP builder.

A model owns its parameters, workspaces and the order of kernel calls:

- parameters live in one flat array (and their gradients in another), each
  layer holding views, so the optimizer updates them all in one call;
  batch-norm running averages live in a flat state array;
- workspaces (the batch, each layer's output and output gradient) are made
  once per batch size and reused, so a training step allocates nothing;
- a ReLU right after a BatchNorm runs inside the batch-norm kernel, a Dense
  followed by BatchNorm has no bias, and the final Softmax is fused with the
  cross-entropy loss in training;
- the layers are compiled into one network (``fastnn._kernels._network``)
  that runs a whole training epoch, or an inference pass, in one call
  without the GIL.

Prediction allocates its own buffers, so one fitted model can serve
predictions from several threads at once.
"""

from __future__ import annotations

import numbers
import threading

import numpy as np

from fastnn import layers as L
from fastnn import _kernels
from fastnn._threads import BLAS_THREADING_MIN, blas_held, resolve_n_threads

__all__ = ["Sequential", "MLP"]

_MAX_WORKSPACES = 4            # batch sizes whose training buffers are kept


class Sequential:
    """A stack of layers ending in ``Softmax``: a classifier.

    Parameters
    ----------
    layers : list of Layer
        The last one must be ``Softmax``. A ``Dense(None)`` output layer takes
        one unit per class when the model first sees its labels.
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters and computation.
    n_threads : int, optional
        Threads for the kernels; default :func:`fastnn.get_num_threads`.
    seed : int, optional
        Seeds the weight initialization and, unless ``fit`` gets its own
        seed, the shuffling. A given seed and thread count give the same
        model every run.

    Attributes
    ----------
    classes_ : array of shape (n_classes,)
        The labels, in the order of the output units (set by the first ``fit``).
    n_features_in_ : int
    feature_names_in_ : list of str or None
        Names of the input columns, if the caller set them (saved with the model).
    history_ : History
        All epochs of all ``fit`` calls.
    optimizer : Optimizer or None
        The optimizer of the last ``fit``; the next ``fit`` continues with it.
    """

    def __init__(self, layers, *, dtype="float32", n_threads: int | None = None,
                 seed: int | None = None):
        layers = list(layers)
        if not layers or not all(isinstance(layer, L.Layer) for layer in layers):
            raise TypeError("layers must be a non-empty list of fastnn layers")
        if not isinstance(layers[-1], L.Softmax) or any(isinstance(x, L.Softmax) for x in layers[:-1]):
            raise ValueError("a Sequential model is a classifier: Softmax must be its last layer, "
                             "and only its last")
        if len(layers) < 2:
            raise ValueError("a Sequential model needs at least one layer before its Softmax")
        if len(set(map(id, layers))) != len(layers):
            raise ValueError("a layer object appears twice; make a new layer for each place")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
        self.n_threads = None if n_threads is None else resolve_n_threads(n_threads)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise TypeError(f"seed must be an integer or None; got {seed!r}")
        self.layers = layers
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.classes_: np.ndarray | None = None
        self.n_features_in_: int | None = None
        self.feature_names_in_: list[str] | None = None
        self.optimizer = None
        self.epochs_trained_ = 0
        self.stop_training = False
        from fastnn.train import History

        self.history_ = History()
        self._workspaces: dict = {}
        self._net = None
        self._fit_lock = threading.Lock()
        self._compute: list[L.Layer] = []

    # ------------------------------------------------------------ building
    @property
    def built(self) -> bool:
        return self.n_features_in_ is not None

    @property
    def n_classes(self) -> int | None:
        out = [x for x in self.layers if isinstance(x, L.Dense)]
        return out[-1].units if out else None

    def _settle(self) -> None:
        """Decide biases, initializations and fusions from each layer's neighbours."""
        layers = self.layers
        for i, layer in enumerate(layers):
            nxt = layers[i + 1] if i + 1 < len(layers) else None
            if isinstance(layer, L.Dense):
                layer.use_bias = layer.bias if layer.bias is not None else not isinstance(nxt, L.BatchNorm)
                act = layers[i + 2] if isinstance(nxt, L.BatchNorm) and i + 2 < len(layers) else nxt
                layer.he_init = layer.init == "he" or (
                    layer.init == "auto" and isinstance(act, (L.ReLU, L.LeakyReLU)))
            elif isinstance(layer, L.BatchNorm):
                layer.fused_relu = type(nxt) is L.ReLU
                if layer.fused_relu:
                    nxt.fused = True
        self._compute = [x for x in layers
                         if not isinstance(x, L.Softmax) and not getattr(x, "fused", False)]

    def build(self, n_features: int, n_classes: int | None = None) -> "Sequential":
        """Create the weights for inputs of ``n_features`` (and ``n_classes`` if the output is open)."""
        n_features = L._positive_int(n_features, "n_features")
        if n_classes is not None:
            for layer in self.layers:
                if isinstance(layer, L.Dense) and layer.units is None:
                    layer.units = L._positive_int(n_classes, "n_classes")
        self._settle()
        width = n_features
        for layer in self.layers:
            width = layer.build(width)
        self._allocate()
        for layer in self.layers:
            layer.initialize(layer.params, layer.state, self._rng)
        self.n_features_in_ = n_features
        self._net = _kernels.network.Network([layer.spec() for layer in self._compute],
                                             n_features, self.dtype)
        self._gemm_per_row = max((x.n_in * x.n_out for x in self.layers if isinstance(x, L.Dense)),
                                 default=0)
        self._workspaces.clear()
        return self

    def _adopt(self, classes: np.ndarray, n_features: int) -> None:
        """Take the classes a first fit found, and build the weights if there are none yet."""
        self.classes_ = classes
        if not self.built:
            self.build(n_features, len(classes))

    def _allocate(self) -> None:
        n_params = sum(int(np.prod(s)) for x in self.layers for s in x.param_shapes().values())
        n_state = sum(int(np.prod(s)) for x in self.layers for s in x.state_shapes().values())
        self._params = np.zeros(n_params, self.dtype)
        self._grads = np.zeros(n_params, self.dtype)
        self._state = np.zeros(n_state, self.dtype)
        p_at = s_at = 0
        for layer in self.layers:
            params, grads, state = {}, {}, {}
            for name, shape in layer.param_shapes().items():
                size = int(np.prod(shape))
                params[name] = self._params[p_at:p_at + size].reshape(shape)
                grads[name] = self._grads[p_at:p_at + size].reshape(shape)
                p_at += size
            for name, shape in layer.state_shapes().items():
                size = int(np.prod(shape))
                state[name] = self._state[s_at:s_at + size].reshape(shape)
                s_at += size
            layer.bind(params, grads, state)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (0 before the model is built)."""
        return self._params.size if self.built else 0

    # ------------------------------------------------------------ weights
    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the flat parameter and state arrays."""
        self._require_built()
        return {"params": self._params.copy(), "state": self._state.copy()}

    def set_weights(self, weights: dict) -> None:
        """Restore what :meth:`get_weights` returned."""
        self._require_built()
        for key, target in (("params", self._params), ("state", self._state)):
            arr = np.asarray(weights[key])
            if arr.shape != target.shape:
                raise ValueError(f"{key} must have shape {target.shape}; got {arr.shape}")
            target[...] = arr

    # ------------------------------------------------------------ inputs
    def _require_built(self) -> None:
        if not self.built:
            raise RuntimeError("the model has no weights yet: call fit (or build) first")

    def _check_X(self, X, name="X") -> np.ndarray:
        arr = np.asarray(X)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold numbers; got dtype {arr.dtype}")
        if arr.ndim != 2:
            hint = " (use X.reshape(1, -1) for a single sample)" if arr.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features); "
                             f"got shape {arr.shape}{hint}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no samples")
        if self.built and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {arr.shape[1]} features but the model takes "
                             f"{self.n_features_in_}")
        arr = np.ascontiguousarray(arr, dtype=self.dtype)
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} contains NaN or infinite values")
        return arr

    def _classes_for(self, y: np.ndarray) -> np.ndarray:
        """The classes a first fit on labels ``y`` gives the model (it sets nothing)."""
        units = self.n_classes
        found = np.unique(y)
        if units is None:
            if found.size < 2:
                raise ValueError(f"y must hold at least 2 classes; got {found.size}")
            return found
        if y.dtype.kind in "iu" and found[0] >= 0 and found[-1] < units:
            return np.arange(units)
        if found.size == units:
            return found
        raise ValueError(f"the output layer has {units} units but y holds {found.size} "
                         f"classes; labels must be 0..{units - 1} or {units} distinct values")

    def _encode(self, y, n_samples: int, name="y", classes=None) -> np.ndarray:
        """Labels as int64 indices into ``classes`` (default ``classes_``)."""
        arr = np.asarray(y)
        if arr.ndim != 1 or arr.shape[0] != n_samples:
            raise ValueError(f"{name} must have shape ({n_samples},); got {arr.shape}")
        classes = self.classes_ if classes is None else classes
        try:
            idx = np.searchsorted(classes, arr)
        except TypeError:
            raise TypeError(f"{name} labels cannot be compared with the model's classes "
                            f"{classes.tolist()}") from None
        idx = np.minimum(idx, len(classes) - 1)
        bad = classes[idx] != arr
        if np.any(bad):
            unknown = np.unique(arr[bad])[:5].tolist()
            raise ValueError(f"{name} holds labels the model does not know: {unknown}; "
                             f"its classes are {classes.tolist()}")
        return idx.astype(np.int64)

    # ------------------------------------------------------------ training
    def _workspace(self, n: int):
        """The training buffers for batches of ``n`` rows (made once, kept)."""
        ws = self._workspaces.get(n)
        if ws is None:
            if len(self._workspaces) >= _MAX_WORKSPACES:
                self._workspaces.pop(next(iter(self._workspaces)))
            ws = self._workspaces[n] = self._net.workspace(n)
        return ws

    def _train_step(self, ws, n_threads: int) -> tuple[float, int]:
        """Forward, fused loss, backward over ``ws``; return (mean loss, correct count).

        Gradients land in the flat gradient array; nothing is updated.
        """
        return self._net.train_step(ws, n_threads)

    def fit(self, X, y, *, epochs: int = 10, batch_size: int = 32, optimizer=None,
            lr_decay=None, validation_data=None, shuffle: bool = True, seed: int | None = None,
            callbacks=None, verbose: int = 0):
        """Train with mini-batches; see :func:`fastnn.train.fit` for the parameters.

        Returns
        -------
        History
            This call's epochs (``history_`` keeps all of them).
        """
        from fastnn.train import fit

        return fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                   lr_decay=lr_decay, validation_data=validation_data, shuffle=shuffle,
                   seed=seed, callbacks=callbacks, verbose=verbose)

    # ------------------------------------------------------------ inference
    def _forward(self, X: np.ndarray, softmax: bool, n_threads: int) -> np.ndarray:
        out = np.empty((X.shape[0], self._net.n_out), self.dtype)
        if X.shape[0] * self._gemm_per_row < BLAS_THREADING_MIN:   # no BLAS threads to hold
            self._net.forward(X, out, softmax, n_threads)
        else:
            with blas_held:
                self._net.forward(X, out, softmax, n_threads)
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples, n_classes)
            Column ``k`` is the probability of ``classes_[k]``; rows sum to 1.
        """
        self._require_built()
        return self._forward(self._check_X(X), True, resolve_n_threads(self.n_threads))

    def predict(self, X) -> np.ndarray:
        """Most probable class of each sample.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array of shape (n_samples,), values from ``classes_``
        """
        self._require_built()
        z = self._forward(self._check_X(X), False, resolve_n_threads(self.n_threads))
        return self.classes_[np.argmax(z, axis=1)]

    def evaluate(self, X, y) -> dict[str, float]:
        """Mean cross-entropy loss and accuracy on ``(X, y)``, with test-time batch norm.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : array of shape (n_samples,), labels from ``classes_``

        Returns
        -------
        dict with keys "loss" and "accuracy"
        """
        self._require_built()
        X = self._check_X(X)
        labels = self._encode(y, X.shape[0])
        n_threads = resolve_n_threads(self.n_threads)
        logits = self._forward(X, False, n_threads)
        loss, correct = _kernels.ops.softmax_cross_entropy(logits, labels, None, n_threads)
        return {"loss": float(loss), "accuracy": correct / X.shape[0]}

    # ------------------------------------------------------------ description
    def get_config(self) -> dict:
        """Architecture and settings (JSON-serializable), without weights."""
        return {
            "layers": [{"class": type(x).__name__, "config": x.get_config()} for x in self.layers],
            "dtype": self.dtype.name,
            "n_threads": self.n_threads,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """Rebuild a model (without weights) from :meth:`get_config` output."""
        common = {"dtype": config["dtype"], "n_threads": config.get("n_threads"),
                  "seed": config.get("seed")}
        if "mlp" in config:
            return MLP(**config["mlp"], **common)
        return Sequential([L.layer_from_config(c) for c in config["layers"]], **common)

    def summary(self) -> str:
        """A table of the layers, their output widths and parameter counts."""
        rows = [f"{'layer':<34}{'output':>8}{'params':>10}"]
        for layer in self.layers:
            note = " (fused into BatchNorm)" if getattr(layer, "fused", False) else ""
            n = sum(int(np.prod(s)) for s in layer.param_shapes().values()) if self.built else 0
            width = layer.n_out if self.built else "?"
            rows.append(f"{repr(layer) + note:<34}{width:>8}{n:>10}")
        rows.append(f"total parameters: {self.n_params}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        inner = ", ".join(repr(x) for x in self.layers)
        return f"{type(self).__name__}([{inner}], dtype={self.dtype.name!r})"

    def save(self, path, *, include_optimizer: bool = False) -> None:
        """Write the model to one file; see :func:`fastnn.io.save`."""
        from fastnn.io import save

        save(self, path, include_optimizer=include_optimizer)


_ACTIVATIONS = {"relu": L.ReLU, "leaky_relu": L.LeakyReLU, "tanh": L.Tanh, "sigmoid": L.Sigmoid}


class MLP(Sequential):
    """A multilayer perceptron classifier: Dense layers with batch norm and an activation.

    Each hidden layer is ``Dense -> BatchNorm -> activation`` (batch norm
    before the activation, the default) or ``Dense -> activation ->
    BatchNorm``; then ``Dense(n_classes) -> Softmax``.

    Parameters
    ----------
    hidden : sequence of int, default (128, 64)
        Widths of the hidden layers (may be empty: softmax regression).
    n_classes : int, optional
        Output width; default: the number of distinct labels in the first ``fit``.
    batch_norm : bool, default True
    bn_position : {"before", "after"}, default "before"
        Normalize each layer's pre-activation ``z`` ("before") or its activation ("after").
    activation : {"relu", "leaky_relu", "tanh", "sigmoid"}, default "relu"
    bn_momentum : float, default 0.9
    dtype, n_threads, seed
        As for :class:`Sequential`.
    """

    def __init__(self, hidden=(128, 64), n_classes: int | None = None, *, batch_norm: bool = True,
                 bn_position: str = "before", activation: str = "relu", bn_momentum: float = 0.9,
                 dtype="float32", n_threads: int | None = None, seed: int | None = None):
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        hidden = tuple(L._positive_int(h, "hidden layer width") for h in hidden)
        if bn_position not in ("before", "after"):
            raise ValueError(f"bn_position must be 'before' or 'after'; got {bn_position!r}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        layers: list[L.Layer] = []
        for width in hidden:
            act = _ACTIVATIONS[activation]()
            if not batch_norm:
                layers += [L.Dense(width), act]
            elif bn_position == "before":
                layers += [L.Dense(width), L.BatchNorm(bn_momentum), act]
            else:
                layers += [L.Dense(width), act, L.BatchNorm(bn_momentum)]
        layers += [L.Dense(L._positive_int(n_classes, "n_classes", allow_none=True)), L.Softmax()]
        super().__init__(layers, dtype=dtype, n_threads=n_threads, seed=seed)
        self.hidden, self.batch_norm, self.bn_position = hidden, bool(batch_norm), bn_position
        self.activation, self.bn_momentum = activation, bn_momentum

    def get_config(self) -> dict:
        return {**super().get_config(),
                "mlp": {"hidden": list(self.hidden), "n_classes": self.n_classes,
                        "batch_norm": self.batch_norm, "bn_position": self.bn_position,
                        "activation": self.activation, "bn_momentum": self.bn_momentum}}

    def __repr__(self) -> str:
        return (f"MLP(hidden={self.hidden}, n_classes={self.n_classes}, batch_norm={self.batch_norm}, "
                f"bn_position={self.bn_position!r}, activation={self.activation!r}, "
                f"dtype={self.dtype.name!r})")
