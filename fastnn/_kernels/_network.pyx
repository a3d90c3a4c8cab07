# A network compiled for the kernels: a model's layers as a list of ops over
# raw buffers, and its loss.
#
# A whole training epoch runs in one call without the GIL: for each
# mini-batch, gather its rows (inputs, targets, sample weights) into the
# workspace, run the ops forward, the fused loss, and the ops backward, each
# op's parameters updated by the optimizer as soon as its backward is done
# (while its gradients are still in cache; the rule is elementwise, so this
# gives the bits of one update of the whole flat array after the backward
# pass). Inference is one call too. So a training step costs no Python at all, and trials of a search in
# Python threads run side by side on the cores.
#
# The ops are looked up in KINDS, by the names the layers give
# (fastnn/layers.py), and the losses in LOSSES, numbered by their rows in
# fastnn/kinds.py (the build writes _losses.pxd from them); each kind's
# functions live in its own .pxd behind the interface of _op.pxd. Nothing
# here asks which kind an op is.
#
# The Python model owns every array (parameters, gradients, running
# averages, workspaces); a Network keeps pointers into them and references
# that keep them alive. Workspaces are made once per batch size.
#
# Inference allocates its own scratch per call (malloc), so one Network can
# serve predictions from several threads at once; training is one thread at
# a time per model (the model's fit lock).

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBuffer_Release,
                             PyObject_GetBuffer)
from cython.view cimport array as cvarray
from libc.math cimport isfinite
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memset

import numpy as np

from fastnn import kinds as _kinds

from fastnn._kernels._op cimport (Ctx, LossKind, Op, OpKind, LOSS_VALUES, OP_ARRAYS, OP_FLAGS,
                                  OP_VALUES, no_arrays, no_scratch)
from fastnn._kernels._activations cimport activation_kind
from fastnn._kernels._batchnorm cimport batchnorm_kind
from fastnn._kernels._dense cimport dense_kind
from fastnn._kernels._dropout cimport dropout_kind
from fastnn._kernels._losses cimport N_LOSSES, loss_kind
from fastnn._kernels cimport _optim
# (a name cimported too: the build then sees that this module depends on _optim.pxd)
from fastnn._kernels._optim cimport N_RULES as _N_RULES

cdef enum:
    MAX_WORKSPACES = 4
    PREDICT_CHUNK = 4096      # rows per inference pass: bounds the scratch
    STACK_SCRATCH = 4096      # doubles of inference scratch taken from the stack, at most

# ---------------------------------------------------------------- the tables
# One line per op kind; names are what layers.py gives. The losses and the
# optimizer rules come from fastnn/kinds.py.

cdef OpKind KINDS[5]
KINDS[0], KINDS[1], KINDS[2], KINDS[3], KINDS[4] = (
    dense_kind(), batchnorm_kind(), activation_kind(), dropout_kind(), python_kind())
OP_KINDS = {"dense": 0, "batchnorm": 1, "activation": 2, "dropout": 3, "python": 4}

# the losses: numbered by their rows in fastnn/kinds.py, as _losses.pxd numbers them
if len(_kinds.LOSSES) != N_LOSSES:
    raise ImportError(f"fastnn/kinds.py declares {len(_kinds.LOSSES)} losses but the "
                      f"compiled kernels know {N_LOSSES}: rebuild fastnn (pip install -e .)")
if any(len(row.settings) > LOSS_VALUES for row in _kinds.LOSSES):
    raise ImportError(f"a loss of fastnn/kinds.py has more than {LOSS_VALUES} settings")
cdef LossKind LOSSES[N_LOSSES]
for _k in range(N_LOSSES):
    LOSSES[_k] = loss_kind(_k)
LOSS_KINDS = {row.name: k for k, row in enumerate(_kinds.LOSSES)}

# the optimizer rules: numbered by their rows in fastnn/kinds.py, as _rules.pxi numbers them
if len(_kinds.RULES) != _N_RULES:
    raise ImportError(f"fastnn/kinds.py declares {len(_kinds.RULES)} optimizer rules but the "
                      f"compiled kernels know {_N_RULES}: rebuild fastnn (pip install -e .)")
RULES = {row.name: k for k, row in enumerate(_kinds.RULES)}
RULE_SLOTS = {row.name: len(row.slots) for row in _kinds.RULES}
RULE_HYPER = {row.name: len(row.hyper) for row in _kinds.RULES}
MAX_SLOTS, MAX_HYPER = _optim.MAX_SLOTS, _optim.MAX_HYPER

cdef enum:                    # how an epoch ended
    DONE = 0
    DIVERGED = 1
    NO_WORKSPACE = 2
    OP_FAILED = 3
EPOCH_DONE, EPOCH_DIVERGED, EPOCH_NO_WORKSPACE = DONE, DIVERGED, NO_WORKSPACE


cdef char* _ptr(object arr, object dtype, Py_ssize_t size, str what,
               bint writeable=True) except NULL:
    """The data pointer of a checked array (the caller keeps the array alive)."""
    cdef Py_buffer view
    cdef char* data
    if arr is None:
        raise ValueError(f"{what} is missing")
    # the buffer protocol checks contiguity and writeability and gives the pointer, without
    # building flags objects or __array_interface__ (about 1 us a call on one-row predicts)
    cdef int flags = PyBUF_C_CONTIGUOUS | (PyBUF_WRITABLE if writeable else 0)
    try:
        if not isinstance(arr, np.ndarray) or arr.dtype != dtype or arr.size != size:
            raise BufferError
        PyObject_GetBuffer(arr, &view, flags)
    except BufferError:
        raise ValueError(f"{what} must be a{' writeable' if writeable else ''} C-contiguous "
                         f"{np.dtype(dtype).name} array of {size} elements") from None
    data = <char*> view.buf
    PyBuffer_Release(&view)
    return data


# ---------------------------------------------------------------- the Python op
# A layer written in NumPy (a fastnn.Layer subclass with forward and
# backward): its op takes the GIL and calls the layer on NumPy views of the
# buffers. The slower per-step path, but inside the same compiled epoch. An
# exception in the layer sets Ctx.error: the epoch stops before any update
# and the Network raises it.

cdef object _view(const char* p, Py_ssize_t n, Py_ssize_t d, bint is_double):
    """A NumPy (n, d) array over p (no copy; valid while the buffer lives)."""
    cdef cvarray arr = cvarray(shape=(max(n, 1), max(d, 1)), itemsize=8 if is_double else 4,
                               format="d" if is_double else "f", mode="c",
                               allocate_buffer=False)
    arr.data = <char*> p
    return np.asarray(arr)[:n, :d]


cdef void _py_call(const Op* op, int which, const char* x, const char* y, char* dy, char* out,
                   const Ctx* c) noexcept nogil:
    with gil:
        layer = <object> <void*> op.a[0]
        try:
            if which != 1:          # 0: training forward, 2: test time
                result = layer.forward(_view(x, c.n, op.n_in, c.is_double), which == 0)
                want, name = (c.n, op.n_out), "forward"
            else:
                result = layer.backward(_view(x, c.n, op.n_in, c.is_double),
                                        _view(y, c.n, op.n_out, c.is_double),
                                        _view(dy, c.n, op.n_out, c.is_double))
                want, name = (c.n, op.n_in), "backward"
                if out == NULL:
                    return
            result = np.asarray(result)
            if result.shape != want:
                raise ValueError(f"{type(layer).__name__}.{name} returned shape {result.shape}; "
                                 f"expected {want}")
            np.copyto(_view(out, want[0], want[1], c.is_double), result, casting="same_kind")
        except BaseException as exc:
            layer._engine_error = exc
            c.error[0] = 1


cdef void _py_forward(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    _py_call(op, 0, x, NULL, NULL, y, c)


cdef void _py_infer(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    _py_call(op, 2, x, NULL, NULL, y, c)


cdef void _py_backward(const Op* op, const char* x, const char* y, char* dy, char* dx,
                       const Ctx* c) noexcept nogil:
    _py_call(op, 1, x, y, dy, dx, c)


cdef OpKind python_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _py_forward, _py_backward, _py_infer
    k.scratch, k.array_size = no_scratch, no_arrays
    return k


cdef class Update:
    """One optimizer step over a flat parameter array, as the kernels take it.

    Parameters
    ----------
    rule : str
        A name in RULES.
    params, grads : float arrays of one size and dtype, C-contiguous
    slots : list of arrays
        The rule's state arrays (RULE_SLOTS[rule] of them), params' size and dtype.
    lr : float
    hyper : sequence of float
        The rule's hyperparameters, in its order (RULE_HYPER[rule] of them).
    weight_decay : float
    decay : int64 array (2 * k,) or None
        Sorted [start, end) segments of params that weight decay applies
        to; None: all of params.
    t : int
        Steps taken before; the next step is t + 1.
    decay_per_weight : float, default 0
        > 0: in a training epoch, each batch's weight decay is this over the
        batch's weight (its rows, or the sum of their sample weights).
    """

    cdef _optim.Update c
    cdef int64_t whole[2]
    cdef readonly object params, grads, slots, decay
    cdef readonly bint is_double

    def __init__(self, str rule, params, grads, list slots, double lr, hyper,
                 double weight_decay=0.0, decay=None, int64_t t=0,
                 double decay_per_weight=0.0):
        cdef Py_ssize_t k
        n_slots, n_hyper = RULE_SLOTS.get(rule), RULE_HYPER.get(rule)
        if n_slots is None:
            raise ValueError(f"unknown optimizer rule {rule!r}")
        if len(slots) != n_slots or len(hyper) != n_hyper:
            raise ValueError(f"rule {rule!r} takes {n_slots} state arrays and {n_hyper} "
                             "hyperparameters")
        dt = params.dtype
        self.is_double = dt == np.float64
        self.c.rule, self.c.size = RULES[rule], params.size
        self.c.w = _ptr(params, dt, params.size, "params")
        self.c.g = _ptr(grads, dt, params.size, "grads", False)
        for k in range(_optim.MAX_SLOTS):
            self.c.s[k] = _ptr(slots[k], dt, params.size, "optimizer state") if k < n_slots else NULL
        for k in range(_optim.MAX_HYPER):
            self.c.h[k] = hyper[k] if k < n_hyper else 0.0
        self.c.lr, self.c.weight_decay, self.c.t = lr, weight_decay, t
        self.c.cache[0] = self.c.cache[1] = 0
        self.c.decay_per_weight = decay_per_weight
        if decay is None:
            self.whole[0], self.whole[1] = 0, params.size
            self.c.decay, self.c.n_decay = self.whole, 1
        else:
            decay = np.ascontiguousarray(decay, np.int64)
            if decay.size % 2 or np.any(np.diff(decay) < 0) or (decay.size and (
                    decay[0] < 0 or decay[decay.size - 1] > params.size)):
                raise ValueError("decay must hold sorted [start, end) pairs within params")
            self.c.n_decay = decay.size // 2
            self.c.decay = (<int64_t*> _ptr(decay, np.dtype(np.int64), decay.size, "decay")
                            if decay.size else NULL)
        self.params, self.grads, self.slots, self.decay = params, grads, slots, decay

    @property
    def t(self):
        """Steps taken so far."""
        return self.c.t

    def step(self, int n_threads):
        """Take one step: t + 1."""
        self.c.t += 1
        with nogil:
            _optim.optim_update(&self.c, self.is_double, n_threads)


cdef struct WS:
    Py_ssize_t n              # rows
    char* x                   # (n, n_in) the batch
    char* target              # (n,) int64 labels, or (n, n_out) of the network's dtype
    double* weight            # (n,) sample weights, or NULL
    char** act                # per op: (n, n_out) output
    char** grad               # per op: (n, n_out) gradient of the loss w.r.t. the output
    double* scratch           # kernels' scratch
    Py_ssize_t scratch_size


cdef class Workspace:
    """Training buffers for one batch size (made by Network.workspace)."""

    cdef WS c
    cdef readonly object x, target, weight, acts, grads, scratch

    def __dealloc__(self):
        free(self.c.act)
        free(self.c.grad)


cdef class Network:
    """The compute ops of a model, over its arrays, and its loss.

    Parameters
    ----------
    specs : list of dict
        One per op, in order: ``{"kind": name in OP_KINDS, "n_out": width
        (default: the input's), "arrays": [...], "values": [...],
        "flags": [...]}`` in the kind's slot order (see its .pxd).
    n_in : int
        Input width.
    dtype : numpy dtype (float32 or float64)
    loss : str
        A name in LOSS_KINDS.
    seed : int
        The dropout seed.
    loss_settings : tuple of float
        The loss's settings, in its row's order (fastnn/kinds.py), checked by
        the caller.
    """

    cdef Op* ops
    cdef const LossKind* loss
    cdef readonly int n_ops, n_in, n_out, max_width
    cdef readonly object dtype
    cdef readonly bint int_target
    cdef bint is_double
    cdef uint64_t seed
    cdef double loss_v[LOSS_VALUES]
    cdef list _keep
    cdef public bint fuse_updates     # update each op's parameters right after its backward
    cdef readonly bint last_fused     # whether the last train_epoch did

    def __cinit__(self, list specs, int n_in, dtype, str loss, uint64_t seed=0,
                  tuple loss_settings=()):
        self.dtype = np.dtype(dtype)
        self.is_double = self.dtype == np.float64
        if self.dtype not in (np.float32, np.float64):
            raise ValueError("a network computes in float32 or float64")
        if loss not in LOSS_KINDS:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSS_KINDS)}")
        if not specs:
            raise ValueError("a network needs at least one op")
        self.loss = &LOSSES[LOSS_KINDS[loss]]
        self.int_target = self.loss.int_target
        _set_loss_values(self.loss_v, loss, loss_settings)
        self.seed = seed
        self.fuse_updates = True
        self.n_ops, self.n_in = len(specs), n_in
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
        if spec.get("kind") not in OP_KINDS:
            raise ValueError(f"unknown op kind {spec.get('kind')!r}; expected one of {sorted(OP_KINDS)}")
        arrays, values, flags = spec.get("arrays", []), spec.get("values", []), spec.get("flags", [])
        if len(arrays) > OP_ARRAYS or len(values) > OP_VALUES or len(flags) > OP_FLAGS:
            raise ValueError(f"an op takes at most {OP_ARRAYS} arrays, {OP_VALUES} values "
                             f"and {OP_FLAGS} flags")
        op.kind = &KINDS[OP_KINDS[spec["kind"]]]
        op.n_in, op.n_out = n_in, spec.get("n_out", n_in)
        for k in range(OP_VALUES):
            op.v[k] = values[k] if k < len(values) else 0.0
        for k in range(OP_FLAGS):
            op.f[k] = flags[k] if k < len(flags) else 0
        for k in range(OP_ARRAYS):
            arr = arrays[k] if k < len(arrays) else None
            size = op.kind.array_size(op, k)
            if size == 0 or (size < 0 and arr is None):
                if arr is not None:
                    raise ValueError(f"a {spec['kind']} op takes no array in slot {k}")
                op.a[k] = NULL
            else:
                op.a[k] = _ptr(arr, self.dtype, abs(size), f"{spec['kind']} op array {k}")
        if spec.get("object") is not None:     # a Python op's layer, kept alive by _keep
            op.a[0] = <char*> <void*> spec["object"]

    cdef Py_ssize_t _scratch_size(self, Py_ssize_t n):
        cdef Py_ssize_t size = self.loss.scratch(NULL, n), i
        for i in range(self.n_ops):
            size = max(size, self.ops[i].kind.scratch(&self.ops[i], n))
        return max(size, 2 * self.max_width)        # and room for a test-time fold

    # ------------------------------------------------------------ workspaces
    def workspace(self, Py_ssize_t n, bint weighted=False):
        """New training buffers for batches of ``n`` rows (with sample weights if asked)."""
        cdef Workspace ws = Workspace()
        cdef Py_ssize_t scratch = self._scratch_size(n), i
        ws.x = np.empty((n, self.n_in), self.dtype)
        if self.int_target:
            ws.target = np.empty(n, np.int64)
        else:
            ws.target = np.empty((n, self.n_out), self.dtype)
        ws.weight = np.ones(n, np.float64) if weighted else None
        ws.acts = [np.empty((n, self.ops[i].n_out), self.dtype) for i in range(self.n_ops)]
        ws.grads = [np.empty_like(a) for a in ws.acts]
        ws.scratch = np.empty(scratch, np.float64)
        ws.c.n = n
        ws.c.x = _ptr(ws.x, self.dtype, n * self.n_in, "x")
        ws.c.target = _ptr(ws.target, ws.target.dtype, ws.target.size, "target")
        ws.c.weight = NULL if ws.weight is None else <double*> _ptr(ws.weight, ws.weight.dtype, n, "weight")
        ws.c.scratch = <double*> _ptr(ws.scratch, np.dtype(np.float64), scratch, "scratch")
        ws.c.scratch_size = scratch
        ws.c.act = <char**> malloc(self.n_ops * sizeof(char*))
        ws.c.grad = <char**> malloc(self.n_ops * sizeof(char*))
        if ws.c.act == NULL or ws.c.grad == NULL:
            raise MemoryError()
        for i in range(self.n_ops):
            ws.c.act[i] = _ptr(ws.acts[i], self.dtype, n * self.ops[i].n_out, "act")
            ws.c.grad[i] = _ptr(ws.grads[i], self.dtype, n * self.ops[i].n_out, "grad")
        return ws

    # ------------------------------------------------------------ training
    def train_step(self, Workspace ws, int n_threads, int64_t step=1):
        """Forward, fused loss, backward on the batch in ``ws``; no update.

        ``step`` numbers the training step (dropout masks depend on it).
        Returns (mean loss, weighted count of rows predicted right); the
        gradients land in the model's flat gradient array.
        """
        cdef double hits = 0, loss, total = self._total_weight(ws)
        cdef int error = 0
        cdef Ctx c = self._ctx(&ws.c, n_threads, step, &error)
        with nogil:
            loss = _step(self.ops, self.n_ops, self.loss, &ws.c, total, &c, &hits)
        if error:
            self._raise_op_error()
        return loss, hits

    cdef double _total_weight(self, Workspace ws) except -1:
        if ws.weight is None:
            return ws.c.n
        total = float(ws.weight.sum())
        if not total > 0:
            raise ValueError("the batch's sample weights sum to 0")
        return total

    cdef Ctx _ctx(self, WS* ws, int n_threads, int64_t step, int* error):
        cdef Ctx c
        c.n, c.is_double, c.scratch, c.n_threads = ws.n, self.is_double, ws.scratch, n_threads
        c.seed, c.step, c.error = self.seed, step, error
        c.loss_v = self.loss_v
        return c

    def _raise_op_error(self):
        """Raise what a layer written in Python raised inside the kernels."""
        for spec in self._keep:
            layer = spec.get("object")
            exc = getattr(layer, "_engine_error", None)
            if exc is not None:
                layer._engine_error = None
                raise exc
        raise RuntimeError("an op of the network failed")

    def train_epoch(self, dict workspaces, X, target, weight, order, bounds, Update update,
                    int n_threads):
        """Train on the mini-batches ``X[order[bounds[k]:bounds[k + 1]]]``, updating after each.

        ``workspaces`` maps each batch size to its Workspace (with weights
        when ``weight`` is given). ``target`` holds int64 labels (n,) or
        floats (n, n_out); ``weight`` float64 (n,) or None. Returns (status:
        EPOCH_DONE, EPOCH_DIVERGED or EPOCH_NO_WORKSPACE; sum over batches of the batch loss
        times its weight; weighted rows predicted right; steps; the index of
        the batch that stopped the epoch, or -1; its loss; sum over batches of
        the batch loss times its rows).
        """
        cdef Py_ssize_t n_batches = len(bounds) - 1, n = X.shape[0], k
        cdef Workspace ws
        cdef WS* wss[MAX_WORKSPACES]
        cdef Py_ssize_t n_ws = len(workspaces)
        cdef EpochArgs a
        cdef Ctx c
        cdef int status
        if n_ws > MAX_WORKSPACES:
            raise ValueError(f"at most {MAX_WORKSPACES} batch sizes")
        for k, ws in enumerate(workspaces.values()):
            if (ws.weight is None) != (weight is None):
                raise ValueError("the workspaces' sample weights do not match the data's")
            wss[k] = &ws.c
        if update.is_double != self.is_double:
            raise ValueError("the update's dtype is not the network's")
        a.X = _ptr(X, self.dtype, n * self.n_in, "X", False)
        if self.int_target:
            a.target = _ptr(target, np.dtype(np.int64), n, "target", False)
            a.target_bytes = sizeof(int64_t)
        else:
            a.target = _ptr(target, self.dtype, n * self.n_out, "target", False)
            a.target_bytes = self.n_out * self.dtype.itemsize
        a.weight = (NULL if weight is None else
                    <double*> _ptr(weight, np.dtype(np.float64), n, "weight", False))
        a.order = <int64_t*> _ptr(order, np.dtype(np.int64), n, "order", False)
        a.bounds = <int64_t*> _ptr(bounds, np.dtype(np.int64), n_batches + 1, "bounds", False)
        a.update = &update.c
        a.segs = self._segments(update) if self.fuse_updates else NULL
        self.last_fused = a.segs != NULL
        a.n_batches, a.n_in, a.n_threads = n_batches, self.n_in, n_threads
        a.loss_sum, a.hits, a.steps, a.stop_batch, a.stop_loss = 0, 0, 0, -1, 0
        a.loss_rows = 0
        cdef Py_ssize_t item = self.dtype.itemsize
        cdef int error = 0
        c = self._ctx(wss[0], n_threads, 0, &error)
        try:
            with nogil:
                status = _epoch(self.ops, self.n_ops, self.loss, wss, n_ws, &a, &c, item,
                                self.is_double)
        finally:
            free(a.segs)
        if status == OP_FAILED:
            self._raise_op_error()
        return status, a.loss_sum, a.hits, a.steps, a.stop_batch, a.stop_loss, a.loss_rows

    cdef int64_t* _segments(self, Update update) except? NULL:
        """Per op, the [start, end) of the flat parameter array its parameters fill
        (start == end: none); NULL when the ops' parameters are not disjoint pieces
        that cover the array, or when an op is written in Python (its error must stop
        the step before any update): then the update waits for the whole backward."""
        cdef Py_ssize_t i, k, item = self.dtype.itemsize, size, covered = 0
        cdef Py_ssize_t nbytes = update.c.size * item
        cdef int64_t lo, hi, off
        cdef char* p
        if any(spec.get("object") is not None for spec in self._keep):
            return NULL
        cdef int64_t* segs = <int64_t*> malloc(2 * self.n_ops * sizeof(int64_t))
        if segs == NULL:
            raise MemoryError()
        for i in range(self.n_ops):
            lo, hi = update.c.size, 0
            for k in range(OP_ARRAYS):
                p = self.ops[i].a[k]
                if p == NULL or p < update.c.w or p >= update.c.w + nbytes:
                    continue
                off = (p - update.c.w) // item
                size = abs(self.ops[i].kind.array_size(&self.ops[i], k))
                lo, hi = min(lo, off), max(hi, off + size)
            if hi <= lo:
                lo = hi = 0
            segs[2 * i], segs[2 * i + 1] = lo, hi
            covered += hi - lo
        spans = sorted((segs[2 * i], segs[2 * i + 1]) for i in range(self.n_ops)
                       if segs[2 * i + 1] > segs[2 * i])
        if covered != update.c.size or any(a[1] > b[0] for a, b in zip(spans, spans[1:])):
            free(segs)
            return NULL
        return segs

    def set_seed(self, uint64_t seed):
        """Set the dropout seed."""
        self.seed = seed

    # ------------------------------------------------------------ the loss alone
    def loss_value(self, z, target, weight, double total_weight, int n_threads):
        """The loss of outputs ``z`` (n, n_out) on ``target`` (no gradient)."""
        cdef Py_ssize_t n = z.shape[0]
        cdef double hits = 0, value
        cdef Ctx c
        cdef char* zp = _ptr(z, self.dtype, n * self.n_out, "z", False)
        cdef char* tp
        cdef double* wp = (NULL if weight is None else
                           <double*> _ptr(weight, np.dtype(np.float64), n, "weight", False))
        cdef Py_ssize_t C = self.n_out
        if self.int_target:
            tp = _ptr(target, np.dtype(np.int64), n, "target", False)
        else:
            tp = _ptr(target, self.dtype, n * self.n_out, "target", False)
        cdef double* scratch = <double*> malloc(max(1, self.loss.scratch(NULL, n)) * sizeof(double))
        if scratch == NULL:
            raise MemoryError()
        c.n, c.is_double, c.scratch, c.n_threads, c.seed, c.step, c.error = (
            n, self.is_double, scratch, n_threads, 0, 0, NULL)
        c.loss_v = self.loss_v
        try:
            with nogil:
                value = self.loss.loss(zp, tp, wp, total_weight, NULL, C, &hits, &c)
        finally:
            free(scratch)
        return value

    def output(self, z, int n_threads):
        """Apply the loss's output map (softmax, sigmoid; nothing for mse) to ``z`` in place."""
        cdef Py_ssize_t n = z.shape[0]
        cdef char* zp = _ptr(z, self.dtype, n * self.n_out, "z")
        cdef Py_ssize_t C = self.n_out
        if self.loss.output != NULL:
            with nogil:
                self.loss.output(zp, n, C, self.is_double, n_threads)

    # ------------------------------------------------------------ inference
    def forward(self, X, out, bint output, int n_threads, bint check_finite=False):
        """Inference: ``out`` = the network's output on ``X`` (the loss's output map applied
        if ``output``: softmax or sigmoid probabilities).

        Test-time ops: batch norm's running averages folded to one multiply-add; no dropout.
        With ``check_finite``, an ``X`` holding NaN or an infinity is left alone: returns
        False (and True when it computed ``out``).
        """
        cdef Py_ssize_t n = X.shape[0]
        cdef char* x = _ptr(X, self.dtype, n * self.n_in, "X", False)
        cdef char* y = _ptr(out, self.dtype, n * self.n_out, "out")
        cdef bint finite = True
        if check_finite:
            with nogil:
                finite = _all_finite(x, n * self.n_in, self.is_double)
            if not finite:
                return False
        cdef Py_ssize_t chunk = min(n, PREDICT_CHUNK)
        cdef Py_ssize_t item = self.dtype.itemsize
        cdef Py_ssize_t scratch_size = self._scratch_size(chunk)
        cdef char* bufs = NULL
        cdef double* scratch = NULL
        cdef Ctx c
        cdef double on_stack[STACK_SCRATCH]       # small calls (a few rows) allocate nothing
        cdef Py_ssize_t doubles = scratch_size + (2 * chunk * self.max_width * item + 7) // 8
        if doubles <= STACK_SCRATCH:
            scratch = &on_stack[0]
        else:
            scratch = <double*> malloc(doubles * sizeof(double))
        if scratch == NULL:
            raise MemoryError()
        bufs = <char*> (scratch + scratch_size)
        cdef int error = 0
        c.is_double, c.scratch, c.n_threads, c.seed, c.step = self.is_double, scratch, n_threads, 0, 0
        c.error = &error
        c.loss_v = self.loss_v
        try:
            with nogil:
                _infer(self.ops, self.n_ops, self.loss if output else NULL, x, y, n, self.n_in,
                       self.n_out, chunk, self.max_width * item, bufs, item, &c)
        finally:
            if scratch != &on_stack[0]:
                free(scratch)
        if error:
            self._raise_op_error()
        return True


cdef _set_loss_values(double* v, str loss, tuple settings):
    """v = the settings of the loss called ``loss`` (checked by the caller), zeros after."""
    if len(settings) != len(_kinds.LOSSES[LOSS_KINDS[loss]].settings):
        raise ValueError(f"loss {loss!r} takes {len(_kinds.LOSSES[LOSS_KINDS[loss]].settings)} "
                         f"settings; got {len(settings)}")
    for k in range(LOSS_VALUES):
        v[k] = settings[k] if k < len(settings) else 0.0


def loss(str name, z, target, weight, double total_weight, dz, tuple settings, int n_threads):
    """The loss called ``name`` (a name in LOSS_KINDS) of outputs ``z`` (n, C) on
    ``target`` (int64 labels (n,), or z's dtype and shape), and its gradient into ``dz``
    (z's dtype and shape, or None): the kernel behind ``fastnn.ops.<name>``. Returns
    (weighted mean loss, weighted count of rows predicted right). The caller checks."""
    if name not in LOSS_KINDS:
        raise ValueError(f"unknown loss {name!r}; expected one of {sorted(LOSS_KINDS)}")
    cdef const LossKind* kind = &LOSSES[LOSS_KINDS[name]]
    cdef Py_ssize_t n = z.shape[0], C = z.shape[1]
    cdef bint is_double = z.dtype == np.float64
    cdef double hits = 0, value
    cdef Ctx c
    cdef char* zp = _ptr(z, z.dtype, n * C, "z", False)
    cdef char* tp = (_ptr(target, np.dtype(np.int64), n, "target", False) if kind.int_target
                     else _ptr(target, z.dtype, n * C, "target", False))
    cdef char* dp = NULL if dz is None else _ptr(dz, z.dtype, n * C, "dz")
    cdef double* wp = (NULL if weight is None else
                       <double*> _ptr(weight, np.dtype(np.float64), n, "weight", False))
    _set_loss_values(c.loss_v, name, settings)
    cdef double* scratch = <double*> malloc(max(1, kind.scratch(NULL, n)) * sizeof(double))
    if scratch == NULL:
        raise MemoryError()
    c.n, c.is_double, c.scratch, c.n_threads, c.seed, c.step, c.error = (
        n, is_double, scratch, n_threads, 0, 0, NULL)
    try:
        with nogil:
            value = kind.loss(zp, tp, wp, total_weight, dp, C, &hits, &c)
    finally:
        free(scratch)
    return value, hits


cdef bint _all_finite(const char* x, Py_ssize_t n, bint is_double) noexcept nogil:
    """Whether none of the n values at x is NaN or infinite (exponent bits not all set);
    integer tests, so the loop vectorizes."""
    cdef Py_ssize_t i
    cdef uint32_t bad32 = 0
    cdef uint64_t bad64 = 0
    cdef const uint32_t* x32 = <const uint32_t*> x
    cdef const uint64_t* x64 = <const uint64_t*> x
    if is_double:
        for i in range(n):
            bad64 |= (x64[i] & 0x7FF0000000000000ULL) == 0x7FF0000000000000ULL
        return bad64 == 0
    for i in range(n):
        bad32 |= (x32[i] & 0x7F800000U) == 0x7F800000U
    return bad32 == 0


cdef struct EpochArgs:
    char* X                   # (n, n_in) all the training rows
    char* target              # (n,) int64 or (n, n_out) floats
    Py_ssize_t target_bytes   # bytes of one row's target
    double* weight            # (n,) or NULL
    int64_t* order            # (n,) this epoch's permutation
    int64_t* bounds           # (n_batches + 1,) batch edges in order
    Py_ssize_t n_batches, n_in
    _optim.Update* update     # t counts the steps taken
    int64_t* segs             # (2 * n_ops,) each op's piece of the parameters, or NULL
    int n_threads
    double loss_sum           # OUT
    double loss_rows          # OUT the batch losses times their rows
    double hits
    Py_ssize_t steps, stop_batch
    double stop_loss


cdef int _epoch(const Op* ops, int n_ops, const LossKind* loss, WS** wss, Py_ssize_t n_ws,
                EpochArgs* a, Ctx* c, Py_ssize_t item, bint is_double) noexcept nogil:
    cdef Py_ssize_t k, r, lo, m, src
    cdef WS* ws
    cdef double batch_loss, hits, total
    cdef size_t row_bytes = a.n_in * item
    for k in range(a.n_batches):
        lo = a.bounds[k]
        m = a.bounds[k + 1] - lo
        ws = NULL
        for r in range(n_ws):
            if wss[r].n == m:
                ws = wss[r]
        if ws == NULL:          # the caller makes a workspace for every batch size
            a.stop_batch = k
            return NO_WORKSPACE
        total = 0
        for r in range(m):
            src = a.order[lo + r]
            memcpy(ws.x + r * row_bytes, a.X + src * row_bytes, row_bytes)
            memcpy(ws.target + r * a.target_bytes, a.target + src * a.target_bytes,
                   a.target_bytes)
            if a.weight != NULL:
                ws.weight[r] = a.weight[src]
                total += a.weight[src]
        if a.weight == NULL:
            total = m
        if a.update.decay_per_weight > 0 and total > 0:
            a.update.weight_decay = a.update.decay_per_weight / total
        c.n, c.scratch, c.step = m, ws.scratch, a.update.t + 1
        hits = 0
        a.update.t += 1         # this step's number, which the updates read
        if total > 0:
            batch_loss = _step(ops, n_ops, loss, ws, total, c, &hits,
                               a.update if a.segs != NULL else NULL, a.segs)
        else:                   # every row weighs 0: a zero gradient
            batch_loss = 0
            memset(a.update.g, 0, a.update.size * item)
        if c.error[0] or not isfinite(batch_loss):    # stopped before any update
            a.update.t -= 1
            a.stop_batch, a.stop_loss = k, batch_loss
            return OP_FAILED if c.error[0] else DIVERGED
        if a.segs == NULL or total <= 0:
            _optim.optim_update(a.update, is_double, a.n_threads)
        a.loss_sum += batch_loss * total
        a.loss_rows += batch_loss * m
        a.hits += hits
        a.steps += 1
    return DONE


cdef double _step(const Op* ops, int n_ops, const LossKind* loss, WS* ws, double total,
                  const Ctx* c, double* hits, const _optim.Update* update=NULL,
                  const int64_t* segs=NULL) noexcept nogil:
    """Forward, fused loss, backward over ws; returns the mean loss (NaN/inf: no backward).

    With ``update``, each op's parameters (its piece ``segs[2i]:segs[2i + 1]`` of the
    flat array) take the optimizer step right after the op's backward: the ops before
    it never read them."""
    cdef int i
    cdef const char* x = ws.x
    cdef double value
    for i in range(n_ops):
        ops[i].kind.forward(&ops[i], x, ws.act[i], c)
        x = ws.act[i]
    if c.error[0]:
        return 0
    value = loss.loss(x, ws.target, ws.weight, total, ws.grad[n_ops - 1], ops[n_ops - 1].n_out,
                      hits, c)
    if not isfinite(value):
        return value
    for i in range(n_ops - 1, -1, -1):
        ops[i].kind.backward(&ops[i], ws.act[i - 1] if i else ws.x, ws.act[i], ws.grad[i],
                             ws.grad[i - 1] if i else NULL, c)
        if update != NULL and segs[2 * i + 1] > segs[2 * i]:
            _optim.optim_update_range(update, segs[2 * i], segs[2 * i + 1], c.is_double,
                                      c.n_threads)
    return value


cdef void _infer(const Op* ops, int n_ops, const LossKind* loss, const char* X, char* out,
                 Py_ssize_t n, int n_in, int n_out, Py_ssize_t chunk, Py_ssize_t row_buf,
                 char* bufs, Py_ssize_t item, Ctx* c) noexcept nogil:
    """out = the test-time network on X, chunk rows at a time; ops without infer are skipped."""
    cdef Py_ssize_t lo, m
    cdef int i, last = -1, flip = 0
    cdef const char* x
    cdef char* y
    for i in range(n_ops):
        if ops[i].kind.infer != NULL:
            last = i
    lo = 0
    while lo < n:
        m = min(chunk, n - lo)
        c.n = m
        x = X + lo * n_in * item
        if last < 0:            # nothing but identities
            memcpy(out + lo * n_out * item, x, m * n_out * item)
        for i in range(last + 1):
            if ops[i].kind.infer == NULL:
                continue
            y = out + lo * n_out * item if i == last else bufs + flip * chunk * row_buf
            ops[i].kind.infer(&ops[i], x, y, c)
            if c.error[0]:
                return
            x = y
            flip = 1 - flip
        if loss != NULL and loss.output != NULL:
            loss.output(out + lo * n_out * item, m, n_out, c.is_double, c.n_threads)
        lo += m
