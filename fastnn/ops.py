"""Public functions on NumPy arrays: check the inputs, allocate the outputs,
call a compiled kernel.

Every function takes float32 or float64 arrays (integer and boolean inputs
are converted to the dtype of the first float argument, or to float64; other
float types, such as float16, are refused with the conversion to make) and
returns arrays of that dtype. Arrays that are not C-contiguous are copied.
All float arguments of one call must share a dtype: mixing float32 and
float64 raises instead of silently copying a large array.

``out=`` takes preallocated output arrays (C-contiguous, right shape and
dtype, writeable), so no output array is allocated; the reductions (batch
norm, the losses, a bias gradient) still take a small scratch buffer per
call, a few doubles per row or column.
``n_threads=None`` uses :func:`fastnn.get_num_threads`. While a kernel runs,
BLAS is held at one thread (see ``fastnn._threads``).

Shapes follow one convention: a batch is ``(n_samples, n_features)``; a
dense layer's weights are ``(n_in, n_out)``; logits are
``(n_samples, n_classes)``.
"""

from __future__ import annotations

import inspect

import numpy as np

from fastnn import _kernels, kinds
from fastnn import _validation as V
from fastnn._threads import blas_held, resolve_n_threads

__all__ = [
    "dense_forward", "dense_backward",
    "batchnorm_forward", "batchnorm_inference", "batchnorm_backward", "batchnorm_fold",
    "softmax", "log_softmax", "dropout", "dropout_backward", "check_sample_weight",
]   # and each loss's, each activation's and each optimizer rule's functions (fastnn/kinds.py)

# ---------------------------------------------------------------- checks

def check_floats(a, name, ndim=None, dtype=None, like=None):
    """``a`` as a C-contiguous float array, ``ndim``-dimensional, of ``dtype``.

    ``like`` names the argument that fixed ``dtype`` (for the error message).
    """
    arr = V.float_dtype(V.array(a, name), name, dtype, like)
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional; got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def _nonempty(arr, name):
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty; got shape {arr.shape}")
    return arr


def _vector(a, name, length, dtype, like):
    arr = check_floats(a, name, 1, dtype, like)
    if arr.shape[0] != length:
        raise ValueError(f"{name} must have shape ({length},); got {arr.shape}")
    return arr


def check_same_shape(arr, name, shape, ref):
    """``arr`` has the shape ``shape`` of the argument ``ref``."""
    if arr.shape != shape:
        raise ValueError(f"{name} must have the shape of {ref} {shape}; got {arr.shape}")
    return arr


def _out(out, name, shape, dtype, inputs=None, in_place=()):
    """Check a caller's output buffer, or allocate one. ``inputs``: {name: array or None}
    it must not overlap; those named in ``in_place`` it may be exactly (the op runs in
    place)."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{name} must be a numpy array; got {type(out).__name__}")
    if out.shape != tuple(shape) or out.dtype != dtype:
        raise ValueError(
            f"{name} must have shape {tuple(shape)} and dtype {np.dtype(dtype)}; "
            f"got shape {out.shape} and dtype {out.dtype}"
        )
    if not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{name} must be C-contiguous and writeable")
    V.disjoint(name, out, (inputs or {}).items(), allow_exact=in_place)
    return out


def _outs(out, names, count):
    """Split an ``out=`` tuple into ``count`` buffers (or Nones)."""
    if out is None:
        return (None,) * count
    if not isinstance(out, tuple) or len(out) != count:
        raise TypeError(f"out must be a tuple of {count} arrays or None: ({', '.join(names)})")
    return out


def _elementwise_out(out, name, x, x_name="x", others=None):
    """Output buffer for an elementwise op; ``out`` may be ``x`` itself (in place)."""
    return _out(out, name, x.shape, x.dtype, {x_name: x, **(others or {})}, in_place=(x_name,))


def _labels(labels, n_samples, n_classes):
    arr = V.array(labels, "labels")
    if arr.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices; got dtype {arr.dtype}")
    if arr.shape != (n_samples,):
        raise ValueError(f"labels must have shape ({n_samples},); got {arr.shape}")
    lo, hi = arr.min(), arr.max()
    if lo < 0 or hi >= n_classes:
        raise ValueError(f"labels must lie in [0, {n_classes - 1}] for {n_classes} classes; "
                         f"got values from {lo} to {hi}")
    return np.ascontiguousarray(arr, dtype=np.int64)


_scalar = V.real


def check_in_place(a, name, dtype=None, like=None):
    """An array updated in place: must already be a writeable C-contiguous float array."""
    if not isinstance(a, np.ndarray) or a.dtype not in V.FLOAT_DTYPES:
        raise TypeError(f"{name} is updated in place and must be a float32 or float64 numpy array")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} has dtype {a.dtype} but {like} has dtype {dtype}")
    if not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"{name} is updated in place and must be C-contiguous and writeable")
    return a


# ---------------------------------------------------------------- dense

def dense_forward(x, W, b=None, *, out=None, n_threads=None):
    """Dense layer forward pass: ``x @ W + b``.

    Parameters
    ----------
    x : array of shape (n_samples, n_in)
    W : array of shape (n_in, n_out)
    b : array of shape (n_out,), optional
    out : array of shape (n_samples, n_out), optional
    n_threads : int, optional

    Returns
    -------
    y : array of shape (n_samples, n_out)
    """
    x = _nonempty(check_floats(x, "x", 2), "x")
    W = _nonempty(check_floats(W, "W", 2, x.dtype, "x"), "W")
    if W.shape[0] != x.shape[1]:
        raise ValueError(f"W must have shape ({x.shape[1]}, n_out) to match x {x.shape}; got {W.shape}")
    if b is not None:
        b = _vector(b, "b", W.shape[1], x.dtype, "x")
    y = _out(out, "out", (x.shape[0], W.shape[1]), x.dtype, {"x": x, "W": W, "b": b})
    n_threads = resolve_n_threads(n_threads)
    with blas_held:
        _kernels.ops.dense_forward(x, W, b, y, n_threads)
    return y


def dense_backward(dy, x, W, *, bias=True, compute_dx=True, out=None, n_threads=None):
    """Dense layer backward pass.

    Parameters
    ----------
    dy : array of shape (n_samples, n_out)
        Gradient of the loss with respect to the layer's output.
    x : array of shape (n_samples, n_in)
        The forward pass's input.
    W : array of shape (n_in, n_out)
    bias : bool, default True
        Whether the layer has a bias (if not, ``db`` is None).
    compute_dx : bool, default True
        Whether to compute ``dx`` (a first layer needs no input gradient).
    out : tuple (dx, dW, db) of arrays or None, optional
    n_threads : int, optional

    Returns
    -------
    dx : array of shape (n_samples, n_in), or None
        ``dy @ W.T``
    dW : array of shape (n_in, n_out)
        ``x.T @ dy``
    db : array of shape (n_out,), or None
        ``dy.sum(axis=0)``
    """
    x = _nonempty(check_floats(x, "x", 2), "x")
    dy = check_floats(dy, "dy", 2, x.dtype, "x")
    W = check_floats(W, "W", 2, x.dtype, "x")
    bias, compute_dx = V.boolean(bias, "bias"), V.boolean(compute_dx, "compute_dx")
    n, n_in = x.shape
    if dy.shape[0] != n or W.shape[0] != n_in or W.shape[1] != dy.shape[1] or dy.shape[1] == 0:
        raise ValueError(f"shapes do not match: x {x.shape}, W {W.shape} (n_in, n_out), "
                         f"dy {dy.shape} (n_samples, n_out)")
    dx_out, dW_out, db_out = _outs(out, ("dx", "dW", "db"), 3)
    inputs = {"dy": dy, "x": x, "W": W}
    dx = _out(dx_out, "dx", x.shape, x.dtype, inputs) if compute_dx else None
    dW = _out(dW_out, "dW", W.shape, x.dtype, {**inputs, "dx": dx})
    db = _out(db_out, "db", (W.shape[1],), x.dtype, {**inputs, "dx": dx, "dW": dW}) if bias else None
    n_threads = resolve_n_threads(n_threads)
    with blas_held:
        _kernels.ops.dense_backward(dy, x, W, dx, dW, db, n_threads)
    return dx, dW, db


# ---------------------------------------------------------------- batch norm

def _bn_params(x, gamma, beta):
    x = _nonempty(check_floats(x, "x", 2), "x")
    d = x.shape[1]
    return x, _vector(gamma, "gamma", d, x.dtype, "x"), _vector(beta, "beta", d, x.dtype, "x")


def batchnorm_forward(x, gamma, beta, eps=1e-5, *, relu=False, running_mean=None,
                      running_var=None, momentum=0.9, out=None, n_threads=None):
    """Batch normalization, training mode, over the rows of ``x``.

    ``y = gamma * (x - mean) / sqrt(var + eps) + beta`` with the batch's mean
    and biased variance, per feature; with ``relu=True``, ``y = max(y, 0)``.

    Parameters
    ----------
    x : array of shape (n_samples, n_features), n_samples >= 2
    gamma, beta : arrays of shape (n_features,)
    eps : float, default 1e-5
    relu : bool, default False
        Fuse a ReLU after the normalization.
    running_mean, running_var : arrays of shape (n_features,), optional
        If given (both), updated in place:
        ``running = momentum * running + (1 - momentum) * batch``, the
        variance taking the unbiased batch variance ``var * n / (n - 1)``.
    momentum : float in [0, 1], default 0.9
    out : tuple (y, mean, rstd) of arrays or None, optional
    n_threads : int, optional

    Returns
    -------
    y : array of shape (n_samples, n_features)
    mean : array of shape (n_features,)
        Batch mean, kept for the backward pass.
    rstd : array of shape (n_features,)
        ``1 / sqrt(var + eps)``, kept for the backward pass.
    """
    x, gamma, beta = _bn_params(x, gamma, beta)
    n, d = x.shape
    if n < 2:
        raise ValueError(
            "batch norm in training mode needs at least 2 samples per batch (a batch of "
            f"one row has no variance); got x of shape {x.shape}"
        )
    eps = _scalar(eps, "eps", lo=0, lo_open=True)
    momentum = _scalar(momentum, "momentum", lo=0, hi=1)
    if (running_mean is None) != (running_var is None):
        raise ValueError("pass both running_mean and running_var, or neither")
    if running_mean is not None:
        running_mean = check_in_place(running_mean, "running_mean", x.dtype, "x")
        running_var = check_in_place(running_var, "running_var", x.dtype, "x")
        check_same_shape(running_mean, "running_mean", (d,), "gamma")
        check_same_shape(running_var, "running_var", (d,), "gamma")
    y_out, mean_out, rstd_out = _outs(out, ("y", "mean", "rstd"), 3)
    inputs = {"x": x, "gamma": gamma, "beta": beta}
    if running_mean is not None:
        V.disjoint("running_mean", running_mean, inputs.items())
        V.disjoint("running_var", running_var, {**inputs, "running_mean": running_mean}.items())
    inputs.update(running_mean=running_mean, running_var=running_var)
    y = _out(y_out, "y", x.shape, x.dtype, inputs)
    mean = _out(mean_out, "mean", (d,), x.dtype, {**inputs, "y": y})
    rstd = _out(rstd_out, "rstd", (d,), x.dtype, {**inputs, "y": y, "mean": mean})
    _kernels.ops.batchnorm_forward(x, gamma, beta, eps, y, mean, rstd, running_mean,
                                 running_var, momentum, V.boolean(relu, "relu"),
                                 resolve_n_threads(n_threads))
    return y, mean, rstd


def batchnorm_inference(x, gamma, beta, running_mean, running_var, eps=1e-5, *,
                        relu=False, out=None, n_threads=None):
    """Batch normalization, test mode, with running estimates.

    ``y = x * a + b`` with ``a = gamma / sqrt(running_var + eps)`` and
    ``b = beta - running_mean * a``; with ``relu=True``, ``y = max(y, 0)``.

    Parameters
    ----------
    x : array of shape (n_samples, n_features)
    gamma, beta, running_mean, running_var : arrays of shape (n_features,)
    eps : float, default 1e-5
    relu : bool, default False
    out : array of shape (n_samples, n_features), optional
    n_threads : int, optional

    Returns
    -------
    y : array of shape (n_samples, n_features)
    """
    x, gamma, beta = _bn_params(x, gamma, beta)
    d = x.shape[1]
    running_mean = _vector(running_mean, "running_mean", d, x.dtype, "x")
    running_var = _vector(running_var, "running_var", d, x.dtype, "x")
    if np.any(running_var < 0):
        raise ValueError("running_var must be non-negative")
    eps = _scalar(eps, "eps", lo=0, lo_open=True)
    a, b = np.empty_like(gamma), np.empty_like(gamma)
    _kernels.ops.batchnorm_fold(gamma, beta, running_mean, running_var, eps, a, b)
    y = _elementwise_out(out, "out", x)
    _kernels.ops.batchnorm_affine(x, a, b, V.boolean(relu, "relu"), y,
                                  resolve_n_threads(n_threads))
    return y


def batchnorm_fold(gamma, beta, running_mean, running_var, eps):
    """Fold test-time batch norm into one multiply-add ``y = x * a + b``.

    Parameters
    ----------
    gamma, beta, running_mean, running_var : arrays of shape (n_features,)
    eps : float

    Returns
    -------
    a, b : arrays of shape (n_features,), of gamma's dtype
        ``a = gamma / sqrt(running_var + eps)``, ``b = beta - running_mean * a``,
        computed in float64.
    """
    gamma = _nonempty(check_floats(gamma, "gamma", 1), "gamma")
    d = gamma.shape[0]
    beta = _vector(beta, "beta", d, gamma.dtype, "gamma")
    running_mean = _vector(running_mean, "running_mean", d, gamma.dtype, "gamma")
    running_var = _vector(running_var, "running_var", d, gamma.dtype, "gamma")
    eps = _scalar(eps, "eps", lo=0, lo_open=True)
    a, b = np.empty_like(gamma), np.empty_like(gamma)
    _kernels.ops.batchnorm_fold(gamma, beta, running_mean, running_var, eps, a, b)
    return a, b


def batchnorm_backward(dy, x, mean, rstd, gamma, *, relu=False, y=None, out=None,
                       n_threads=None):
    """Batch normalization backward pass (training mode).

    Parameters
    ----------
    dy : array of shape (n_samples, n_features)
        Gradient of the loss with respect to the forward output.
    x : array of shape (n_samples, n_features)
        The forward pass's input.
    mean, rstd : arrays of shape (n_features,)
        As returned by :func:`batchnorm_forward`.
    gamma : array of shape (n_features,)
    relu : bool, default False
        The forward pass fused a ReLU; then ``y`` is required.
    y : array of shape (n_samples, n_features), optional
        The forward output (it gives the ReLU's mask).
    out : tuple (dx, dgamma, dbeta) of arrays or None, optional
    n_threads : int, optional

    Returns
    -------
    dx : array of shape (n_samples, n_features)
    dgamma, dbeta : arrays of shape (n_features,)
    """
    x = _nonempty(check_floats(x, "x", 2), "x")
    n, d = x.shape
    if n < 2:
        raise ValueError(f"batch norm in training mode needs at least 2 samples; got x of shape {x.shape}")
    dy = check_same_shape(check_floats(dy, "dy", 2, x.dtype, "x"), "dy", x.shape, "x")
    mean = _vector(mean, "mean", d, x.dtype, "x")
    rstd = _vector(rstd, "rstd", d, x.dtype, "x")
    gamma = _vector(gamma, "gamma", d, x.dtype, "x")
    if V.boolean(relu, "relu"):
        if y is None:
            raise ValueError("relu=True needs y, the forward output, for the ReLU's mask")
        y = check_same_shape(check_floats(y, "y", 2, x.dtype, "x"), "y", x.shape, "x")
    elif y is not None:
        raise ValueError("y is only used with relu=True")
    dx_out, dg_out, db_out = _outs(out, ("dx", "dgamma", "dbeta"), 3)
    inputs = {"dy": dy, "x": x, "mean": mean, "rstd": rstd, "gamma": gamma, "y": y}
    dx = _out(dx_out, "dx", x.shape, x.dtype, inputs)
    dgamma = _out(dg_out, "dgamma", (d,), x.dtype, {**inputs, "dx": dx})
    dbeta = _out(db_out, "dbeta", (d,), x.dtype, {**inputs, "dx": dx, "dgamma": dgamma})
    _kernels.ops.batchnorm_backward(dy, x, mean, rstd, gamma, y, dx, dgamma, dbeta,
                                  resolve_n_threads(n_threads))
    return dx, dgamma, dbeta


# ---------------------------------------------------------------- softmax

def _check_logits(z):
    """Logits for softmax: finite, or -inf for an entry masked out; each row with a finite
    entry (one pass over ``z``; the rest only when something is off)."""
    if np.isfinite(z).all():
        return
    bad = np.isnan(z) | (z == np.inf)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"z must hold finite numbers or -inf (a masked entry, probability 0); "
                         f"z[{row}, {col}] is {z[row, col]}")
    masked = np.isneginf(z).all(axis=1)
    if masked.any():
        raise ValueError(f"row {int(np.argmax(masked))} of z is -inf throughout, so its softmax "
                         "is undefined; each row needs a finite entry")


def _softmax_rows(z, log_space, out, n_threads):
    z = _nonempty(check_floats(z, "z", 2), "z")
    _check_logits(z)
    y = _elementwise_out(out, "out", z, "z")
    _kernels.ops.softmax_forward(z, y, log_space, resolve_n_threads(n_threads))
    return y


def softmax(z, *, out=None, n_threads=None):
    """Softmax over the last axis, computed stably (the row maximum subtracted).

    Parameters
    ----------
    z : array of shape (n_samples, n_classes)
    out : array of shape (n_samples, n_classes), optional (may be ``z``)
    n_threads : int, optional

    Returns
    -------
    array of shape (n_samples, n_classes)
        Each row is non-negative and sums to 1.

    Raises
    ------
    ValueError
        If ``z`` holds NaN or +inf, or a row is -inf throughout. An entry of
        -inf (masked out) gets probability 0 (-inf from :func:`log_softmax`);
        any finite input gives a finite result (no NaN).
    """
    return _softmax_rows(z, False, out, n_threads)


def log_softmax(z, *, out=None, n_threads=None):
    """Log of the softmax over the last axis: ``z - logsumexp(z)``, per row.

    Parameters and return as :func:`softmax`.
    """
    return _softmax_rows(z, True, out, n_threads)


def check_sample_weight(sample_weight, n_samples, name: str = "sample_weight"):
    """``sample_weight`` as a float64 (n_samples,) array of finite weights >= 0 with a
    positive sum, or None; errors call it ``name``."""
    if sample_weight is None:
        return None
    w = V.numeric_dtype(V.array(sample_weight, name), name)
    if w.shape != (n_samples,):
        raise ValueError(f"{name} must have shape ({n_samples},); got {w.shape}")
    w = np.ascontiguousarray(w, dtype=np.float64)
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"{name} must hold finite values >= 0")
    if not w.sum() > 0:
        raise ValueError(f"{name} sums to 0: no sample would count")
    return w


def _sample_weight(sample_weight, n):
    """Checked weights and their sum; (None, n) without weights."""
    w = check_sample_weight(sample_weight, n)
    return w, float(n) if w is None else float(w.sum())


# ---------------------------------------------------------------- losses
# One function per row of fastnn/kinds.py (LOSSES), made here: the loss and its gradient,
# fused, through the compiled loss table.

#: what a loss's targets must be, by its row's ``targets`` (classes: integer labels)
_TARGETS = {"labels": ("lie in [0, 1]", lambda y: np.all((y >= 0) & (y <= 1))),
            "values": None,
            "counts": ("be >= 0 (counts or rates)", lambda y: np.all(y >= 0))}

_LOSS_DOC = """{title}, and its gradient, fused.

    Per row ``l_i = {formula}``; the loss is ``sum_i w_i l_i / sum_i w_i``
    (``w_i = 1`` without sample weights: the mean over rows){torch}, and ``dz`` its
    gradient with respect to ``z``.

    Parameters
    ----------
    z : array of shape {z_shape}
        {z_what}
    {y_name} : {y_shape}
        {y_what}{settings}
    sample_weight : array of shape (n_samples,), optional
        Finite weights >= 0 with a positive sum.
    compute_grad : bool, default True
    out : array of z's shape (as 2-D), optional
        Buffer for ``dz``.
    n_threads : int, optional

    Returns
    -------
    loss : float
    dz : array of z's shape (as 2-D), or None if not ``compute_grad``
    """

_Z_WHAT = {"classes": "Logits.", "labels": "Logits, one per label.",
           "values": "Predictions.", "counts": "Logs of the predicted means."}


def _loss_targets(row, z, y):
    """``z`` as 2-D and ``y`` in the kernel's form for loss ``row``, checked."""
    if row.targets == "classes":
        z = _nonempty(check_floats(z, "z", 2), "z")
        return z, _labels(y, *z.shape)
    z = _nonempty(check_floats(z, "z", None), "z")
    if z.ndim == 1:
        z = z.reshape(-1, 1)
    if z.ndim != 2:
        raise ValueError(f"z must be 1- or 2-dimensional; got shape {z.shape}")
    if np.size(y) != z.size:
        raise ValueError(f"y must have the shape of z {z.shape}; got {np.shape(y)}")
    y = np.ascontiguousarray(check_floats(y, "y", None, z.dtype, "z").reshape(z.shape))
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinite values")
    check = _TARGETS[row.targets]
    if check is not None and not check[1](y):
        raise ValueError(f"y must {check[0]} for {row.name}")
    return z, y


def _loss_function(row):
    """The public kernel ``<name>(z, y, *, <settings>, sample_weight, compute_grad, out,
    n_threads)`` of loss ``row`` of fastnn/kinds.py."""
    P = inspect.Parameter
    y_name = "labels" if row.targets == "classes" else "y"
    params = [P("z", P.POSITIONAL_OR_KEYWORD), P(y_name, P.POSITIONAL_OR_KEYWORD)]
    params += [P(name, P.KEYWORD_ONLY, default=default) for name, default, _ in row.settings]
    params += [P("sample_weight", P.KEYWORD_ONLY, default=None),
               P("compute_grad", P.KEYWORD_ONLY, default=True),
               P("out", P.KEYWORD_ONLY, default=None),
               P("n_threads", P.KEYWORD_ONLY, default=None)]
    signature = inspect.Signature(params)

    def loss(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        settings = tuple(V.setting(a[name], name, how) for name, _, how in row.settings)
        z, y = _loss_targets(row, a["z"], a[y_name])
        w, total = _sample_weight(a["sample_weight"], z.shape[0])
        inputs = {"z": z, "sample_weight": w, **({} if y.dtype == np.int64 else {"y": y})}
        dz = (_out(a["out"], "out", z.shape, z.dtype, inputs)
              if V.boolean(a["compute_grad"], "compute_grad") else None)
        value, _ = _kernels.network.loss(row.name, z, y, w, total, dz, settings,
                                         resolve_n_threads(a["n_threads"]))
        return value, dz

    loss.__signature__ = signature
    loss.__name__ = loss.__qualname__ = row.name
    loss.__module__ = __name__
    settings = "".join(f"\n    {name} : float {V.RANGES[how][0]}, default {default}"
                       for name, default, how in row.settings)
    classes = row.targets == "classes"
    loss.__doc__ = _LOSS_DOC.format(
        title=f"The {row.name} loss", formula=row.formula,
        torch=f" (PyTorch's ``{row.torch[0]}``)" if row.torch else "",
        z_shape="(n_samples, n_classes)" if classes else "(n_samples,) or (n_samples, n_outputs)",
        z_what=_Z_WHAT[row.targets], y_name=y_name,
        y_shape="integer array of shape (n_samples,)" if classes else "array of z's shape",
        y_what=("Class indices in ``[0, n_classes)``." if classes else
                f"Targets{'' if _TARGETS[row.targets] is None else ': they must ' + _TARGETS[row.targets][0]}."),
        settings=settings)
    return loss


for _row in kinds.LOSSES:
    globals()[_row.name] = _loss_function(_row)
    __all__.append(_row.name)
del _row


# ---------------------------------------------------------------- dropout

def _seed64(seed, name="seed"):
    return V.seed(seed, name, allow_none=False)


def dropout(x, rate, seed, step, *, layer=0, out=None, n_threads=None):
    """Inverted dropout (training): ``x * keep / (1 - rate)``.

    ``keep[i, j]`` is drawn from (seed, step, layer, row i, unit j) by a
    counter-based generator (``fastnn._reference.dropout_mask``), so the
    same arguments give the same mask at any thread count.

    Parameters
    ----------
    x : array of shape (n_samples, n_units)
    rate : float in [0, 1)
    seed : int in [0, 2**64)
    step : int >= 0
        The training step (a new mask each step).
    layer : int >= 0, default 0
        Tells apart the dropout layers of one model.
    out : array of x's shape, optional (may be x)
    n_threads : int, optional

    Returns
    -------
    y : array of x's shape
    """
    x = check_floats(x, "x", 2)
    rate = _scalar(rate, "rate", lo=0, hi=1, hi_open=True)
    step = V.integer(step, "step", minimum=0, maximum=2**64 - 1)
    layer = V.integer(layer, "layer", minimum=0, maximum=2**31 - 1)
    y = _elementwise_out(out, "out", x)
    if x.size:
        _kernels.ops.dropout(x, y, rate, _seed64(seed), int(step), int(layer),
                             resolve_n_threads(n_threads))
    return y


def dropout_backward(dy, rate, seed, step, *, layer=0, out=None, n_threads=None):
    """Dropout backward: ``dy * keep / (1 - rate)`` with the forward pass's mask.

    Parameters as :func:`dropout`, with ``dy`` (the gradient of the loss
    with respect to the output) for ``x``.
    """
    return dropout(dy, rate, seed, step, layer=layer, out=out, n_threads=n_threads)


# ---------------------------------------------------------------- activations
# One forward and one backward function per row of fastnn/kinds.py, made here.

def _act_forward(number, x, alpha, out, n_threads):
    x = check_floats(x, "x")
    y = _elementwise_out(out, "out", x)
    _kernels.ops.activation_forward(number, x.reshape(-1), y.reshape(-1), alpha,
                                    resolve_n_threads(n_threads))
    return y


def _act_backward(number, name, dy, y, x, alpha, out, n_threads):
    y = check_floats(y, "y")
    dy = check_same_shape(check_floats(dy, "dy", None, y.dtype, "y"), "dy", y.shape, "y")
    if x is None:
        if _NEEDS_INPUT[name]:
            raise ValueError(f"x is required: the backward pass of {name} needs the forward "
                             "input x as well as its output y")
        x = y                          # not read: the backward of this activation needs y alone
    else:
        x = check_same_shape(check_floats(x, "x", None, y.dtype, "y"), "x", y.shape, "y")
    dx = _elementwise_out(out, "out", dy, "dy", {"y": y, "x": x})
    _kernels.ops.activation_backward(number, dy.reshape(-1), x.reshape(-1), y.reshape(-1),
                                     dx.reshape(-1), alpha, resolve_n_threads(n_threads))
    return dx


def _alpha(alpha):
    return _scalar(alpha, "alpha", lo=0)


_FORWARD_DOC = """{title}: ``y = {formula}``{nan}.

    Parameters
    ----------
    x : array of any shape{alpha}
    out : array of x's shape, optional (may be x itself)
    n_threads : int, optional

    Returns
    -------
    array of x's shape
    """
_BACKWARD_DOC = """{title} backward: ``dx = {formula}``.

    Parameters
    ----------
    dy : array, gradient of the loss with respect to the output
    y : array of the same shape, the forward output{alpha}
    x : array of the same shape, the forward input; {x_note}
    out : array of dy's shape, optional (may be dy itself)
    n_threads : int, optional

    Returns
    -------
    array of dy's shape
    """


def _activation_functions(number: int, row):
    """The public forward and backward kernels of activation ``row`` of fastnn/kinds.py."""
    name = row.name
    if row.alpha is None:
        def forward(x, *, out=None, n_threads=None):
            return _act_forward(number, x, 0.0, out, n_threads)

        def backward(dy, y, *, x=None, out=None, n_threads=None):
            return _act_backward(number, name, dy, y, x, 0.0, out, n_threads)
    else:
        def forward(x, alpha=row.alpha, *, out=None, n_threads=None):
            return _act_forward(number, x, _alpha(alpha), out, n_threads)

        def backward(dy, y, alpha=row.alpha, *, x=None, out=None, n_threads=None):
            return _act_backward(number, name, dy, y, x, _alpha(alpha), out, n_threads)
    alpha = "" if row.alpha is None else f"\n    alpha : float >= 0, default {row.alpha}"
    x_note = ("required" if _NEEDS_INPUT[name] else "optional (this backward reads only y)")
    forward.__doc__ = _FORWARD_DOC.format(title=row.layer, formula=row.forward, alpha=alpha,
                                          nan=" (NaN stays NaN)")
    backward.__doc__ = _BACKWARD_DOC.format(title=row.layer, formula=row.backward, alpha=alpha,
                                            x_note=x_note)
    for fn, fn_name in ((forward, name), (backward, name + "_backward")):
        fn.__name__ = fn.__qualname__ = fn_name
        fn.__module__ = __name__
    return forward, backward


#: whether an activation's backward reads its forward input x
_NEEDS_INPUT = {row.name: row.needs_input for row in kinds.ACTIVATIONS}
for _number, _row in enumerate(kinds.ACTIVATIONS):
    globals()[_row.name], globals()[_row.name + "_backward"] = _activation_functions(_number, _row)
    __all__ += [_row.name, _row.name + "_backward"]
del _number, _row


# ---------------------------------------------------------------- optimizer updates

def _update(rule, param, grad, states, lr, hyper, step, weight_decay, n_threads):
    param = check_in_place(param, "param")
    grad = check_same_shape(check_floats(grad, "grad", None, param.dtype, "param"), "grad",
                            param.shape, "param")
    V.disjoint("param", param, [("grad", grad)])
    for i, (name, state) in enumerate(states):
        check_same_shape(check_in_place(state, name, param.dtype, "param"), name, param.shape,
                         "param")
        V.disjoint(name, state, [("param", param), ("grad", grad), *states[:i]])
    weight_decay = _scalar(weight_decay, "weight_decay", lo=0)
    _kernels.network.Update(rule, param.reshape(-1), grad.reshape(-1),
                            [s.reshape(-1) for _, s in states], lr, hyper, weight_decay,
                            None, step - 1).step(resolve_n_threads(n_threads))
    return param


def _lr(lr):
    return _scalar(lr, "lr", lo=0)


def _beta(beta, name):
    return _scalar(beta, name, lo=0, hi=1, hi_open=True)


_HYPER_CHECKS = {"unit": lambda v, name: _beta(v, name),
                 "positive": lambda v, name: _scalar(v, name, lo=0, lo_open=True),
                 "nonneg": lambda v, name: _scalar(v, name, lo=0)}


def _step_number(step):
    return V.integer(step, "step (steps count from 1)", minimum=1)


def _update_function(row):
    """The public ``<name>_update`` of optimizer rule ``row`` of fastnn/kinds.py:
    ``(param, grad, *slots, lr, [step], *hyperparameters, *, weight_decay, n_threads)``."""
    P = inspect.Parameter
    params = [P(name, P.POSITIONAL_OR_KEYWORD) for name in ("param", "grad", *row.slots, "lr")]
    if row.step:
        params.append(P("step", P.POSITIONAL_OR_KEYWORD))
    params += [P(name, P.POSITIONAL_OR_KEYWORD, default=default)
               for name, default, _ in row.hyper]
    params += [P("weight_decay", P.KEYWORD_ONLY, default=row.weight_decay),
               P("n_threads", P.KEYWORD_ONLY, default=None)]
    signature = inspect.Signature(params)

    def update(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        a = bound.arguments
        hyper = tuple(_HYPER_CHECKS[kind](a[name], name) for name, _, kind in row.hyper)
        step = _step_number(a["step"]) if row.step else 1
        return _update(row.name, a["param"], a["grad"], [(s, a[s]) for s in row.slots],
                       _lr(a["lr"]), hyper, step, a["weight_decay"], a["n_threads"])

    update.__signature__ = signature
    update.__name__ = update.__qualname__ = f"{row.name}_update"
    update.__module__ = __name__
    lines = [f"{row.optimizer} step, in place: ``{row.formula}``.", "", "Parameters",
             "----------", "param : float array, updated in place (C-contiguous, writeable)",
             "grad : array of param's shape"]
    lines += [f"{slot} : array of param's shape, updated in place (start at zeros)"
              for slot in row.slots]
    lines += ["lr : float >= 0"]
    if row.step:
        lines += ["step : int >= 1", "    The number of this step, counting from 1."]
    lines += [f"{name} : float {V.RANGES[kind][0]}, default {default}"
              for name, default, kind in row.hyper]
    lines += [f"weight_decay : float >= 0, default {row.weight_decay}",
              "n_threads : int, optional", "", "Returns", "-------", "param"]
    update.__doc__ = "\n    ".join(lines) + "\n    "
    return update


for _row in kinds.RULES:
    globals()[f"{_row.name}_update"] = _update_function(_row)
    __all__.append(f"{_row.name}_update")
del _row
