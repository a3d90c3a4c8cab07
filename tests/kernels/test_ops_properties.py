"""Property-based tests: every kernel in fastnn.ops against its NumPy twin in
fastnn._reference, on random shapes (one column, two rows...), magnitudes from tiny to
the largest each op can take without overflowing, float32 and float64, C-ordered,
Fortran-ordered, strided and read-only inputs, 1 or 2 threads, and aliased buffers.

The twin runs in float64 on the same inputs; a kernel result must lie within a few
roundings of its dtype of it, measured against the scale of the computation (for a
dot product, sum |a_i b_i|), the error bound of a correct float implementation.

``FASTNN_HYPOTHESIS_EXAMPLES`` sets the examples per property (default 100, hypothesis's
own default) and, when set, draws new random examples each run (CI runs a fixed set).
"""

import os

import numpy as np
import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastnn import _reference as ref
from fastnn import kinds, ops

_EXAMPLES = os.environ.get("FASTNN_HYPOTHESIS_EXAMPLES")
settings.register_profile(
    "fastnn", max_examples=int(_EXAMPLES or 100), deadline=None, database=None,
    derandomize=_EXAMPLES is None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile("fastnn")

DTYPES = [np.float32, np.float64]
LAYOUTS = ["c", "fortran", "strided", "readonly"]


class Case:
    """One example's randomness: dtype, threads, magnitude, layout, and a generator."""

    def __init__(self, seed, dtype, n_threads, scale_exp, layout, extremes):
        self.rng = np.random.default_rng(seed)
        self.dtype, self.n_threads, self.layout = np.dtype(dtype), n_threads, layout
        self.scale_exp, self.extremes = scale_exp, extremes
        self.eps = float(np.finfo(self.dtype).eps)

    def __repr__(self):
        return (f"Case(dtype={self.dtype}, n_threads={self.n_threads}, scale=1e{self.scale_exp},"
                f" layout={self.layout!r}, extremes={self.extremes})")

    def array(self, shape, max_exp, layout=None, positive=False):
        """Normal values times 10**e (e drawn up to ``max_exp``, the op's safe limit), some
        entries set to +-10**max_exp, 0 or the smallest normal, laid out as drawn."""
        exp = min(self.scale_exp, max_exp)
        a = self.rng.standard_normal(shape) * 10.0 ** exp
        if self.extremes and a.size:
            k = self.rng.integers(0, a.size, size=max(1, a.size // 8))
            picks = np.array([10.0 ** max_exp, -10.0 ** max_exp, 0.0,
                              float(np.finfo(self.dtype).tiny)])
            a.flat[k] = picks[self.rng.integers(0, 4, size=k.size)]
        if positive:
            a = np.abs(a)
        return self.lay(a.astype(self.dtype), layout or self.layout)

    def gamma(self, d):
        """Batch norm's scale: +-10**U(-3, 3). The kernels form products of gamma with
        1 / std before the sums that would bring them back into range, so a tiny gamma
        loses digits there (see the note at the batch-norm tests)."""
        sign = np.where(self.rng.random(d) < 0.5, -1.0, 1.0)
        return self.lay((sign * 10.0 ** self.rng.uniform(-3, 3, d)).astype(self.dtype),
                        self.layout)

    @staticmethod
    def lay(a, layout):
        if layout == "fortran":
            return np.asfortranarray(a)
        if layout == "strided" and a.ndim:
            wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
            wide[..., ::2] = a
            return wide[..., ::2]
        if layout == "readonly":
            a = a.copy()
            a.setflags(write=False)
        return a


@st.composite
def cases(draw, max_exp=30):
    dtype = draw(st.sampled_from(DTYPES))
    return Case(draw(st.integers(0, 2**32 - 1)), dtype, draw(st.sampled_from([1, 2])),
                draw(st.integers(-30, max_exp)), draw(st.sampled_from(LAYOUTS)),
                draw(st.booleans()))


rows = st.one_of(st.just(2), st.integers(2, 40))
cols = st.one_of(st.just(1), st.integers(1, 24))


def f64(*arrays):
    return [None if a is None else np.asarray(a, np.float64) for a in arrays]


def assert_within(got, want, scale, case, c=8.0, what="result"):
    """|got - want| <= c * eps * scale elementwise (scale: the computation's magnitude)."""
    got = np.asarray(got, np.float64)
    want = np.asarray(want, np.float64)
    assert got.shape == want.shape, (what, got.shape, want.shape)
    assert np.isfinite(got).all(), f"{what}: non-finite values from finite input"
    tiny = float(np.finfo(case.dtype).tiny)
    scale = np.asarray(scale, np.float64)
    assert np.isfinite(scale).all(), f"{what}: the test's error scale overflowed"
    tol = c * (case.eps * scale + 16 * tiny)          # underflow: errors of ~tiny
    err = np.abs(got - want)
    bad = err > tol
    if bad.any():
        i = np.unravel_index(np.argmax(err - tol), err.shape)
        raise AssertionError(f"{what} at {i}: got {got[i]!r}, want {want[i]!r}, error "
                             f"{err[i]:.3g} > tolerance {tol[i]:.3g} ({case})")


def max_exp_for(case, products=1):
    """The largest power of ten an input may have so that ``products`` of them fit."""
    limit = 37 if case.dtype == np.float32 else 300
    return limit // (products + 1)


# ---------------------------------------------------------------- dense

@PROFILE
@given(cases(), rows, cols, cols, st.booleans())
def test_dense(case, n, n_in, n_out, with_bias):
    e = max_exp_for(case, 2) - 1
    x, W = case.array((n, n_in), e), case.array((n_in, n_out), e)
    b = case.array((n_out,), e) if with_bias else None
    dy = case.array((n, n_out), e)
    x64, W64, b64, dy64 = f64(x, W, b, dy)
    k = n_in + 2
    assert_within(ops.dense_forward(x, W, b, n_threads=case.n_threads),
                  ref.dense_forward(x64, W64, b64),
                  np.abs(x64) @ np.abs(W64) + (0 if b is None else np.abs(b64)), case, c=k)
    dx, dW, db = ops.dense_backward(dy, x, W, bias=with_bias, n_threads=case.n_threads)
    rdx, rdW, rdb = ref.dense_backward(dy64, x64, W64, bias=with_bias)
    assert_within(dx, rdx, np.abs(dy64) @ np.abs(W64.T), case, c=n_out + 2, what="dx")
    assert_within(dW, rdW, np.abs(x64.T) @ np.abs(dy64), case, c=n + 2, what="dW")
    if with_bias:
        assert_within(db, rdb, np.abs(dy64).sum(axis=0), case, c=n + 2, what="db")


@PROFILE
@given(cases(max_exp=5), st.integers(1, 12))
def test_dense_with_x_and_W_the_same_array(case, n):
    x = case.array((n, n), 5, layout="c")
    x64 = np.asarray(x, np.float64)
    assert_within(ops.dense_forward(x, x, n_threads=case.n_threads), x64 @ x64,
                  np.abs(x64) @ np.abs(x64), case, c=n + 2)


# ---------------------------------------------------------------- batch norm
#
# gamma stays within 1e-3..1e3 in size (Case.gamma): with a tiny gamma two kernels lose
# digits, found by these properties at many examples. (1) bn_backward
# (fastnn/_kernels/_batchnorm.pxd) forms its coefficient gamma * rstd * rstd in the data's
# dtype before multiplying by the double sum of dy * (x - mean): when that product falls
# below the normal range (float32: |gamma| = 4e-26 with rstd = 2e-8; float64: gamma near
# 1e-308) dx is off by 1e-5 relative (float32) or 1e-9 (float64); forming it in double, in
# the order gamma * (rstd * rstd * sum / n), would not. (2) batchnorm_inference folds
# a = gamma / sqrt(running_var + eps) first (one multiply-add per element): when that
# underflows (gamma = 2e-308, running_var = 1e74) y is beta, where (x - mean) / std * gamma
# is 2e-271. Both need magnitudes no network has; the properties cover the rest.

@PROFILE
@given(cases(), rows, cols, st.booleans(), st.floats(1e-8, 1.0))
def test_batchnorm_forward_backward(case, n, d, relu, eps):
    e = max_exp_for(case, 3) - 1
    x = case.array((n, d), e)
    gamma, beta, dy = case.gamma(d), case.array((d,), 3), case.array((n, d), e)
    y, mean, rstd = ops.batchnorm_forward(x, gamma, beta, eps, relu=relu,
                                          n_threads=case.n_threads)
    x64, g64, b64, dy64 = f64(x, gamma, beta, dy)
    ry, rmean, rrstd = ref.batchnorm_forward(x64, g64, b64, eps, relu=relu)
    ax = np.abs(x64).max(axis=0)
    assert_within(mean, rmean, ax, case, c=4 * n, what="mean")
    assert_within(rstd, rrstd, rrstd * (1 + ax * ax * rrstd * rrstd), case, c=8 * n, what="rstd")
    span = (np.abs(x64) + ax) * rrstd
    assert_within(y, ry, np.abs(g64) * span * n + np.abs(b64), case, c=16, what="y")
    mask = y if relu else None
    dx, dgamma, dbeta = ops.batchnorm_backward(dy, x, mean, rstd, gamma, relu=relu, y=mask,
                                               n_threads=case.n_threads)
    # the twin takes the kernel's own mean, rstd and mask: the backward pass alone is tested
    rdx, rdg, rdb = ref.batchnorm_backward(dy64, x64, *f64(mean, rstd), g64, relu=relu,
                                           y=None if mask is None else np.asarray(mask))
    g = np.abs(dy64)
    xh = (np.abs(x64) + ax) * np.asarray(rstd, np.float64)
    assert_within(dbeta, rdb, g.sum(axis=0), case, c=2 * n, what="dbeta")
    assert_within(dgamma, rdg, (g * xh).sum(axis=0), case, c=8 * n, what="dgamma")
    sdx = np.abs(g64) * np.asarray(rstd, np.float64) * (g + g.mean(axis=0) +
                                                        xh * (g * xh).mean(axis=0))
    assert_within(dx, rdx, sdx, case, c=16 * n, what="dx")


@PROFILE
@given(cases(), rows, cols, st.booleans(), st.floats(0.0, 1.0))
def test_batchnorm_running_inference_and_fold(case, n, d, relu, momentum):
    e = max_exp_for(case, 3) - 1
    x = case.array((n, d), e)
    gamma, beta = case.gamma(d), case.array((d,), 3)
    rm, rv = case.array((d,), e, layout="c"), case.array((d,), e, layout="c", positive=True)
    rm, rv = rm.copy(), rv.copy()                     # updated in place: writeable
    rm64, rv64 = f64(rm, rv)
    ops.batchnorm_forward(x, gamma, beta, running_mean=rm, running_var=rv, momentum=momentum,
                          n_threads=case.n_threads)
    x64, g64, b64 = f64(x, gamma, beta)
    ref.batchnorm_forward(x64, g64, b64, running_mean=rm64, running_var=rv64, momentum=momentum)
    ax = np.abs(x64).max(axis=0)
    assert_within(rm, rm64, ax + np.abs(rm64), case, c=4 * n, what="running_mean")
    assert_within(rv, rv64, ax * ax * 4 + np.abs(rv64), case, c=8 * n, what="running_var")
    y = ops.batchnorm_inference(x, gamma, beta, rm, rv, relu=relu, n_threads=case.n_threads)
    rm64, rv64 = f64(rm, rv)
    want = ref.batchnorm_inference(x64, g64, b64, rm64, rv64, relu=relu)
    a64 = g64 / np.sqrt(rv64 + 1e-5)
    assert_within(y, want, np.abs(a64) * (np.abs(x64) + np.abs(rm64)) + np.abs(b64), case, c=8,
                  what="y")
    a, b = ops.batchnorm_fold(gamma, beta, rm, rv, 1e-5)
    assert_within(a, a64, np.abs(a64), case, c=4, what="a")
    assert_within(b, b64 - rm64 * a64, np.abs(b64) + np.abs(rm64 * a64), case, c=4, what="b")


# ---------------------------------------------------------------- softmax and losses

@PROFILE
@given(cases(), rows, cols)
def test_softmax_and_log_softmax(case, n, k):
    e = 37 if case.dtype == np.float32 else 307
    z = case.array((n, k), e)
    z64 = np.asarray(z, np.float64)
    p = ops.softmax(z, n_threads=case.n_threads)
    assert_within(p, ref.softmax(z64), np.ones_like(z64), case, c=8 * k, what="softmax")
    np.testing.assert_allclose(p.sum(axis=1), 1, rtol=8 * k * case.eps)
    same = np.array(z, order="C")                     # in place: out is z itself
    assert np.array_equal(ops.softmax(same, out=same, n_threads=case.n_threads), p)
    lp = ops.log_softmax(z, n_threads=case.n_threads)
    want = ref.log_softmax(z64)
    lp64 = np.asarray(lp, np.float64)
    # a log-probability beyond the dtype's range is -inf in both; the rest within bounds
    huge = ~np.isfinite(want.astype(case.dtype))
    assert np.array_equal(np.isneginf(lp64), huge | np.isneginf(want))
    ok = ~huge
    assert_within(lp64[ok], want[ok], (np.abs(z64) + np.abs(z64).max(axis=1, keepdims=True)
                                        + np.log(k))[ok], case, c=8, what="log_softmax")


def _weights(case, n, weighted):
    if not weighted:
        return None
    w = np.abs(case.rng.standard_normal(n)) * 10.0 ** case.rng.integers(-3, 4)
    w[0] += 1.0                                        # a positive sum
    return w


@PROFILE
@given(cases(), rows, st.integers(1, 12), st.booleans())
def test_softmax_cross_entropy(case, n, k, weighted):
    e = 18 if case.dtype == np.float32 else 150
    z = case.array((n, k), e)
    labels = case.rng.integers(0, k, n)
    w = _weights(case, n, weighted)
    loss, dz = ops.softmax_cross_entropy(z, labels, sample_weight=w, n_threads=case.n_threads)
    z64 = np.asarray(z, np.float64)
    rloss, rdz = ref.softmax_cross_entropy(z64, labels, sample_weight=w)
    ww = np.ones(n) if w is None else w
    share = ww / ww.sum()
    scale = np.abs(z64).max(axis=1) * 2 + np.log(k) + 1
    assert_within(loss, rloss, np.sum(share * scale), case, c=8 * k, what="loss")
    assert_within(dz, rdz, share[:, None] * np.ones_like(z64), case, c=8 * k, what="dz")


@PROFILE
@given(cases(), rows, st.integers(1, 6), st.booleans(), st.sampled_from(["sigmoid", "mse"]))
def test_float_target_losses(case, n, k, weighted, loss_name):
    e = 18 if case.dtype == np.float32 else 150
    z = case.array((n, k), e)
    if loss_name == "sigmoid":
        y = case.rng.random((n, k)).astype(case.dtype)
        y[case.rng.random((n, k)) < 0.5] = 0
    else:
        y = case.array((n, k), e, layout="c")
    w = _weights(case, n, weighted)
    kernel, twin = ((ops.sigmoid_cross_entropy, ref.sigmoid_cross_entropy) if loss_name ==
                    "sigmoid" else (ops.mse, ref.mse))
    loss, dz = kernel(z, y, sample_weight=w, n_threads=case.n_threads)
    z64, y64 = f64(z, y)
    rloss, rdz = twin(z64, y64, sample_weight=w)
    ww = np.ones(n) if w is None else w
    share = (ww / ww.sum())[:, None] / k
    if loss_name == "sigmoid":
        per, grad = np.abs(z64) * (1 + np.abs(y64)) + 1, np.ones_like(z64)
    else:
        diff = np.abs(z64) + np.abs(y64)
        per, grad = diff * diff, 2 * diff
    assert_within(loss, rloss, np.sum(share * per), case, c=16, what="loss")
    assert_within(dz, rdz, share * grad, case, c=16, what="dz")


# ---------------------------------------------------------------- dropout, activations

@PROFILE
@given(cases(), rows, cols, st.floats(0.0, 0.95), st.integers(0, 2**64 - 1),
       st.integers(0, 2**40), st.integers(0, 2**31 - 1))
def test_dropout(case, n, d, rate, seed, step, layer):
    e = 36 if case.dtype == np.float32 else 300
    x = case.array((n, d), e)
    got = ops.dropout(x, rate, seed, step, layer=layer, n_threads=case.n_threads)
    x64 = np.asarray(x, np.float64)
    keep = ref.dropout_mask(x.shape, rate, seed, step, layer)
    assert np.array_equal(got != 0, keep & (x64 != 0))
    want = ref.dropout(np.ascontiguousarray(x), rate, seed, step, layer=layer)
    assert_within(got, want, np.abs(x64) * 2, case, c=1, what="dropout")
    back = ops.dropout_backward(x, rate, seed, step, layer=layer, n_threads=case.n_threads)
    assert np.array_equal(back, got)


ACTIVATIONS = {row.name: (getattr(ops, row.name), getattr(ops, row.name + "_backward"),
                          {} if row.alpha is None else {"alpha": row.alpha})
               for row in kinds.ACTIVATIONS}


@PROFILE
@given(cases(), st.sampled_from(sorted(ACTIVATIONS)), st.one_of(
    st.tuples(rows, cols), st.tuples(st.integers(1, 50)), st.tuples(rows, cols, cols)),
    st.floats(0.0, 3.0))
def test_activations(case, name, shape, alpha):
    forward, backward, kw = ACTIVATIONS[name]
    alpha = float(case.dtype.type(alpha))          # the kernel computes in x's dtype
    kw = {"alpha": alpha} if kw else {}
    e = 37 if case.dtype == np.float32 else 300
    x = case.array(shape, e)
    x64 = np.asarray(x, np.float64)
    y = forward(x, n_threads=case.n_threads, **kw)
    twin_fwd, twin_bwd = getattr(ref, name), getattr(ref, f"{name}_backward")
    want = twin_fwd(x64, **kw)
    # the twin's sigmoid, 0.5 * (1 + tanh(x / 2)), is exact to 1e-16 absolute, not relative
    absolute = 1.0 if name == "sigmoid" else 0.0
    assert_within(y, want, np.abs(want) + (np.abs(x64) * alpha if kw else 0) + absolute, case,
                  c=4, what=name)
    e = 18 if case.dtype == np.float32 else 150
    dy = case.array(shape, e)
    y_in = np.asarray(y)                      # the kernel's forward output, as in training
    dx = backward(dy, y_in, x=x, n_threads=case.n_threads, **kw)
    dy64, y64 = f64(dy, y_in)
    want = twin_bwd(dy64, y64, x=x64, **kw)
    # |y| <= 1 where the derivative uses y (tanh, sigmoid); ReLUs use only its sign
    assert_within(dx, want, np.abs(dy64) * (2 + alpha), case, c=4, what=f"{name}_backward")


@PROFILE
@given(cases(max_exp=10), st.sampled_from(sorted(ACTIVATIONS)), rows, cols)
def test_activations_in_place_on_an_exact_alias(case, name, n, d):
    forward, backward, kw = ACTIVATIONS[name]
    x = case.array((n, d), 10, layout="c")
    want = forward(x, n_threads=case.n_threads, **kw)
    inplace = x.copy()
    forward(inplace, out=inplace, n_threads=case.n_threads, **kw)
    assert np.array_equal(inplace, want)
    dy = case.array((n, d), 10, layout="c")
    expected = backward(dy, want, x=x, n_threads=case.n_threads, **kw)
    backward(dy, want, x=x, out=dy, n_threads=case.n_threads, **kw)
    assert np.array_equal(dy, expected)


# ---------------------------------------------------------------- optimizer updates

UPDATES = {
    "sgd": (ops.sgd_update, 0, {}),
    "momentum": (ops.momentum_update, 1, {"beta": 0.9}),
    "rmsprop": (ops.rmsprop_update, 1, {"beta2": 0.99, "eps": 1e-8}),
    "adam": (ops.adam_update, 2, {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
    "adamw": (ops.adamw_update, 2, {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}),
}


# The kernels (fastnn/_kernels/_optim.pxd) take each 1 - beta in double and round it once
# to the parameters' dtype, as NumPy does with a Python float: float32 runs use the default
# betas too (1 - beta taken from beta rounded to float32 was 1.3e-5 off for beta2 = 0.999).


@PROFILE
@given(cases(max_exp=8), st.sampled_from(sorted(UPDATES)), st.one_of(
    st.tuples(st.integers(1, 60)), st.tuples(rows, cols)), st.floats(1e-6, 1.0),
    st.sampled_from([0.0, 1e-4, 0.01]), st.integers(1, 1000))
def test_optimizer_updates(case, rule, shape, lr, weight_decay, step):
    kernel, n_states, hyper = UPDATES[rule]
    e = 8
    param = np.ascontiguousarray(case.array(shape, e, layout="c"))
    grad = case.array(shape, e)
    states = [np.ascontiguousarray(case.array(shape, e, layout="c", positive=(i == n_states - 1
                                                                             and rule != "momentum")))
              for i in range(n_states)]
    p64, g64 = f64(param, grad)
    p_old = p64.copy()
    s64 = f64(*states)
    s_old = [a.copy() for a in s64]
    args = [*states, lr] + ([step] if rule in ("adam", "adamw") else [])
    kernel(param, grad, *args, weight_decay=weight_decay, n_threads=case.n_threads, **hyper)
    twin = getattr(ref, f"{rule}_update")
    rounded = hyper
    twin(p64, g64, *s64, lr, *([step] if rule in ("adam", "adamw") else []),
         weight_decay=weight_decay, **rounded)
    g_abs = np.abs(g64) + weight_decay * np.abs(p_old)
    for i, (got, want) in enumerate(zip(states, s64)):
        scale = np.abs(want) + g_abs * (g_abs if (rule in ("rmsprop", "adam", "adamw")
                                                 and i == n_states - 1) else 1) + 1e-30
        assert_within(got, want, scale * 4, case, c=8, what=f"state {i}")
    if rule == "sgd":
        stepsize = lr * g_abs
    elif rule == "momentum":         # the velocity's own roundings, not its (cancelled) size
        stepsize = lr * (hyper["beta"] * np.abs(s_old[0]) + g_abs)
    elif rule == "rmsprop":
        stepsize = lr * g_abs / (np.sqrt(s64[0]) + 1e-8)
    else:
        b1 = rounded["beta1"]
        m_scale = (b1 * np.abs(s_old[0]) + (1 - b1) * g_abs) / (1 - b1 ** step)
        v_hat = s64[1] / (1 - rounded["beta2"] ** step)
        stepsize = lr * (m_scale / (np.sqrt(v_hat) + 1e-8) + weight_decay * np.abs(p_old))
    # the new value is the old minus the step: it carries their roundings, not its own size's
    assert_within(param, p64, np.abs(p_old) + stepsize * 4, case, c=8, what="param")


@PROFILE
@given(cases(max_exp=3), st.sampled_from(["momentum", "rmsprop", "adam", "adamw"]),
       st.integers(2, 30), st.sampled_from(["state-state", "state-param", "state-grad",
                                            "param-grad", "shifted"]))
def test_aliased_update_buffers_are_refused(case, rule, size, how):
    kernel, n_states, hyper = UPDATES[rule]
    buf = np.zeros(3 * size + 1, case.dtype)
    param, grad = buf[:size], buf[size:2 * size]
    states = [np.zeros(size, case.dtype) for _ in range(n_states)]
    if how == "state-state" and n_states == 2:
        states[1] = states[0]
    elif how == "state-param":
        states[-1] = param
    elif how == "state-grad":
        states[0] = grad
    elif how == "param-grad":
        grad = param
    else:
        states[0] = buf[size - 1:2 * size - 1]       # overlaps param's last and grad's rest
    if how == "state-state" and n_states < 2:
        states[0] = buf[1:size + 1]
    args = [*states, 0.1] + ([1] if rule in ("adam", "adamw") else [])
    before = buf.copy()
    with pytest.raises(ValueError, match="must not overlap"):
        kernel(param, grad, *args, n_threads=case.n_threads, **hyper)
    assert np.array_equal(buf, before)                  # nothing was written
