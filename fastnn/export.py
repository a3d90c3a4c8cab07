"""Export a fitted model to ONNX, for runtimes in other languages (onnxruntime and others).

The file computes what ``predict_proba`` and ``predict`` compute, with
test-time batch norm and no dropout. It is built in two passes:

1. :func:`inference_steps` reads the layers into a short list of steps,
   each an array computation: ``dense`` (``x @ W + b``), ``affine``
   (``x * a + b``: a batch norm with its running estimates folded in, one
   multiply-add per element) and ``activation``. Dropout is the identity
   at test time and leaves no step; a ReLU fused into the batch norm before
   it comes back as its own step. An ``affine`` that directly follows a
   ``dense`` is folded into its weights (``W * a``, ``b * a + shift``).
2. :func:`to_onnx` writes each step as ONNX nodes (``Gemm``, ``Mul`` and
   ``Add``, and the nodes each activation declares in ``fastnn/kinds.py``)
   with the ``onnx`` package's helpers, then the loss's output map (its
   row's ``onnx`` in ``fastnn/kinds.py``: softmax, sigmoid, identity, exp).

The graph has one input, ``X`` of shape (n_samples, n_features) in the
model's dtype (float32 or float64), with a dynamic batch dimension, and
these outputs:

- softmax cross-entropy: ``label`` (n_samples,), the class of
  ``predict``, and ``probabilities`` (n_samples, n_classes);
- sigmoid cross-entropy: ``label`` (0/1, int64) and ``probabilities``,
  both in the shape of the targets the model was fitted on ((n_samples,)
  or (n_samples, n_labels));
- the losses of real values and counts (mse, huber, poisson...):
  ``predictions`` (poisson: the means ``exp(z)``), in the shape of the
  targets;
- the scikit-learn estimators ``fastnn.MLPClassifier`` and
  ``MLPRegressor``: what their ``predict`` and ``predict_proba`` give: a
  binary classifier's ``probabilities`` are (n_samples, 2), ``[1 - p, p]``,
  and its ``label`` one of ``classes_``; a multi-label one gives 0/1 per
  label; a regressor's ``predictions`` (the exponential of the network's
  output for ``loss="poisson"``).

``onnx`` is an optional dependency (``pip install onnx``),
imported only when a model is exported.
"""

from __future__ import annotations

import json
import numbers
import os

import numpy as np

from fastnn import kinds
from fastnn import layers as L
from fastnn._version import __version__
from fastnn.io import replace_atomically

__all__ = ["to_onnx", "inference_steps", "DEFAULT_OPSET", "MIN_OPSET"]

#: the opset written by default: supported by onnxruntime 1.12 and later
DEFAULT_OPSET = 17
#: the oldest opset the graph can be written in (Softmax over one axis, ArgMax as written)
MIN_OPSET = 13



def _import_onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError("exporting to ONNX needs the onnx package: pip install onnx") from None
    return onnx


def inference_steps(model) -> list[tuple]:
    """The model's test-time computation as a list of steps on float64 arrays.

    Parameters
    ----------
    model : Sequential
        A built (fitted or loaded) model of fastnn's own layers.

    Returns
    -------
    list of tuple
        ``("dense", W, b)`` with ``W`` of shape (n_in, n_out) and ``b`` of
        shape (n_out,) or None; ``("affine", a, b)``, ``y = x * a + b``
        per column; ``("activation", name, alpha)``. The loss's output map
        (softmax, sigmoid) is not a step.

    Raises
    ------
    TypeError
        If the model holds a layer written in Python (a ``fastnn.Layer``
        subclass with its own ``forward``): it has no ONNX equivalent.
    RuntimeError
        If the model has no weights yet.
    """
    _check_model(model)
    steps = [step for layer, place in zip(model.layers, model.plan)
             for step in layer.inference_steps(place)]
    return _fold(steps)


def _check_model(model) -> None:
    layers = getattr(model, "layers", None)
    if layers is None or not hasattr(model, "plan") or not hasattr(model, "loss"):
        raise TypeError(f"model must be a fastnn Sequential or MLP; got {type(model).__name__}")
    for i, layer in enumerate(layers):
        if type(layer) not in L.BUILTIN_LAYERS:
            raise TypeError(f"layer {i}, {type(layer).__name__}, is a layer written in Python: "
                            "it cannot be exported to ONNX (only fastnn's own layers can: "
                            f"{', '.join(c.__name__ for c in L.BUILTIN_LAYERS)})")
    if not model.built:
        raise RuntimeError("the model has no weights yet: call fit (or build) before exporting")


def _fold(steps: list[tuple]) -> list[tuple]:
    """Fold each affine step that directly follows a dense step into its weights."""
    out: list[tuple] = []
    for step in steps:
        if step[0] == "affine" and out and out[-1][0] == "dense":
            _, W, b = out.pop()
            _, a, shift = step
            out.append(("dense", W * a, shift if b is None else b * a + shift))
        else:
            out.append(step)
    return out


def to_onnx(model, path=None, *, opset: int | None = None):
    """Write ``model`` as an ONNX graph that computes ``predict_proba`` and ``predict``.

    Parameters
    ----------
    model : Sequential, MLP, MLPClassifier or MLPRegressor
        Fitted (or loaded), made of fastnn's own layers.
    path : str or path-like, optional
        Where to write the ``.onnx`` file (replaced atomically). Without
        it nothing is written and only the model proto is returned.
    opset : int, optional
        ONNX opset of the default domain, from 13 to the installed
        ``onnx`` package's newest; default 17.

    Returns
    -------
    onnx.ModelProto
        Input ``X`` (n_samples, n_features) in the model's dtype; outputs
        ``label`` and ``probabilities`` for the classification losses,
        ``predictions`` for mse (see :mod:`fastnn.export`).

    Raises
    ------
    ImportError
        If the ``onnx`` package is not installed.
    TypeError
        If the model holds a layer written in Python.
    RuntimeError
        If the model has no weights yet.
    """
    onnx = _import_onnx()
    opset = _check_opset(onnx, opset)
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or path-like) or None; got "
                        f"{type(path).__name__}")
    net = _network_of(model)
    steps = inference_steps(net)
    meta = {"loss": net.loss.name}
    names = getattr(model, "feature_names_in_", None)
    if names is not None:
        meta["feature_names"] = json.dumps([str(n) for n in names])
    proto = _GraphWriter(onnx, net.dtype).model(net, _head(model, net), steps, opset,
                                                repr(model), meta)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        data = proto.SerializeToString()
        replace_atomically(path, lambda fh: fh.write(data))
    return proto


def _network_of(model):
    """The fastnn network of a model, or of a fitted scikit-learn-style estimator."""
    if hasattr(model, "out_activation_") or type(model).__name__ in ("MLPClassifier",
                                                                     "MLPRegressor"):
        if not type(model).__module__.startswith("fastnn"):
            raise TypeError(f"model is {type(model).__module__}.{type(model).__name__}, not a "
                            "fastnn model: fit fastnn.MLPClassifier or fastnn.MLPRegressor (the "
                            "same parameters) to export it here")
        net = getattr(model, "model_", None)
        if net is None:
            raise RuntimeError(f"this {type(model).__name__} is not fitted yet: call fit "
                               "before exporting")
        return net
    return model


def _check_opset(onnx, opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if isinstance(opset, bool) or not isinstance(opset, numbers.Integral) or not (
            MIN_OPSET <= opset <= newest):
        raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest} (the installed "
                         f"onnx package's newest); got {opset!r}")
    return int(opset)


class _GraphWriter:
    """Nodes and initializers of one graph, named in order."""

    def __init__(self, onnx, dtype: np.dtype):
        self.onnx, self.h = onnx, onnx.helper
        self.dtype = np.dtype(dtype)
        self.elem = self.h.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value) -> str:
        arr = np.asarray(value)
        if arr.dtype.kind == "U":
            arr = arr.astype(object)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.h.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def steps(self, steps: list[tuple], x: str) -> str:
        for i, step in enumerate(steps):
            if step[0] == "dense":
                _, W, b = step
                inputs = [x, self.const(f"W{i}", W.astype(self.dtype))]
                if b is not None:
                    inputs.append(self.const(f"b{i}", b.astype(self.dtype)))
                x = self.node("Gemm", inputs, f"dense{i}")
            elif step[0] == "affine":
                _, a, b = step
                x = self.node("Mul", [x, self.const(f"scale{i}", a.astype(self.dtype))],
                              f"scaled{i}")
                x = self.node("Add", [x, self.const(f"shift{i}", b.astype(self.dtype))],
                              f"batchnorm{i}")
            else:
                _, kind, alpha = step
                x = self.activation(kinds.activation(kind), alpha, x, f"{kind}{i}")
        return x

    def activation(self, row: kinds.Activation, alpha: float, x: str, name: str) -> str:
        """The ONNX nodes an activation declares (``kinds.Activation.onnx``) on ``x``."""
        outs: list[str] = []
        for k, (op, inputs, attrs) in enumerate(row.onnx):
            names = []
            for j, arg in enumerate(inputs):
                if arg == "x":
                    names.append(x)
                elif isinstance(arg, str):              # "$k": node k's output
                    names.append(outs[int(arg[1:])])
                else:                                   # a constant
                    names.append(self.const(f"{name}_c{k}_{j}", np.array(arg, self.dtype)))
            values = {key: alpha if value == "alpha" else self.elem if value == "dtype" else value
                      for key, value in attrs.items()}
            last = k == len(row.onnx) - 1
            outs.append(self.node(op, names, name if last else f"{name}_{k}", **values))
        return outs[-1]

    def flat(self, x: str, flat: bool, name: str) -> str:
        """``x`` (n, k) as ``name``: (n,) when ``flat`` (one output, 1-d targets)."""
        if flat:
            return self.node("Reshape", [x, self.const("flat", np.array([-1], np.int64))], name)
        return self.node("Identity", [x], name)

    def labels(self, index: str, classes) -> tuple[str, int]:
        """``classes[index]`` as the output ``label`` (or ``index`` itself, as int64, when
        there are no classes); returns the name and ONNX element type."""
        if classes is None:
            return self.node("Identity", [index], "label"), self.onnx.TensorProto.INT64
        classes = np.asarray(classes)
        if classes.dtype.kind in "iu":
            classes = classes.astype(np.int64)
        elif classes.dtype.kind in "UO":
            classes = classes.astype(str).astype(object)
        self.node("Gather", [self.const("classes", classes), index], "label", axis=0)
        return "label", self.h.np_dtype_to_tensor_dtype(classes.dtype)

    def outputs(self, head: dict, z: str, n_out: int) -> list:
        """The loss's output map and the graph's outputs (see :func:`_head`)."""
        h, kind = self.h, head["kind"]
        shape = ["n_samples"] if head["flat"] else ["n_samples", n_out]
        if kind == "softmax":
            self.node("Softmax", [z], "probabilities", axis=1)
            index = self.node("ArgMax", ["probabilities"], "class_index", axis=1, keepdims=0)
            _, label_type = self.labels(index, head["classes"])
            return [h.make_tensor_value_info("label", label_type, ["n_samples"]),
                    h.make_tensor_value_info("probabilities", self.elem,
                                             ["n_samples", n_out])]
        if kind == "sigmoid":
            probs = self.flat(self.node("Sigmoid", [z], "sigmoid"), head["flat"],
                              "positive" if head["pair"] else "probabilities")
            above = self.node("Greater", [probs, self.const("half", np.array(0.5, self.dtype))],
                              "above_half")
            _, label_type = self.labels(self.node("Cast", [above], "label_index",
                                                  to=self.onnx.TensorProto.INT64),
                                        head["classes"])
            if head["pair"]:     # scikit-learn's binary predict_proba: [1 - p, p]
                one = self.const("one", np.array(1.0, self.dtype))
                negative = self.node("Sub", [one, "sigmoid"], "negative")
                self.node("Concat", [negative, "sigmoid"], "probabilities", axis=1)
                return [h.make_tensor_value_info("label", label_type, ["n_samples"]),
                        h.make_tensor_value_info("probabilities", self.elem, ["n_samples", 2])]
            return [h.make_tensor_value_info("label", label_type, shape),
                    h.make_tensor_value_info("probabilities", self.elem, shape)]
        if kind == "exp":
            z = self.node("Exp", [z], "exp")
        self.flat(z, head["flat"], "predictions")
        return [h.make_tensor_value_info("predictions", self.elem, shape)]

    def model(self, net, head: dict, steps: list[tuple], opset: int, doc: str, meta: dict):
        h = self.h
        x = h.make_tensor_value_info("X", self.elem, ["n_samples", net.n_features_in_])
        outputs = self.outputs(head, self.steps(steps, "X"), net.n_outputs)
        graph = h.make_graph(self.nodes, "fastnn_model", [x], outputs, self.inits,
                             doc_string=doc)
        opsets = [h.make_opsetid("", opset)]
        proto = h.make_model(graph, opset_imports=opsets, producer_name="fastnn",
                             producer_version=__version__,
                             ir_version=h.find_min_ir_version_for(opsets))
        h.set_model_props(proto, {"dtype": self.dtype.name, **meta})
        return proto


def _head(obj, net) -> dict:
    """What follows the network's last layer: ``kind`` (softmax, sigmoid, identity, exp),
    the ``classes`` labels come from (None: 0/1 or indices), ``flat`` (one output given as
    (n,)) and ``pair`` (a binary classifier's probabilities as [1 - p, p], scikit-learn's)."""
    if hasattr(obj, "out_activation_"):          # fastnn.MLPClassifier / MLPRegressor
        kind = {row.sklearn[0]: row.onnx for row in kinds.LOSSES
                if row.sklearn}.get(obj.out_activation_)
        if kind is None:
            raise NotImplementedError(f"an output activation {obj.out_activation_!r} has no "
                                      "ONNX form yet")
        single = obj.n_outputs_ == 1
        classes = getattr(obj, "classes_", None)
        if kind == "sigmoid" and not single:
            classes = None                       # multi-label: a 0/1 indicator per label
        return {"kind": kind, "classes": classes, "flat": single,
                "pair": kind == "sigmoid" and single}
    return net.loss.onnx_head(net)          # each loss says what follows its network
