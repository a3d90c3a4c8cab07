"""Sequential models and the MLP builder.

A model is the container of its layers, what it learned from its targets
(classes, the targets' shape; each loss reads its own targets,
``fastnn.losses``) and its file form (save, load, pickling). Once it knows
its input width it holds an :class:`fastnn.engine.Engine` (``model.engine``):
the flat parameter, gradient and state arrays the layers view, the compiled
network, the workspaces and the thread choice, which the fit loop
(``fastnn.train``) and the scikit-learn estimators train through.

How the layers fit together (a ReLU right after a BatchNorm runs inside the
batch-norm kernel, a Dense followed by BatchNorm has no bias, the output
layer is fused with its loss in training) is decided by one pure pass,
``fastnn.layers.plan``.

Prediction allocates its own buffers, so one fitted model can serve
predictions from several threads at once.
"""

from __future__ import annotations

import numbers
import os
import threading

import numpy as np

from fastnn import _columns, io, train
from fastnn import _validation as V
from fastnn import layers as L
from fastnn._threads import resolve_n_threads
from fastnn.engine import Engine, array_sizes
from fastnn.losses import get_loss
from fastnn.optim import optimizer_from_config
from fastnn.ops import check_sample_weight
from fastnn.train import History

__all__ = ["Sequential", "MLP", "load"]


class Sequential:
    """A stack of layers trained on one loss.

    Parameters
    ----------
    layers : list of Layer
        The last one is the layer the loss absorbs (``Softmax`` for
        ``loss="softmax_cross_entropy"``, the default: a classifier;
        ``Sigmoid``, optional, for ``"sigmoid_cross_entropy"``), or for the
        other losses the output itself (usually a ``Dense``). A
        ``Dense(None)`` output layer takes its width (classes, labels or
        target columns) when the model first sees its targets.
    loss : str or fastnn.losses.Loss, default "softmax_cross_entropy"
        A name of ``fastnn.losses.LOSSES`` (one per row of ``fastnn/kinds.py``:
        "softmax_cross_entropy", "sigmoid_cross_entropy", "mse", "poisson",
        "huber"...), with its default settings, or a loss with its own
        (``fastnn.losses.Huber(delta=2.0)``). See :mod:`fastnn.losses`.
    dtype : {"float32", "float64"}, default "float32"
        Precision of parameters and computation.
    n_threads : int, optional
        Threads for the kernels. Default: fastnn's count
        (:func:`fastnn.get_num_threads`) for prediction; training then times
        itself on 1 thread and on that count, keeps the faster and checks
        again now and then (a busy machine can make fewer threads faster).
        Results have the same bits either way.
    seed : int, optional
        Seeds the weight initialization and, unless ``fit`` gets its own
        seed, the shuffling and dropout. A given seed gives the same model
        every run, at any thread count.

    Attributes
    ----------
    classes_ : array of shape (n_classes,) or None
        The labels, in the order of the output units (softmax cross-entropy;
        set by the first ``fit``).
    n_outputs : int or None
        Width of the output layer.
    n_features_in_ : int
    feature_names_in_ : list of str or None
        Names of the input columns, if the caller set them (saved with the model).
    history_ : History
        All epochs of all ``fit`` calls.
    optimizer : Optimizer or None
        The optimizer of the last ``fit``; the next ``fit`` continues with it.
    engine : fastnn.engine.Engine or None
        The flat arrays, compiled network and training calls (None until built).
    """

    def __init__(self, layers, *, loss="softmax_cross_entropy", dtype="float32",
                 n_threads: int | None = None, seed: int | None = None):
        layers = list(layers)
        if not layers or not all(isinstance(layer, L.Layer) for layer in layers):
            raise TypeError("layers must be a non-empty list of fastnn layers")
        self.loss = get_loss(loss)
        _check_output_layer(layers, self.loss)
        if len(set(map(id, layers))) != len(layers):
            raise ValueError("a layer object appears twice; make a new layer for each place")
        self.dtype = np.dtype(dtype) if isinstance(dtype, (str, type, np.dtype)) else None
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64'; got {dtype!r}")
        self.engine: Engine | None = None
        self.n_threads = n_threads
        V.seed(seed)
        self.layers = layers
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self.classes_: np.ndarray | None = None
        self.y_ndim_: int | None = None          # targets' ndim at the first fit (1 or 2)
        self.n_features_in_: int | None = None
        self.feature_names_in_: list[str] | None = None
        self.optimizer = None
        self.epochs_trained_ = 0
        self.stop_training = False
        self.dropout_seed_: int | None = None    # set by the first fit of a model with dropout
        self.history_ = History()
        self._fit_lock = threading.Lock()
        self.plan: list[L.Placement] = L.plan(layers, self.loss.output_layer)

    # ------------------------------------------------------------ building
    @property
    def n_threads(self) -> int | None:
        """Threads for the kernels (None: fastnn's count; training then picks its own)."""
        return self._n_threads

    @n_threads.setter
    def n_threads(self, value) -> None:
        self._n_threads = None if value is None else resolve_n_threads(value)
        if self.engine is not None:
            self.engine.n_threads = self._n_threads

    @property
    def built(self) -> bool:
        return self.n_features_in_ is not None

    @property
    def n_outputs(self) -> int | None:
        """Width of the output layer (None until known)."""
        if self.engine is not None:
            return self.engine.n_out
        out = [x for x in self.layers if isinstance(x, L.Dense)]
        return out[-1].units if out else None

    @property
    def n_classes(self) -> int | None:
        return self.n_outputs

    @property
    def has_dropout(self) -> bool:
        return any(isinstance(x, L.Dropout) and not p.absorbed for x, p in zip(self.layers, self.plan))

    def build(self, n_features: int, n_outputs: int | None = None) -> "Sequential":
        """Create the weights for inputs of ``n_features`` (and ``n_outputs`` if the output is open)."""
        n_features = V.width(n_features, "n_features")
        self._declare(n_features, n_outputs)
        self.engine = Engine(self.layers, self.plan, n_features, self.dtype, self.loss.name,
                             self.n_threads, self.dropout_seed_ or 0, self.loss.values)
        for layer, place in zip(self.layers, self.plan):
            layer.initialize(layer.params, layer.state, self._rng, place)
        self.n_features_in_ = n_features
        return self

    def _declare(self, n_features: int, n_outputs: int | None = None) -> tuple[int, int]:
        """Give the layers their widths; return the (parameter, state) counts the weights
        will take. Allocates nothing."""
        n_features = V.width(n_features, "n_features")
        if n_outputs is not None:
            for layer in self.layers:
                if isinstance(layer, L.Dense) and layer.units is None:
                    layer.units = V.width(n_outputs, "n_outputs")
        width = n_features
        for layer in self.layers:
            width = layer.build(width)
        return array_sizes(self.layers, self.plan)

    def prepare(self, X, y) -> "Sequential":
        """Take the output width (and classes) from targets ``y`` and build the weights for
        ``X``, as a first ``fit`` does, without training. Later calls only check ``y``."""
        names = None if self.built else _columns.feature_names(X)
        X = self._check_X(X)
        _, first = self._read_targets(y, X.shape[0])
        if not self.built:
            self.feature_names_in_ = names
        self._adopt(first, X.shape[1])
        return self

    def _read_targets(self, y, n_samples: int, name: str = "y"):
        """``y`` as the kernel's targets, and what a first fit on it would learn (None after
        the first fit; see ``fastnn.losses.Targets``). Sets nothing."""
        if y is None:
            raise ValueError(f"{name} is required: the targets to train on")
        if self.y_ndim_ is not None:
            return self.loss.targets(self, y, n_samples, name), None
        return self.loss.first_targets(self, y, n_samples, name)

    def _adopt(self, first: dict | None, n_features: int) -> None:
        """Take what a first fit found, and build the weights if there are none yet."""
        if first is not None:
            self.classes_, self.y_ndim_ = first.classes, first.ndim
        if not self.built:
            self.build(n_features, None if first is None else first.n_outputs)

    @property
    def n_params(self) -> int:
        """Number of trainable parameters (0 before the model is built)."""
        return self.engine.params.size if self.built else 0

    # ------------------------------------------------------------ weights
    def get_weights(self) -> dict[str, np.ndarray]:
        """Copies of the flat parameter and state arrays."""
        self._require_built()
        return {"params": self.engine.params.copy(), "state": self.engine.state.copy()}

    def set_weights(self, weights: dict) -> None:
        """Restore what :meth:`get_weights` returned."""
        self._require_built()
        for key, target in (("params", self.engine.params), ("state", self.engine.state)):
            arr = np.asarray(weights[key])
            if arr.shape != target.shape:
                raise ValueError(f"{key} must have shape {target.shape}; got {arr.shape}")
            target[...] = arr

    # ------------------------------------------------------------ inputs
    def _require_built(self) -> None:
        if not self.built:
            raise RuntimeError("the model has no weights yet: call fit (or build) first")

    def _check_X(self, X, name="X") -> np.ndarray:
        if self.built:
            _columns.check_feature_names(self.feature_names_in_, X, name)
        arr = V.numeric_dtype(V.array(X, name), name)
        if arr.ndim != 2:
            hint = " (use X.reshape(1, -1) for a single sample)" if arr.ndim == 1 else ""
            raise ValueError(f"{name} must be 2-dimensional (n_samples, n_features); "
                             f"got shape {arr.shape}{hint}")
        if arr.shape[0] == 0:
            raise ValueError(f"{name} has no samples")
        if self.built and arr.shape[1] != self.n_features_in_:
            raise ValueError(f"{name} has {arr.shape[1]} features but the model takes "
                             f"{self.n_features_in_}")
        return V.to_float(arr, name, self.dtype)

    # ------------------------------------------------------------ training
    def seed_dropout(self, rng: np.random.Generator) -> None:
        """Draw the dropout seed of a model with dropout from ``rng``, unless it has one
        (a first fit does this; the seed is kept and saved)."""
        self._require_built()
        if self.has_dropout and self.dropout_seed_ is None:
            self.dropout_seed_ = int(rng.integers(0, 2**63))
            self.engine.set_dropout_seed(self.dropout_seed_)

    def fit(self, X, y, *, epochs: int = 10, batch_size: int = 32, optimizer=None,
            lr_decay=None, validation_data=None, shuffle: bool = True, seed=None,
            sample_weight=None, callbacks=None, verbose: int = 0) -> History:
        """Train with mini-batches; see :func:`fastnn.train.fit` for the parameters.

        Returns
        -------
        History
            This call's epochs (``history_`` keeps all of them).
        """
        options = train.FitOptions.check(
            epochs=epochs, batch_size=batch_size, optimizer=optimizer, default=self.optimizer,
            lr_decay=lr_decay, shuffle=shuffle, callbacks=callbacks, verbose=verbose)
        names = None if self.built else _columns.feature_names(X)
        X = self._check_X(X)
        n, n_features = X.shape
        if n < 2:
            raise ValueError("fit needs at least 2 samples")
        if options.batch_size < 2 and any(isinstance(x, L.BatchNorm) for x in self.layers):
            raise ValueError("batch_size must be at least 2 for a model with batch norm "
                             "(a batch of one row has no variance)")
        targets, first = self._read_targets(y, n)
        weight = check_sample_weight(sample_weight, n)
        val = self._validation_set(validation_data, n_features, first)
        seed = V.seed(seed, generator=True)
        if isinstance(seed, np.random.Generator):
            rng = seed
        else:
            rng = self._rng if seed is None else np.random.default_rng(seed)
        if not self._fit_lock.acquire(blocking=False):
            raise RuntimeError("fit is already running on this model (in another thread)")
        try:
            if not self.built:          # this fit makes the weights: X's column names are kept
                self.feature_names_in_ = names
            self._adopt(first, n_features)
            self.seed_dropout(rng)
            self.optimizer = options.optimizer
            return train.run(self, X, targets, weight, val, rng, options)
        finally:
            self._fit_lock.release()

    def check_validation_data(self, validation_data) -> None:
        """Check ``validation_data`` for this built model as ``fit`` will, before training
        (a model not fitted yet reads ``y_val`` as a first fit would read ``y``)."""
        if validation_data is None:
            return
        first = None
        if self.y_ndim_ is None and isinstance(validation_data, (tuple, list)) \
                and len(validation_data) in (2, 3) and validation_data[1] is not None:
            X_val = self._check_X(validation_data[0], "X_val")
            _, first = self._read_targets(validation_data[1], X_val.shape[0], "y_val")
        self._validation_set(validation_data, self.n_features_in_, first)

    def _validation_set(self, validation_data, n_features, first):
        """Checked ``(X_val, y_val, weights or None)``, or None."""
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a tuple (X_val, y_val) or "
                            "(X_val, y_val, sample_weight_val)")
        X_val = self._check_X(validation_data[0], "X_val")
        if X_val.shape[1] != n_features:
            raise ValueError(f"X_val has {X_val.shape[1]} features but X has {n_features}")
        y_val = validation_data[1]
        if y_val is None:
            raise ValueError("y_val is required: the targets to validate on")
        self.loss.targets(self, y_val, X_val.shape[0], "y_val", fitted=first)
        w_val = validation_data[2] if len(validation_data) == 3 else None
        check_sample_weight(w_val, X_val.shape[0], "sample_weight_val (validation_data[2])")
        return X_val, y_val, w_val

    # ------------------------------------------------------------ inference
    def _predict_outputs(self, X, output: bool) -> np.ndarray:
        """The engine's forward pass on ``X`` as predict takes it. A plain C-contiguous
        array of the model's dtype and width (a service scoring rows) skips the Python
        checks: the kernels check that it is finite, and anything else goes through
        ``_check_X`` and its messages."""
        self._require_built()
        n_threads = resolve_n_threads(self.n_threads)
        if (type(X) is np.ndarray and X.dtype is self.dtype and X.ndim == 2
                and X.shape[1] == self.n_features_in_ and X.shape[0] > 0
                and self.feature_names_in_ is None and X.flags.c_contiguous):
            out = self.engine.forward(X, output, n_threads, check_finite=True)
            if out is not None:
                return out
        return self.engine.forward(self._check_X(X), output, n_threads)

    def predict_proba(self, X) -> np.ndarray:
        """Probabilities, for the classification losses.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)

        Returns
        -------
        array
            Softmax cross-entropy: shape (n_samples, n_classes), column ``k``
            the probability of ``classes_[k]``, rows summing to 1. Sigmoid
            cross-entropy: each label's probability, in the targets' shape
            ((n_samples,) or (n_samples, n_labels)).
        """
        return self.loss.proba(self, self._predict_outputs(X, True))

    def predict(self, X) -> np.ndarray:
        """Predictions: the most probable class (softmax), 0/1 per label (sigmoid), or
        values (mse), in the shape of the targets the model was fitted on.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        """
        return self.loss.predict(self, self._predict_outputs(X, self.loss.output_map))

    def evaluate(self, X, y, *, sample_weight=None) -> dict[str, float]:
        """The loss and the loss's metric on ``(X, y)``, with test-time batch norm.

        Parameters
        ----------
        X : array of shape (n_samples, n_features)
        y : targets, as for ``fit``
        sample_weight : array of shape (n_samples,), optional
            Weighted means: ``sum_i w_i l_i / sum_i w_i``.

        Returns
        -------
        dict
            ``{"loss", "accuracy"}`` for the classification losses,
            ``{"loss", "r2"}`` for mse.
        """
        self._require_built()
        X = self._check_X(X)
        targets, _ = self._read_targets(y, X.shape[0])
        weight = check_sample_weight(sample_weight, X.shape[0])
        n_threads = resolve_n_threads(self.n_threads)
        z = self.engine.forward(X, False, n_threads)
        loss = self.engine.loss_value(z, targets, weight, n_threads)
        out = z
        if self.loss.output_map:            # probabilities, or poisson's means
            out = z.copy()
            self.engine.output(out, n_threads)
        return {"loss": loss, self.loss.metric: self.loss.score(self, out, targets, weight)}

    # ------------------------------------------------------------ description
    def get_config(self) -> dict:
        """Architecture and settings (JSON-serializable), without weights."""
        return {
            "layers": [{"class": type(x).__name__, "config": x.get_config()} for x in self.layers],
            "loss": self.loss.name,
            **({"loss_settings": self.loss.get_config()} if self.loss.settings else {}),
            "dtype": self.dtype.name,
            "n_threads": self.n_threads,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """Rebuild a model (without weights) from :meth:`get_config` output."""
        common = {"dtype": config["dtype"], "n_threads": config.get("n_threads"),
                  "seed": config.get("seed"),
                  "loss": get_loss(config.get("loss", "softmax_cross_entropy"),
                                   config.get("loss_settings"))}
        if "mlp" in config:
            return MLP(**config["mlp"], **common)
        return Sequential([L.layer_from_config(c) for c in config["layers"]], **common)

    def summary(self) -> str:
        """A table of the layers, their output widths and parameter counts."""
        rows = [f"{'layer':<34}{'output':>8}{'params':>10}"]
        for layer, place in zip(self.layers, self.plan):
            note = ""
            if place.absorbed:
                note = (" (fused into BatchNorm)" if isinstance(layer, L.ReLU) else
                        " (fused with the loss)" if place.index == len(self.layers) - 1 else
                        " (no-op)")
            n = (sum(int(np.prod(s)) for s in layer.param_shapes(place).values())
                 if self.built else 0)
            width = layer.n_out if self.built else "?"
            rows.append(f"{repr(layer) + note:<34}{width:>8}{n:>10}")
        rows.append(f"total parameters: {self.n_params}")
        return "\n".join(rows)

    def __repr__(self) -> str:
        inner = ", ".join(repr(x) for x in self.layers)
        return (f"{type(self).__name__}([{inner}], loss={_loss_repr(self.loss)}, "
                f"dtype={self.dtype.name!r})")

    # ------------------------------------------------------------ files
    def save(self, path, *, include_optimizer: bool = False) -> None:
        """Write the fitted model to one file: arrays plus a JSON header, never pickle.

        Parameters
        ----------
        path : str or path-like
            Written as given (conventionally ``*.fnn``); replaced atomically.
        include_optimizer : bool, default False
            Also store the optimizer and its moving averages, so that training
            can resume exactly (checkpoints).

        Raises
        ------
        RuntimeError
            If the model has no weights yet.
        ValueError
            If :func:`load` would refuse the file (NaN or infinite weights,
            feature names that do not match the features...): nothing is written.
        FileNotFoundError, IsADirectoryError
            If the folder does not exist, or ``path`` is a folder.
        """
        header, arrays = self._file_contents(V.boolean(include_optimizer, "include_optimizer"))
        _check_savable(header, arrays)
        io.write(path, header, arrays)

    def _file_contents(self, include_optimizer: bool) -> tuple[dict, dict]:
        """The header and arrays a model file holds (see :meth:`save`)."""
        self._require_built()
        custom = [type(x).__name__ for x in self.layers if type(x) not in L.BUILTIN_LAYERS]
        if custom:
            raise TypeError(f"a model with layers of your own ({', '.join(custom)}) cannot be "
                            "saved or pickled: model files hold fastnn's own layers only")
        header = {
            "config": self.get_config(),
            "n_features": self.n_features_in_,
            "feature_names": self.feature_names_in_,
            "classes": None if self.classes_ is None else io.classes_to_json(self.classes_),
            "y_ndim": self.y_ndim_,
            "n_outputs": self.n_outputs,
            "dropout_seed": self.dropout_seed_,
            "epochs_trained": self.epochs_trained_,
            "optimizer": None,
        }
        arrays = {"params": self.engine.params, "state": self.engine.state}
        if include_optimizer and self.optimizer is not None:
            header["optimizer"] = self.optimizer.get_config()
            for key, value in self.optimizer.state_dict().items():
                arrays[f"optimizer/{key}"] = np.asarray(value)
        return header, arrays

    def __reduce__(self):
        """Pickling (and ``copy.deepcopy``) goes through what :meth:`save` writes: the JSON
        header and the arrays, optimizer included; unpickling rebuilds the model with
        fastnn's constructors (:func:`_unpickle`), never from pickled objects."""
        if self.built:
            header, arrays = self._file_contents(include_optimizer=True)
        else:
            header, arrays = {"config": self.get_config(), "n_features": None}, {}
        return _unpickle, (io.header_to_text(header),
                           {key: np.array(value) for key, value in arrays.items()})

    def to_onnx(self, path=None, *, opset: int | None = None):
        """Export to ONNX: a graph that computes ``predict_proba`` and ``predict``.

        Needs the ``onnx`` package (``pip install onnx``); see
        :func:`fastnn.export.to_onnx` for the graph's inputs and outputs.

        Parameters
        ----------
        path : str or path-like, optional
            Where to write the ``.onnx`` file; without it only the proto is returned.
        opset : int, optional
            ONNX opset (default 17).

        Returns
        -------
        onnx.ModelProto
        """
        from fastnn.export import to_onnx

        return to_onnx(self, path, opset=opset)


def load(path) -> Sequential:
    """Read a model written by :meth:`Sequential.save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    Sequential (an ``MLP`` if it was one)
        Ready to predict; its ``optimizer`` is restored if it was saved.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        If the file is not a valid fastnn model file.
    """
    header, arrays = io.read(path)
    try:
        return _restore(header, arrays)
    except io.InvalidFile as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn model file: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{os.fspath(path)} is not a valid fastnn model file: "
                         f"{type(exc).__name__}: {exc}") from None
    except MemoryError:
        raise ValueError(f"{os.fspath(path)} declares a model too large to allocate on this "
                         "machine") from None


def _unpickle(text: str, arrays: dict) -> Sequential:
    """The model :meth:`Sequential.__reduce__` described, rebuilt as ``load`` rebuilds one."""
    header = io.header_from_text(text)
    if header.get("n_features") is None:                  # a model without weights yet
        return Sequential.from_config(_migrate(header))
    io.check_arrays({key: np.asarray(value) for key, value in arrays.items()})
    return _restore(header, arrays)


def _check_savable(header: dict, arrays: dict) -> None:
    """Restore the model from what ``save`` would write, as ``load`` will, so that no file is
    written that ``load`` refuses."""
    try:
        io.check_arrays({k: np.asarray(v) for k, v in arrays.items()})
        _restore(io.document(header), arrays)
    except (io.InvalidFile, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"the model cannot be saved: load would refuse the file, as {exc}"
                         ) from None


def _migrate(header: dict) -> dict:
    """The model configuration of a file, in this version's form (version 1 files,
    fastnn 0.1, had one loss and no dropout)."""
    config = dict(header["config"])
    if header.get("format_version") == 1:
        config.setdefault("loss", "softmax_cross_entropy")
        if "mlp" in config:
            config["mlp"] = {**config["mlp"], "dropout": config["mlp"].get("dropout", 0.0)}
    return config


def _restore(header: dict, arrays: dict) -> Sequential:
    config = _migrate(header)
    model = Sequential.from_config(config)
    classes = header.get("classes")
    n_outputs = header.get("n_outputs")
    if classes is not None:
        model.classes_ = io.classes_from_json(classes)
        n_outputs = n_outputs or len(model.classes_)
    model.y_ndim_ = header.get("y_ndim", 1)
    model.dropout_seed_ = header.get("dropout_seed")
    declared = model._declare(header["n_features"], n_outputs)
    for key, size in zip(("params", "state"), declared):
        arr = arrays.get(key)
        if arr is None or arr.size != size:
            found = "is missing" if arr is None else f"holds {arr.size} values"
            raise io.InvalidFile(f"its {key!r} array {found}, which does not fit the "
                                 f"architecture its header declares ({size} values)")
    model.build(header["n_features"], n_outputs)
    if model.get_config() != config:
        raise io.InvalidFile("its architecture is inconsistent (the layers do not match the "
                             "model's settings)")
    for key, target in (("params", model.engine.params), ("state", model.engine.state)):
        arr = arrays.get(key)
        if arr is None or arr.shape != target.shape or arr.dtype != target.dtype:
            raise io.InvalidFile(f"its {key!r} array does not fit the architecture "
                                 f"(expected {target.shape} {target.dtype})")
        target[...] = arr
    model.epochs_trained_ = int(header.get("epochs_trained", 0))
    names = header.get("feature_names")
    if names is not None and (len(names) != model.n_features_in_
                              or not all(isinstance(n, str) for n in names)):
        raise io.InvalidFile(f"its feature names ({len(names)} of them) do not match its "
                             f"number of features ({model.n_features_in_}); the names must "
                             "be strings, one per feature")
    model.feature_names_in_ = names
    if header.get("optimizer"):
        opt = optimizer_from_config(header["optimizer"])
        prefix = "optimizer/"
        state = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
        state["t"] = int(state.get("t", 0))
        opt.load_state_dict(state)
        params = model.engine.params
        for slots in opt.slot_arrays():
            for slot, arr in slots.items():
                if len(opt.slot_arrays()) != 1 or arr.shape != params.shape \
                        or arr.dtype != params.dtype:
                    raise io.InvalidFile(
                        f"its optimizer state {slot!r} ({arr.shape}, {arr.dtype}) does not fit "
                        f"its parameters ({params.shape}, {params.dtype})")
        model.optimizer = opt
    return model


class MLP(Sequential):
    """A multilayer perceptron: Dense layers with batch norm, an activation and dropout.

    Each hidden layer is ``Dense -> BatchNorm -> activation`` (batch norm
    before the activation, the default) or ``Dense -> activation ->
    BatchNorm``, then ``Dropout(dropout)`` if ``dropout > 0``; then the
    output layer ``Dense(n_outputs)``, followed by the layer the loss
    absorbs: ``Softmax`` (the default loss), ``Sigmoid``
    (``loss="sigmoid_cross_entropy"``) or nothing (``loss="mse"``,
    ``"huber"``, ``"poisson"``: regression).

    Parameters
    ----------
    hidden : sequence of int, default (128, 64)
        Widths of the hidden layers (may be empty: softmax, logistic or
        linear regression).
    n_classes : int, optional
        Output width (classes, labels or target columns); default: from the
        targets of the first ``fit``.
    loss : str or fastnn.losses.Loss, default "softmax_cross_entropy"
        As for :class:`Sequential`.
    batch_norm : bool, default True
    bn_position : {"before", "after"}, default "before"
        Normalize each layer's pre-activation ``z`` ("before") or its activation ("after").
    activation : str, default "relu"
        An activation of ``fastnn.layers.ACTIVATIONS``, one per row of
        ``fastnn/kinds.py``: "relu", "leaky_relu", "tanh", "sigmoid"...
    bn_momentum : float, default 0.9
    dropout : float in [0, 1), default 0.0
        Dropout rate after each hidden layer.
    dtype, n_threads, seed
        As for :class:`Sequential`.
    """

    def __init__(self, hidden=(128, 64), n_classes: int | None = None, *,
                 loss="softmax_cross_entropy", batch_norm: bool = True,
                 bn_position: str = "before", activation: str = "relu", bn_momentum: float = 0.9,
                 dropout: float = 0.0, dtype="float32", n_threads: int | None = None,
                 seed: int | None = None):
        if hidden is None:
            raise TypeError("hidden must be a sequence of layer widths, e.g. (128, 64), or () "
                            "for no hidden layer; got None")
        if isinstance(hidden, numbers.Integral):
            hidden = (hidden,)
        hidden = tuple(V.width(h, "hidden layer width") for h in hidden)
        if bn_position not in ("before", "after"):
            raise ValueError(f"bn_position must be 'before' or 'after'; got {bn_position!r}")
        if not isinstance(activation, str) or activation not in L.ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(L.ACTIVATIONS)}; "
                             f"got {activation!r}")
        loss = get_loss(loss)
        output = loss.output_layer
        batch_norm = V.boolean(batch_norm, "batch_norm")
        dropout = V.real(dropout, "dropout", lo=0, hi=1, hi_open=True)
        bn_momentum = V.real(bn_momentum, "bn_momentum", lo=0, hi=1)
        layers: list[L.Layer] = []
        for width in hidden:
            act = L.ACTIVATIONS[activation]()
            if not batch_norm:
                layers += [L.Dense(width), act]
            elif bn_position == "before":
                layers += [L.Dense(width), L.BatchNorm(bn_momentum), act]
            else:
                layers += [L.Dense(width), act, L.BatchNorm(bn_momentum)]
            if dropout > 0:
                layers.append(L.Dropout(dropout))
        layers.append(L.Dense(V.width(n_classes, "n_classes", allow_none=True)))
        if output is not None:
            layers.append(output())
        super().__init__(layers, loss=loss, dtype=dtype, n_threads=n_threads, seed=seed)
        self.hidden, self.batch_norm, self.bn_position = hidden, batch_norm, bn_position
        self.activation, self.bn_momentum, self.dropout = activation, bn_momentum, dropout

    def get_config(self) -> dict:
        return {**super().get_config(),
                "mlp": {"hidden": list(self.hidden), "n_classes": self.n_classes,
                        "batch_norm": self.batch_norm, "bn_position": self.bn_position,
                        "activation": self.activation, "bn_momentum": self.bn_momentum,
                        "dropout": self.dropout}}

    def __repr__(self) -> str:
        return (f"MLP(hidden={self.hidden}, n_classes={self.n_classes}, "
                f"loss={_loss_repr(self.loss)}, "
                f"batch_norm={self.batch_norm}, bn_position={self.bn_position!r}, "
                f"activation={self.activation!r}, dropout={self.dropout}, "
                f"dtype={self.dtype.name!r})")


def _check_output_layer(layers, loss) -> None:
    """The last layer fits the loss; a Softmax stands nowhere else."""
    last = layers[-1]
    if any(isinstance(x, L.Softmax) for x in layers[:-1]):
        raise ValueError("Softmax can only be the last layer")
    if loss.output_layer is L.Softmax:
        if not isinstance(last, L.Softmax):
            raise ValueError(f"with loss={loss.name!r} (a classifier) the last layer "
                             "must be Softmax")
        if len(layers) < 2:
            raise ValueError("a Sequential model needs at least one layer before its Softmax")
    elif isinstance(last, L.Softmax):
        raise ValueError(f"a Softmax output does not go with loss={loss.name!r}; "
                         "end the model in a Dense layer (or the layer its loss absorbs)")


def _loss_repr(loss) -> str:
    """A model's loss as its repr shows it: the name, or the loss with its settings."""
    return repr(loss) if loss.settings else repr(loss.name)
