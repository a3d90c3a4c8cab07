"""Losses: what a model is trained to minimize, and what its outputs mean.

Each loss is declared once, as a row of ``fastnn/kinds.py`` (``LOSSES``):
its name, class, compiled kernel, formula, how it reads targets, the last
layer it absorbs, its output map, its settings and the PyTorch loss it
equals. This module makes one class per row (``SoftmaxCrossEntropy``,
``Huber``...); ``LOSSES`` maps names to them. A model's loss is an instance,
given by name (``loss="huber"``: the default settings) or as one
(``loss=Huber(delta=2.0)``). Each is fused with the network's last layer in
compiled code and is the weighted mean over rows ``sum_i w_i l_i / sum_i
w_i`` (the plain mean without sample weights).

How a loss reads its targets and what its outputs mean comes from its
row's ``targets``:

- ``"classes"`` (``softmax_cross_entropy``; the model ends in ``Softmax``):
  class labels of any sortable type, shape (n,). ``predict`` gives the most
  probable class, ``predict_proba`` the class probabilities. Metric:
  accuracy.
- ``"labels"`` (``sigmoid_cross_entropy``; the model ends in ``Sigmoid``, or
  a linear layer): each output is the logit of its own 0/1 label. Targets:
  0/1 of shape (n,) or (n, k). ``predict`` gives 0/1 of the targets' shape,
  ``predict_proba`` each label's probability. Metric: accuracy (a row
  counts when every label is right, as scikit-learn counts multi-label
  accuracy).
- ``"values"`` (``mse``, ``huber``; the model ends in a linear layer): real
  values of shape (n,) or (n, k); ``predict`` gives values of that shape.
  Metric: R^2 (scikit-learn's ``r2_score``, averaged over outputs).
- ``"counts"`` (``poisson``; the output ``z`` is the log of the predicted
  mean ``exp(z)``): values >= 0 of shape (n,) or (n, k); ``predict`` gives
  the means ``exp(z)``. Metric: R^2 of the means.

The width of the output layer comes from the targets at the first fit: one
unit per class, per label, or per target column.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from fastnn import _validation as V
from fastnn import kinds
from fastnn import layers as L

__all__ = ["Loss", "LOSSES", "get_loss", "Targets",
           *(row.cls for row in kinds.LOSSES)]


class Targets(NamedTuple):
    """What a model learns from the targets of its first fit.

    Attributes
    ----------
    classes : array or None
        The labels, in the order of the output units (classification).
    ndim : int or None
        The targets' number of dimensions (1 or 2).
    n_outputs : int or None
        Width of the output layer.
    """

    classes: np.ndarray | None
    ndim: int | None
    n_outputs: int | None


def fitted_targets(model) -> Targets:
    """What ``model`` learned from its targets (all None before its first fit, but the
    output width if its output layer has one)."""
    return Targets(model.classes_, model.y_ndim_, model.n_outputs)


class Loss:
    """A loss with its settings: how it reads targets and shapes predictions.

    The classes of :data:`LOSSES` (one per row of ``fastnn/kinds.py``) take the
    row's settings as keyword arguments (``Huber(delta=2.0)``).
    """

    row: kinds.LossRow | None = None    # its declaration
    name = ""
    output_layer: type | None = None    # the last layer the loss absorbs, if any
    metric = "accuracy"
    classifier = True
    output_map = True      # predictions go through the kernel's output map (softmax, exp...)

    def __init__(self, **settings):
        if self.row is None:
            raise TypeError("Loss is abstract: use a class of fastnn.losses.LOSSES")
        known = [name for name, _, _ in self.row.settings]
        unknown = sorted(set(settings) - set(known))
        if unknown:
            raise TypeError(f"loss {self.name!r} takes "
                            f"{'the settings ' + ', '.join(known) if known else 'no settings'}; "
                            f"got {', '.join(unknown)}")
        self.settings = {name: V.setting(settings.get(name, default), name, how)
                         for name, default, how in self.row.settings}

    @property
    def values(self) -> tuple:
        """Its settings in its row's order: what the compiled loss reads."""
        return tuple(float(v) for v in self.settings.values())

    def get_config(self) -> dict:
        """Its settings (JSON-serializable)."""
        return dict(self.settings)

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.settings == self.settings

    def __hash__(self) -> int:
        return hash((self.name, self.values))

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.settings.items())
        return f"{type(self).__name__}({inner})"

    # -- targets
    def outputs_for(self, y: np.ndarray) -> int:
        """Output width a first fit on targets ``y`` gives the model (it sets nothing)."""
        raise NotImplementedError

    def first_targets(self, model, y, n_samples: int, name: str = "y"
                      ) -> tuple[np.ndarray, Targets]:
        """``y`` in the kernel's form at ``model``'s first fit, and what that fit learns
        from it (it sets nothing)."""
        arr = label_array(V.array(y, name))
        out = self.targets(model, arr, n_samples, name)
        classes = np.array([0, 1]) if self.classifier else None
        return out, Targets(classes, arr.ndim, self.outputs_for(arr))

    def targets(self, model, y, n_samples: int, name: str = "y",
                fitted: Targets | None = None) -> np.ndarray:
        """``y`` in the kernel's form: int64 labels (n,) or floats (n, n_outputs), checked
        against what the model learned at its first fit (``fitted``; default: the
        model's own)."""
        raise NotImplementedError

    # -- predictions from the network's outputs (probabilities if proba_output)
    def predict(self, model, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def proba(self, model, out: np.ndarray) -> np.ndarray:
        raise TypeError(f"a model trained with loss={self.name!r} gives values, not "
                        "probabilities: use predict")

    def score(self, model, out: np.ndarray, targets: np.ndarray, weight) -> float:
        """The metric of outputs ``out`` (probabilities for classifiers) on kernel targets."""
        raise NotImplementedError

    def reference(self, model, targets: np.ndarray, weight) -> tuple[float, str]:
        """The loss of a trivial prediction on kernel targets, and what that prediction is:
        the scale against which training detects an exploding loss."""
        raise NotImplementedError

    def proba_columns(self, model) -> list[str]:
        """Names of ``predict_proba``'s columns (a CSV's header): P(1) of each label."""
        return ["proba"] if model.n_outputs == 1 else [
            f"proba_{j}" for j in range(model.n_outputs)]

    # -- export
    onnx_map = ""          # the output map in ONNX (fastnn.export): softmax, sigmoid, identity, exp

    def onnx_head(self, model) -> dict:
        """What an exported graph puts after the network (see ``fastnn.export``): ``kind``
        (the output map), the ``classes`` labels come from (None: 0/1 or indices), ``flat``
        (one output given as (n,)) and ``pair`` (a binary classifier's [1 - p, p])."""
        if not self.onnx_map:
            raise NotImplementedError(f"loss {self.name!r} has no ONNX output map yet")
        return {"kind": self.onnx_map, "classes": None, "flat": model.y_ndim_ == 1,
                "pair": False}


def _as_2d(model, y, n_samples, name, what, fitted):
    arr = V.array(y, name)
    if arr.ndim not in (1, 2) or arr.shape[0] != n_samples:
        raise ValueError(f"{name} must have shape ({n_samples},) or ({n_samples}, n_outputs); "
                         f"got {arr.shape}")
    V.numeric_dtype(arr, name, what)
    arr2 = arr.reshape(n_samples, -1)
    if fitted is None:
        fitted = fitted_targets(model) if model.built else Targets(None, model.y_ndim_, None)
    if fitted.n_outputs is not None and arr2.shape[1] != fitted.n_outputs:
        raise ValueError(f"{name} has {arr2.shape[1]} columns but the model has "
                         f"{fitted.n_outputs} outputs")
    if fitted.ndim is not None and arr.ndim != fitted.ndim:
        raise ValueError(f"{name} must be {fitted.ndim}-dimensional, as at the first fit; "
                         f"got shape {arr.shape}")
    return V.to_float(arr2, name, model.dtype)


def _reshape_like(model, values: np.ndarray) -> np.ndarray:
    return values[:, 0] if model.y_ndim_ == 1 else values


class _Classes(Loss):
    """Class labels; the outputs are softmax logits."""

    def outputs_for(self, y):
        return None                      # the model's classes decide (classes_for)

    def first_targets(self, model, y, n_samples, name="y"):
        arr = label_array(V.array(y, name))
        if arr.ndim != 1:
            raise ValueError(f"{name} must have shape ({n_samples},) for "
                             f"loss={self.name!r}; got {arr.shape} (for several "
                             "0/1 labels per row use loss='sigmoid_cross_entropy')")
        check_labels(arr, name)
        classes = classes_for(arr, model.n_outputs)
        fitted = Targets(classes, 1, len(classes))
        return self.targets(model, arr, n_samples, name, fitted), fitted

    def targets(self, model, y, n_samples, name="y", fitted=None):
        """Labels as int64 indices into the classes."""
        classes = model.classes_ if fitted is None else fitted.classes
        arr = label_array(y)
        if arr.ndim != 1 or arr.shape[0] != n_samples:
            raise ValueError(f"{name} must have shape ({n_samples},); got {arr.shape}")
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

    def predict(self, model, out):
        return model.classes_[np.argmax(out, axis=1)]

    def proba(self, model, out):
        return out

    def score(self, model, out, targets, weight):
        hit = (np.argmax(out, axis=1) == targets).astype(np.float64)
        return float(np.average(hit, weights=weight))

    def reference(self, model, targets, weight):
        k = model.n_outputs
        return float(np.log(k)), f"a uniform prediction over the {k} classes"

    def onnx_head(self, model):
        classes = np.arange(model.n_outputs) if model.classes_ is None else model.classes_
        return {"kind": self.onnx_map, "classes": classes, "flat": True, "pair": False}

    def proba_columns(self, model) -> list[str]:
        return [f"proba_{c}" for c in model.classes_]


class _Labels(Loss):
    """0/1 labels, one per output; the outputs are their logits."""

    def outputs_for(self, y):
        arr = np.asarray(y)
        return 1 if arr.ndim == 1 else arr.shape[1]

    def targets(self, model, y, n_samples, name="y", fitted=None):
        out = _as_2d(model, y, n_samples, name, "0 or 1 per label", fitted)
        if not np.isin(out, (0, 1)).all():
            raise ValueError(f"{name} must hold 0 or 1 (one column per label) for "
                             f"loss={self.name!r}")
        return out

    def predict(self, model, out):
        return _reshape_like(model, (out > 0.5).astype(np.int64))

    def proba(self, model, out):
        return _reshape_like(model, out)

    def score(self, model, out, targets, weight):
        hit = np.all((out > 0.5) == (targets > 0.5), axis=1).astype(np.float64)
        return float(np.average(hit, weights=weight))

    def reference(self, model, targets, weight):
        return float(np.log(2.0)), "predicting 0.5 for every label"


class _Values(Loss):
    """Real values; the outputs are the predictions."""

    metric = "r2"
    classifier = False

    def outputs_for(self, y):
        arr = np.asarray(y)
        return 1 if arr.ndim == 1 else arr.shape[1]

    def targets(self, model, y, n_samples, name="y", fitted=None):
        return _as_2d(model, y, n_samples, name, "real values", fitted)

    def predict(self, model, out):
        return _reshape_like(model, out)

    def score(self, model, out, targets, weight):
        """R^2 per output, averaged (scikit-learn's r2_score, uniform_average)."""
        pred, y = out.astype(np.float64), targets.astype(np.float64)
        w = np.ones(len(y)) if weight is None else np.asarray(weight, np.float64)
        mean = np.average(y, axis=0, weights=w)
        ss_res = (w[:, None] * (y - pred) ** 2).sum(axis=0)
        ss_tot = (w[:, None] * (y - mean) ** 2).sum(axis=0)
        r2 = np.where(ss_tot > 0, 1 - ss_res / np.where(ss_tot > 0, ss_tot, 1),
                      np.where(ss_res > 0, 0.0, 1.0))
        return float(np.mean(r2))

    def reference(self, model, targets, weight):
        sq = np.average(np.mean(np.square(targets, dtype=np.float64), axis=1), weights=weight)
        return max(float(sq), 1.0), "predicting 0 (or 1 per target, if larger)"


class _Counts(_Values):
    """Counts and rates >= 0: the outputs are log-means, predictions exp(z)."""

    def targets(self, model, y, n_samples, name="y", fitted=None):
        out = _as_2d(model, y, n_samples, name, "counts or rates >= 0", fitted)
        if np.any(out < 0):
            raise ValueError(f"{name} must be >= 0 for loss={self.name!r} (counts or rates)")
        return out

    def reference(self, model, targets, weight):
        mean = np.average(targets.astype(np.float64), axis=0, weights=weight)
        trivial = mean - mean * np.log(np.where(mean > 0, mean, 1.0))
        return max(float(np.mean(np.abs(trivial))), float(np.mean(mean)), 1.0), \
            "predicting the mean of each target"


_BY_TARGETS = {"classes": _Classes, "labels": _Labels, "values": _Values, "counts": _Counts}


def _loss_class(row: kinds.LossRow) -> type:
    """The class of one declared loss."""
    settings = "".join(f"\n    {name} : float, default {default}" for name, default, _
                       in row.settings)
    doc = (f"The {row.name!r} loss: ``l_i = {row.formula}``"
           + (f" (PyTorch's ``{row.torch[0]}``)" if row.torch else "") + ".\n"
           + (f"\n    Parameters\n    ----------{settings}\n" if settings else ""))
    return type(row.cls, (_BY_TARGETS[row.targets],), {
        "__doc__": doc, "__module__": __name__, "row": row, "name": row.name,
        "output_layer": getattr(L, row.output) if row.output else None,
        "output_map": row.onnx != "identity", "onnx_map": row.onnx})


#: the loss classes by name, one per row of fastnn/kinds.py
LOSSES: dict[str, type] = {row.name: _loss_class(row) for row in kinds.LOSSES}
globals().update({cls.__name__: cls for cls in LOSSES.values()})


def get_loss(loss, settings: dict | None = None) -> Loss:
    """A model's loss from ``loss``: a name of :data:`LOSSES` (with ``settings``, its
    settings by name; default: the row's defaults) or a :class:`Loss`; a clear error for
    any other value."""
    if isinstance(loss, Loss):
        if settings:
            raise TypeError("settings go with a loss's name; a Loss instance has its own")
        return loss
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a fastnn.losses.Loss; "
                         f"got {loss!r}")
    return LOSSES[loss](**(settings or {}))


def label_array(y) -> np.ndarray:
    """Targets as an array; labels held as Python strings (a pandas column of strings or a
    Categorical of them) become a NumPy string array, which model files can hold."""
    arr = np.asarray(y)
    if arr.dtype == object and arr.size and all(isinstance(v, str) for v in arr.ravel()):
        arr = arr.astype(str)
    return arr


def classes_for(y: np.ndarray, units: int | None) -> np.ndarray:
    """The classes a first fit on labels ``y`` gives a model whose output layer has
    ``units`` units (None: open, one per class found)."""
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


def check_labels(y: np.ndarray, name: str) -> None:
    """Class labels: given, of one sortable kind, finite, and not real values that call for
    regression."""
    if y.dtype.kind == "O":
        missing = [i for i, v in enumerate(y.tolist())
                   if v is None or (isinstance(v, float) and v != v)]
        if missing:
            raise ValueError(f"{name} has missing labels (None or NaN) at {len(missing)} "
                             f"rows, the first at index {missing[0]}; every row needs a label")
        try:
            np.unique(y)
        except TypeError:
            kinds = sorted({type(v).__name__ for v in y.tolist()})
            raise TypeError(f"{name} mixes labels that cannot be sorted together "
                            f"({', '.join(kinds)}); use labels of one kind, e.g. all "
                            "strings") from None
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"{name} holds NaN or infinite labels; class labels must be "
                             "finite")
        if not np.all(y == np.round(y)):
            raise ValueError(f"{name} holds non-integer values, which makes a class of each "
                             "one; for regression use loss='mse'")
