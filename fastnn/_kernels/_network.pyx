# A network compiled for the kernels: the layers of a Sequential model as a
# list of ops over raw buffers.
#
# A whole training epoch runs in one call without the GIL: for each
# mini-batch, gather its rows into the workspace, run the ops forward, the
# fused softmax cross-entropy, the ops backward, and the optimizer update of
# all parameters (one flat array). Inference is one call too. So a training
# step costs no Python at all, and trials of a search in Python threads run
# side by side on the cores.
#
# The Python model owns every array (parameters, gradients, running
# averages, workspaces); a Network keeps pointers into them and references
# that keep them alive. Workspaces are made once per batch size.
#
# Inference allocates its own scratch per call (malloc), so one Network can
# serve predictions from several threads at once; training is one thread at
# a time per model (the model's fit lock).

from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy

import numpy as np

from fastnn._kernels._activations cimport act_forward, act_backward
from fastnn._kernels._batchnorm cimport bn_forward, bn_fold, bn_affine, bn_backward, bn_scratch
from fastnn._kernels._dense cimport dense_forward, dense_backward, dense_scratch
from fastnn._kernels._optim cimport optim_update
from fastnn._kernels._softmax cimport softmax_rows, softmax_xent

cdef enum:
    OP_DENSE = 0
    OP_BATCHNORM = 1
    OP_ACTIVATION = 2
    MAX_WORKSPACES = 4
    PREDICT_CHUNK = 4096      # rows per inference pass: bounds the scratch

OP_KINDS = {"dense": OP_DENSE, "batchnorm": OP_BATCHNORM, "activation": OP_ACTIVATION}


cdef struct Op:
    int kind
    int n_in, n_out
    int act                   # activation kind (activation ops)
    bint relu                 # fused ReLU (batch-norm ops)
    double alpha, eps, momentum
    char* W                   # dense: (n_in, n_out), (n_out,) or NULL, and their gradients
    char* b
    char* dW
    char* db
    char* gamma               # batch norm: (n_out,) each
    char* beta
    char* dgamma
    char* dbeta
    char* mean                # kept from forward for backward
    char* rstd
    char* rmean               # running averages
    char* rvar


cdef struct WS:
    Py_ssize_t n              # rows
    char* x                   # (n, n_in) the batch
    int64_t* labels           # (n,)
    char** act                # per op: (n, n_out) output
    char** grad               # per op: (n, n_out) gradient of the loss w.r.t. the output
    char* dx0                 # (n, n_in) dx of a first batch-norm op (not needed, but written)
    double* scratch           # kernels' scratch


cdef char* _ptr(object arr, object dtype, Py_ssize_t size, str what) except NULL:
    if arr is None:
        raise ValueError(f"{what} is missing")
    if (not isinstance(arr, np.ndarray) or arr.dtype != dtype or not arr.flags.c_contiguous
            or arr.size != size):
        raise ValueError(f"{what} must be a C-contiguous {np.dtype(dtype).name} array of "
                         f"{size} elements")
    return <char*> <size_t> arr.__array_interface__["data"][0]


cdef class Workspace:
    """Training buffers for one batch size (made by Network.workspace)."""

    cdef WS c
    cdef readonly object x, labels, acts, grads, dx0, scratch

    def __dealloc__(self):
        free(self.c.act)
        free(self.c.grad)


cdef class Network:
    """The compute ops of a model, over its arrays.

    Parameters
    ----------
    specs : list of dict
        One per op, in order, from the model's layers (``Layer.spec()``).
    n_in : int
        Input width.
    dtype : numpy dtype (float32 or float64)
    """

    cdef Op* ops
    cdef readonly int n_ops, n_in, n_out, max_width
    cdef readonly object dtype
    cdef bint is_double
    cdef list _keep

    def __cinit__(self, list specs, int n_in, dtype):
        self.dtype = np.dtype(dtype)
        self.is_double = self.dtype == np.float64
        self.n_ops, self.n_in = len(specs), n_in
        if not specs:
            raise ValueError("a network needs at least one op")
        self.ops = <Op*> malloc(self.n_ops * sizeof(Op))
        if self.ops == NULL:
            raise MemoryError()
        self._keep = list(specs)
        width = n_in
        self.max_width = n_in
        for i, spec in enumerate(specs):
            self._set_op(&self.ops[i], spec, width)
            width = self.ops[i].n_out
            self.max_width = max(self.max_width, width)
        self.n_out = width

    def __dealloc__(self):
        free(self.ops)

    cdef _set_op(self, Op* op, dict spec, int n_in):
        cdef object dt = self.dtype
        kind = OP_KINDS[spec["kind"]]
        op.kind, op.n_in = kind, n_in
        op.n_out = spec.get("n_out", n_in)
        op.act, op.relu = spec.get("act", 0), spec.get("relu", False)
        op.alpha, op.eps, op.momentum = spec.get("alpha", 0.0), spec.get("eps", 0.0), spec.get("momentum", 0.0)
        op.W = op.b = op.dW = op.db = NULL
        op.gamma = op.beta = op.dgamma = op.dbeta = op.mean = op.rstd = op.rmean = op.rvar = NULL
        d = op.n_out
        if kind == OP_DENSE:
            op.W = _ptr(spec["W"], dt, n_in * d, "W")
            op.dW = _ptr(spec["dW"], dt, n_in * d, "dW")
            if spec.get("b") is not None:
                op.b = _ptr(spec["b"], dt, d, "b")
                op.db = _ptr(spec["db"], dt, d, "db")
        elif kind == OP_BATCHNORM:
            if d != n_in:
                raise ValueError("a batch-norm op keeps its width")
            for name in ("gamma", "beta", "dgamma", "dbeta", "mean", "rstd", "running_mean",
                         "running_var"):
                _ptr(spec[name], dt, d, name)
            op.gamma, op.beta = _ptr(spec["gamma"], dt, d, ""), _ptr(spec["beta"], dt, d, "")
            op.dgamma, op.dbeta = _ptr(spec["dgamma"], dt, d, ""), _ptr(spec["dbeta"], dt, d, "")
            op.mean, op.rstd = _ptr(spec["mean"], dt, d, ""), _ptr(spec["rstd"], dt, d, "")
            op.rmean = _ptr(spec["running_mean"], dt, d, "")
            op.rvar = _ptr(spec["running_var"], dt, d, "")
        elif d != n_in:
            raise ValueError("an activation op keeps its width")

    # ------------------------------------------------------------ workspaces
    def workspace(self, Py_ssize_t n):
        """New training buffers for batches of ``n`` rows."""
        cdef Workspace ws = Workspace()
        cdef Py_ssize_t scratch = 2 * n, i
        cdef Op* op
        ws.x = np.empty((n, self.n_in), self.dtype)
        ws.labels = np.empty(n, np.int64)
        ws.acts = [np.empty((n, self.ops[i].n_out), self.dtype) for i in range(self.n_ops)]
        ws.grads = [np.empty_like(a) for a in ws.acts]
        ws.dx0 = np.empty((n, self.n_in), self.dtype) if self.ops[0].kind == OP_BATCHNORM else None
        for i in range(self.n_ops):
            op = &self.ops[i]
            if op.kind == OP_DENSE:
                scratch = max(scratch, dense_scratch(n, op.n_out))
            elif op.kind == OP_BATCHNORM:
                scratch = max(scratch, bn_scratch(n, op.n_out))
        ws.scratch = np.empty(scratch, np.float64)
        ws.c.n = n
        ws.c.x = _ptr(ws.x, self.dtype, n * self.n_in, "x")
        ws.c.labels = <int64_t*> _ptr(ws.labels, np.dtype(np.int64), n, "labels")
        ws.c.dx0 = NULL if ws.dx0 is None else _ptr(ws.dx0, self.dtype, n * self.n_in, "dx0")
        ws.c.scratch = <double*> _ptr(ws.scratch, np.dtype(np.float64), scratch, "scratch")
        ws.c.act = <char**> malloc(self.n_ops * sizeof(char*))
        ws.c.grad = <char**> malloc(self.n_ops * sizeof(char*))
        if ws.c.act == NULL or ws.c.grad == NULL:
            raise MemoryError()
        for i in range(self.n_ops):
            ws.c.act[i] = _ptr(ws.acts[i], self.dtype, n * self.ops[i].n_out, "act")
            ws.c.grad[i] = _ptr(ws.grads[i], self.dtype, n * self.ops[i].n_out, "grad")
        return ws

    # ------------------------------------------------------------ training
    def train_step(self, Workspace ws, int n_threads):
        """Forward, fused loss, backward on the batch in ``ws``; no update.

        Returns (mean loss, rows whose first argmax is the label); the
        gradients land in the model's flat gradient array.
        """
        cdef Py_ssize_t correct = 0
        cdef double loss
        with nogil:
            if self.is_double:
                loss = _step(self.ops, self.n_ops, &ws.c, <double*> ws.c.x, &correct, n_threads)
            else:
                loss = _step(self.ops, self.n_ops, &ws.c, <float*> ws.c.x, &correct, n_threads)
        return loss, correct

    def train_epoch(self, dict workspaces, X, labels, order, bounds, tuple update,
                    int n_threads):
        """Train on the mini-batches ``X[order[bounds[k]:bounds[k + 1]]]``, updating after each.

        ``workspaces`` maps each batch size to its Workspace. ``update`` is
        (rule, params, grads, first moment or None, second moment or None,
        lr, beta1, beta2, eps, steps taken before). Returns (sum of batch
        losses times batch sizes, correct rows, steps, index of the batch
        whose loss was not finite or -1, that loss).
        """
        cdef Py_ssize_t n_batches = len(bounds) - 1, n = X.shape[0], k
        cdef Workspace ws
        cdef WS* wss[MAX_WORKSPACES]
        cdef Py_ssize_t n_ws = len(workspaces)
        cdef EpochArgs a
        if n_ws > MAX_WORKSPACES:
            raise ValueError(f"at most {MAX_WORKSPACES} batch sizes")
        for k, ws in enumerate(workspaces.values()):
            wss[k] = &ws.c
        a.X = _ptr(X, self.dtype, n * self.n_in, "X")
        a.labels = <int64_t*> _ptr(labels, np.dtype(np.int64), n, "labels")
        a.order = <int64_t*> _ptr(order, np.dtype(np.int64), n, "order")
        a.bounds = <int64_t*> _ptr(bounds, np.dtype(np.int64), n_batches + 1, "bounds")
        rule, params, grads, s1, s2, lr, beta1, beta2, eps, t = update
        a.rule, a.size = rule, params.size
        a.params = _ptr(params, self.dtype, a.size, "params")
        a.grads = _ptr(grads, self.dtype, a.size, "grads")
        a.s1 = NULL if s1 is None else _ptr(s1, self.dtype, a.size, "optimizer state")
        a.s2 = NULL if s2 is None else _ptr(s2, self.dtype, a.size, "optimizer state")
        a.lr, a.beta1, a.beta2, a.eps, a.t = lr, beta1, beta2, eps, t
        a.n_batches, a.n_in, a.n_threads = n_batches, self.n_in, n_threads
        a.loss_sum, a.correct, a.steps, a.bad_batch, a.bad_loss = 0, 0, 0, -1, 0
        with nogil:
            if self.is_double:
                _epoch(self.ops, self.n_ops, wss, n_ws, &a, <double*> a.X)
            else:
                _epoch(self.ops, self.n_ops, wss, n_ws, &a, <float*> a.X)
        return a.loss_sum, a.correct, a.steps, a.bad_batch, a.bad_loss

    # ------------------------------------------------------------ inference
    def forward(self, X, out, bint softmax, int n_threads):
        """Inference: ``out`` = the network's output on ``X`` (softmax applied if asked).

        Test-time batch norm: each op's running averages, folded to one multiply-add.
        """
        cdef Py_ssize_t n = X.shape[0]
        cdef char* x = _ptr(X, self.dtype, n * self.n_in, "X")
        cdef char* y = _ptr(out, self.dtype, n * self.n_out, "out")
        cdef Py_ssize_t chunk = min(n, PREDICT_CHUNK)
        cdef Py_ssize_t item = self.dtype.itemsize
        cdef char* scratch = <char*> malloc((2 * chunk + 2) * self.max_width * item)
        if scratch == NULL:
            raise MemoryError()
        try:
            with nogil:
                if self.is_double:
                    _infer(self.ops, self.n_ops, <double*> x, <double*> y, n, self.n_in,
                           self.n_out, chunk, self.max_width, <double*> scratch, softmax,
                           n_threads)
                else:
                    _infer(self.ops, self.n_ops, <float*> x, <float*> y, n, self.n_in,
                           self.n_out, chunk, self.max_width, <float*> scratch, softmax,
                           n_threads)
        finally:
            free(scratch)


cdef struct EpochArgs:
    char* X                   # (n, n_in) all the training rows
    int64_t* labels           # (n,)
    int64_t* order            # (n,) this epoch's permutation
    int64_t* bounds           # (n_batches + 1,) batch edges in order
    Py_ssize_t n_batches, n_in
    int rule
    char* params              # (size,) flat, updated in place
    char* grads               # (size,)
    char* s1                  # (size,) or NULL
    char* s2
    Py_ssize_t size
    double lr, beta1, beta2, eps
    long t                    # optimizer steps taken before this epoch
    int n_threads
    double loss_sum           # OUT
    Py_ssize_t correct, steps, bad_batch
    double bad_loss


cdef void _epoch(const Op* ops, int n_ops, WS** wss, Py_ssize_t n_ws, EpochArgs* a,
                 const floating* X) noexcept nogil:
    cdef Py_ssize_t k, r, lo, m, src, correct
    cdef WS* ws
    cdef double loss
    cdef size_t row_bytes = a.n_in * sizeof(floating)
    for k in range(a.n_batches):
        lo = a.bounds[k]
        m = a.bounds[k + 1] - lo
        ws = NULL
        for r in range(n_ws):
            if wss[r].n == m:
                ws = wss[r]
        if ws == NULL:          # the caller made a workspace for every batch size
            a.bad_batch, a.bad_loss = k, -1
            return
        for r in range(m):
            src = a.order[lo + r]
            memcpy(ws.x + r * row_bytes, <const char*> X + src * row_bytes, row_bytes)
            ws.labels[r] = a.labels[src]
        loss = _step(ops, n_ops, ws, <floating*> ws.x, &correct, a.n_threads)
        if not isfinite(loss):
            a.bad_batch, a.bad_loss = k, loss
            return
        a.t += 1
        optim_update(a.rule, <floating*> a.params, <floating*> a.grads, <floating*> a.s1,
                     <floating*> a.s2, a.size, a.lr, a.beta1, a.beta2, a.eps, a.t, a.n_threads)
        a.loss_sum += loss * m
        a.correct += correct
        a.steps += 1


cdef double _step(const Op* ops, int n_ops, WS* ws, const floating* x0,
                  Py_ssize_t* correct, int n_threads) noexcept nogil:
    """Forward, fused loss, backward over ws; returns the mean loss (NaN/inf: no backward)."""
    cdef Py_ssize_t n = ws.n
    cdef int i
    cdef const Op* op
    cdef const floating* x = x0
    cdef floating* y
    cdef floating* dx
    cdef double loss
    for i in range(n_ops):
        op = &ops[i]
        y = <floating*> ws.act[i]
        if op.kind == OP_DENSE:
            dense_forward(x, <floating*> op.W, <floating*> op.b, y, n, op.n_in, op.n_out, n_threads)
        elif op.kind == OP_BATCHNORM:
            bn_forward(x, <floating*> op.gamma, <floating*> op.beta, op.eps, y,
                       <floating*> op.mean, <floating*> op.rstd, <floating*> op.rmean,
                       <floating*> op.rvar, op.momentum, op.relu, n, op.n_out, ws.scratch,
                       n_threads)
        else:
            act_forward(op.act, x, y, n * op.n_out, <floating> op.alpha, n_threads)
        x = y
    loss = softmax_xent(x, ws.labels, <floating*> ws.grad[n_ops - 1], n, ops[n_ops - 1].n_out,
                        ws.scratch, correct, n_threads)
    if not isfinite(loss):
        return loss
    for i in range(n_ops - 1, -1, -1):
        op = &ops[i]
        x = <floating*> ws.act[i - 1] if i else x0
        dx = <floating*> ws.grad[i - 1] if i else NULL
        if op.kind == OP_DENSE:
            dense_backward(<floating*> ws.grad[i], x, <floating*> op.W, dx, <floating*> op.dW,
                           <floating*> op.db, n, op.n_in, op.n_out, ws.scratch, n_threads)
        elif op.kind == OP_BATCHNORM:
            bn_backward(<floating*> ws.grad[i], x, <floating*> op.mean, <floating*> op.rstd,
                        <floating*> op.gamma, <floating*> ws.act[i] if op.relu else NULL,
                        dx if dx != NULL else <floating*> ws.dx0, <floating*> op.dgamma,
                        <floating*> op.dbeta, n, op.n_out, ws.scratch, n_threads)
        elif dx != NULL:
            act_backward(op.act, <floating*> ws.grad[i], <floating*> ws.act[i], dx,
                         n * op.n_out, <floating> op.alpha, n_threads)
    return loss


cdef void _infer(const Op* ops, int n_ops, const floating* X, floating* out, Py_ssize_t n,
                 int n_in, int n_out, Py_ssize_t chunk, int max_width, floating* scratch,
                 bint softmax, int n_threads) noexcept nogil:
    cdef Py_ssize_t lo, m
    cdef int i
    cdef const Op* op
    cdef const floating* x
    cdef floating* y
    cdef floating* bufs[2]
    cdef floating* fold_a = scratch + 2 * chunk * max_width
    cdef floating* fold_b = fold_a + max_width
    bufs[0], bufs[1] = scratch, scratch + chunk * max_width
    lo = 0
    while lo < n:
        m = min(chunk, n - lo)
        x = X + lo * n_in
        for i in range(n_ops):
            op = &ops[i]
            y = out + lo * n_out if i == n_ops - 1 else bufs[i % 2]
            if op.kind == OP_DENSE:
                dense_forward(x, <floating*> op.W, <floating*> op.b, y, m, op.n_in, op.n_out,
                              n_threads)
            elif op.kind == OP_BATCHNORM:
                bn_fold(<floating*> op.gamma, <floating*> op.beta, <floating*> op.rmean,
                        <floating*> op.rvar, op.eps, op.n_out, fold_a, fold_b)
                bn_affine(x, fold_a, fold_b, op.relu, y, m, op.n_out, n_threads)
            else:
                act_forward(op.act, x, y, m * op.n_out, <floating> op.alpha, n_threads)
            x = y
        if softmax:
            softmax_rows(out + lo * n_out, out + lo * n_out, False, m, n_out, n_threads)
        lo += m
