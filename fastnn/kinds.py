"""The activations, optimizer rules and losses fastnn computes, each declared once.

One row per activation (``ACTIVATIONS``), per optimizer rule (``RULES``) and
per loss (``LOSSES``).
Everything else derives from the rows. For the activations:

- the build (``setup.py``) reads this file and writes
  ``fastnn/_kernels/_kinds.pxi``: the compiled dispatch from an
  activation's number (its row's position) to its element functions
  ``<name>_forward`` and ``<name>_backward`` in ``_activations.pxd``;
- ``fastnn.layers`` makes one layer class per row (``ReLU``, ``GELU``...),
  ``fastnn.layers.ACTIVATIONS`` maps names to them, and ``fastnn``
  exports them;
- ``fastnn.ops`` makes the public kernels ``<name>`` and
  ``<name>_backward``; each has its NumPy twin of the same names in
  ``fastnn._reference``;
- ``MLP(activation=...)``, the command line's ``--activation``, the
  scikit-learn estimators' ``activation`` (``sklearn``), the initialization
  of the Dense layer before the activation (``init``), the ONNX export
  (``onnx``) and the tests, parametrized over the rows.

For the optimizer rules: the build writes ``fastnn/_kernels/_rules.pxi``
(row k dispatched to ``<name>_prepare`` and ``<name>_apply`` in
``_optim.pxd``); ``fastnn.optim`` makes the optimizer classes (``SGD``,
``Adam``...) and ``OPTIMIZERS``, ``fastnn.ops`` the ``<name>_update``
kernels (twins ``<name>_update`` in ``fastnn._reference``), the command
line its ``--optimizer`` choices; the tests compare each rule with its
twin and with its ``torch.optim`` class.

For the losses: the build writes ``fastnn/_kernels/_losses.pxd`` (row k's
``LossKind`` from the function its ``kernel`` names); ``fastnn.losses`` makes
the loss classes (``SoftmaxCrossEntropy``, ``Huber``...) and ``LOSSES``,
``fastnn.ops`` the ``<name>`` kernels (twins ``<name>`` in
``fastnn._reference``); the estimators' output activations and ONNX export's
output maps come from the rows, and the tests are parametrized over them.

This module imports nothing from fastnn (the build reads it before fastnn
exists).
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Activation", "ACTIVATIONS", "activation", "Rule", "RULES", "rule",
           "LossRow", "LOSSES", "loss"]


class Activation(NamedTuple):
    """One activation.

    Attributes
    ----------
    name : str
        Its name (``fastnn.ops.<name>``, ``MLP(activation=name)``).
    layer : str
        Its layer class in ``fastnn`` and ``fastnn.layers``.
    forward, backward : str
        Formulas, for the documentation (``dy``: the gradient of the loss
        with respect to the output ``y``; ``x``: the input).
    init : {"he", "xavier"}
        The initialization of a Dense layer followed by this activation
        (``Dense(init="auto")``): He's ``sqrt(2 / n_in)`` for ReLU-like
        activations, Xavier's ``sqrt(1 / n_in)`` for the others.
    alpha : float or None
        Default of the activation's one setting (leaky ReLU's slope); None:
        it has none.
    onnx : tuple of (op_type, inputs, attributes)
        Its ONNX nodes, in order: an input is ``"x"`` (the activation's
        input), ``"$k"`` (node k's output) or a number (a constant); an
        attribute ``"alpha"`` takes the activation's setting. The last
        node's output is the activation's. An attribute ``"dtype"`` takes the
        graph's element type (a ``Cast`` back from float32, for operators
        onnxruntime computes in float32 only, such as ``Erf``).
    sklearn : str or None
        scikit-learn's name for it (``MLPClassifier(activation=...)``).
    needs_input : bool, default False
        Whether its backward reads the forward input ``x`` (else ``y`` is enough).
    """

    name: str
    layer: str
    forward: str
    backward: str
    init: str
    alpha: float | None
    onnx: tuple
    sklearn: str | None
    needs_input: bool = False


ACTIVATIONS: tuple[Activation, ...] = (
    Activation("relu", "ReLU", "max(x, 0)", "dy * (y > 0)", "he", None,
               (("Relu", ("x",), {}),), "relu"),
    Activation("leaky_relu", "LeakyReLU", "x if x >= 0 else alpha * x",
               "dy if y > 0 else alpha * dy", "he", 0.01,
               (("LeakyRelu", ("x",), {"alpha": "alpha"}),), None),
    Activation("tanh", "Tanh", "tanh(x)", "dy * (1 - y**2)", "xavier", None,
               (("Tanh", ("x",), {}),), "tanh"),
    Activation("sigmoid", "Sigmoid", "1 / (1 + exp(-x))", "dy * y * (1 - y)", "xavier", None,
               (("Sigmoid", ("x",), {}),), "logistic"),
    # PyTorch's GELU() (the exact form); ONNX's Gelu arrives in opset 20, so its formula,
    # Erf in float32 (onnxruntime has no float64 Erf)
    Activation("gelu", "GELU", "x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2)))",
               "dy * (Phi(x) + x * phi(x))", "he", None,
               (("Mul", ("x", 0.7071067811865476), {}), ("Cast", ("$0",), {"to": 1}),
                ("Erf", ("$1",), {}), ("Cast", ("$2",), {"to": "dtype"}),
                ("Add", ("$3", 1.0), {}), ("Mul", ("x", "$4"), {}), ("Mul", ("$5", 0.5), {})),
               None, needs_input=True),
    # PyTorch's SiLU() (swish)
    Activation("silu", "SiLU", "x * sigmoid(x)", "dy * s * (1 + x * (1 - s)), s = sigmoid(x)",
               "he", None, (("Sigmoid", ("x",), {}), ("Mul", ("x", "$0"), {})), None,
               needs_input=True),
)


def _row(rows, name: str, what: str):
    """The row of ``rows`` called ``name``; any other value is an error naming ``what``."""
    for row in rows:
        if row.name == name:
            return row
    raise ValueError(f"{what} must be one of {sorted(r.name for r in rows)}; got {name!r}")


def activation(name: str) -> Activation:
    """The row of the activation called ``name``, with a clear error for any other value."""
    return _row(ACTIVATIONS, name, "activation")


# ---------------------------------------------------------------- optimizer rules

class Rule(NamedTuple):
    """One rule of the update kernel and its optimizer.

    Attributes
    ----------
    name : str
        The rule's name (``fastnn.ops.<name>_update``, the command line's
        ``--optimizer``).
    optimizer : str
        Its optimizer class in ``fastnn`` and ``fastnn.optim``.
    base : str
        The class it extends: ``"Optimizer"`` or another rule's class.
    formula : str
        The update, for the documentation (``g``: the gradient, with weight
        decay's L2 term added; ``t``: the step number).
    slots : tuple of str
        Its state arrays (moving averages), in the kernel's order.
    hyper : tuple of (name, default, range)
        Its hyperparameters in the kernel's order; range ``"unit"`` is
        [0, 1), ``"positive"`` (0, inf), ``"nonneg"`` [0, inf).
    lr, weight_decay : float
        Defaults of the learning rate and the weight decay.
    step : bool
        Whether the update reads the step number (bias corrections).
    torch : (str, dict) or None
        The ``torch.optim`` class whose steps it takes, and the names of its
        hyperparameters there (``{torch's name: ours, a tuple of ours, or a
        constant}``): the tests compare the two step by step.
    """

    name: str
    optimizer: str
    base: str
    formula: str
    slots: tuple
    hyper: tuple
    lr: float
    weight_decay: float
    step: bool
    torch: tuple | None


_BETA1, _BETA2, _EPS = ("beta1", 0.9, "unit"), ("beta2", 0.999, "unit"), ("eps", 1e-8, "positive")
_ADAM_IN_TORCH = {"betas": ("beta1", "beta2"), "eps": "eps"}

RULES: tuple[Rule, ...] = (
    Rule("sgd", "SGD", "Optimizer", "w -= lr * g", (), (), 0.01, 0.0, False, ("SGD", {})),
    Rule("momentum", "Momentum", "Optimizer", "v = beta * v + (1 - beta) * g; w -= lr * v",
         ("velocity",), (("beta", 0.9, "unit"),), 0.01, 0.0, False, None),
    # torch.optim.SGD(momentum=, nesterov=True); scikit-learn's nesterovs_momentum rescaled
    Rule("nesterov", "Nesterov", "Optimizer",
         "v = momentum * v + g; w -= lr * (g + momentum * v)", ("velocity",),
         (("momentum", 0.9, "unit"),), 0.01, 0.0, False,
         ("SGD", {"momentum": "momentum", "nesterov": True})),
    Rule("rmsprop", "RMSprop", "Optimizer",
         "s = beta2 * s + (1 - beta2) * g**2; w -= lr * g / (sqrt(s) + eps)",
         ("sq_avg",), (_BETA2, _EPS), 0.001, 0.0, False,
         ("RMSprop", {"alpha": "beta2", "eps": "eps"})),
    Rule("adam", "Adam", "Optimizer",
         "m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g**2; "
         "w -= lr * (m / (1 - beta1**t)) / (sqrt(v / (1 - beta2**t)) + eps)",
         ("m", "v"), (_BETA1, _BETA2, _EPS), 1e-3, 0.0, True, ("Adam", _ADAM_IN_TORCH)),
    Rule("adamw", "AdamW", "Adam",
         "w -= lr * weight_decay * w, then Adam's step without L2 (decoupled weight decay)",
         ("m", "v"), (_BETA1, _BETA2, _EPS), 1e-3, 0.01, True, ("AdamW", _ADAM_IN_TORCH)),
    # torch.optim.NAdam (Dozat 2016, with its momentum schedule): mu_t = beta1 * (1 - 0.5 *
    # 0.96**(t * momentum_decay)), prod_t = mu_1 ... mu_t
    Rule("nadam", "NAdam", "Optimizer",
         "m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g**2; "
         "d = sqrt(v / (1 - beta2**t)) + eps; w -= lr * (1 - mu_t) / (1 - prod_t) * g / d "
         "+ lr * mu_(t+1) / (1 - prod_t * mu_(t+1)) * m / d",
         ("m", "v"), (_BETA1, _BETA2, _EPS, ("momentum_decay", 4e-3, "nonneg")), 2e-3, 0.0,
         True, ("NAdam", {**_ADAM_IN_TORCH, "momentum_decay": "momentum_decay"})),
)


def rule(name: str) -> Rule:
    """The row of the optimizer rule called ``name``."""
    return _row(RULES, name, "optimizer rule")


# ---------------------------------------------------------------- losses

class LossRow(NamedTuple):
    """One loss, fused with the network's last layer in compiled code.

    Attributes
    ----------
    name : str
        Its name (``Sequential(loss=name)``, ``fastnn.ops.<name>``).
    cls : str
        Its class in ``fastnn.losses`` (``loss=fastnn.losses.Huber(delta=2.0)``).
    kernel : str
        ``"<module>.<function>"``: the ``.pxd`` of ``fastnn/_kernels`` that holds
        its kernel and the function there that gives its ``LossKind``.
    formula : str
        Row i's loss ``l_i`` (``z``: the network's outputs, ``y``: the targets,
        ``mean_k``: over the row's outputs), for the documentation; a batch's
        loss is ``sum_i w_i l_i / sum_i w_i``.
    targets : {"classes", "labels", "values", "counts"}
        How it reads targets and what its outputs mean (``fastnn.losses``):
        class labels and class probabilities (its outputs are softmax logits);
        0/1 labels, one per output (logits of each label); real values (the
        outputs are the predictions); counts or rates >= 0 (the outputs are the
        logs of the predicted means).
    output : str or None
        The last layer of a model that the loss absorbs (``Softmax``, ``Sigmoid``).
    onnx : {"softmax", "sigmoid", "identity", "exp"}
        The map from the network's outputs to predictions or probabilities,
        in the compiled inference and in the ONNX export.
    settings : tuple of (name, default, range)
        Its settings, in the kernel's order (``Ctx.loss_v``); range ``"unit"`` is
        [0, 1), ``"positive"`` (0, inf), ``"nonneg"`` [0, inf).
    torch : (str, dict) or None
        The ``torch.nn`` loss it equals, and that class's arguments
        (``{torch's name: our setting's name, or a constant}``).
    sklearn : (str, callable, callable) or None
        scikit-learn's output activation (``out_activation_``) that the
        estimators train with this loss, and for k outputs the factors
        ``sk_loss = loss * loss_scale(k)`` and ``grad = sk_grad * grad_scale(k)``.
    """

    name: str
    cls: str
    kernel: str
    formula: str
    targets: str
    output: str | None
    onnx: str
    settings: tuple = ()
    torch: tuple | None = None
    sklearn: tuple | None = None


LOSSES: tuple[LossRow, ...] = (
    LossRow("softmax_cross_entropy", "SoftmaxCrossEntropy", "_softmax.softmax_xent_kind",
            "logsumexp(z) - z[y]", "classes", "Softmax", "softmax",
            torch=("CrossEntropyLoss", {}), sklearn=("softmax", lambda k: 1.0, lambda k: 1.0)),
    LossRow("mse", "MeanSquaredError", "_mse.mse_kind", "mean_k (z - y)**2", "values", None,
            "identity", torch=("MSELoss", {}),
            sklearn=("identity", lambda k: 0.5, lambda k: 2.0 / k)),
    LossRow("sigmoid_cross_entropy", "SigmoidCrossEntropy", "_sigmoid.sigmoid_xent_kind",
            "mean_k max(z, 0) - z * y + log(1 + exp(-|z|))", "labels", "Sigmoid", "sigmoid",
            torch=("BCEWithLogitsLoss", {}),
            sklearn=("logistic", lambda k: float(k), lambda k: 1.0 / k)),
    LossRow("poisson", "Poisson", "_poisson.poisson_kind", "mean_k exp(z) - y * z", "counts",
            None, "exp", torch=("PoissonNLLLoss", {"log_input": True}),
            sklearn=("exp", lambda k: float(k), lambda k: 1.0 / k)),
    # torch.nn.HuberLoss(delta=...): quadratic within delta of the target, linear beyond
    LossRow("huber", "Huber", "_huber.huber_kind",
            "mean_k (0.5 * e**2 if |e| <= delta else delta * (|e| - 0.5 * delta)), e = z - y",
            "values", None, "identity", (("delta", 1.0, "positive"),),
            torch=("HuberLoss", {"delta": "delta"})),
)


def loss(name: str) -> LossRow:
    """The row of the loss called ``name``."""
    return _row(LOSSES, name, "loss")
