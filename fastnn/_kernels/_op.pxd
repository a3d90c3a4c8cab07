# The op interface of a compiled network (_network.pyx).
#
# A network is a list of ops (dense, batch norm, activation, dropout) and a
# loss. Each op kind lives in its own .pxd (_dense.pxd, _batchnorm.pxd,
# _activations.pxd, _dropout.pxd) beside its kernels, and gives one OpKind:
# a struct of functions over raw buffers. The training step, inference and
# workspace sizing loop over the ops through these functions and never ask
# which kind an op is. Each loss (its row in fastnn/kinds.py names its .pxd)
# gives one LossKind the same way; its settings (Huber's delta) reach it in
# Ctx.loss_v.
#
# An op's arrays (weights, their gradients, what the forward pass keeps for
# the backward pass, running averages) are pointers into arrays the Python
# model owns, in slots its kind numbers; its settings are a few doubles and
# ints. Every function takes char* buffers and the Ctx, whose is_double says
# whether they hold float32 or float64: each kind casts to its fused-type
# kernels once, in its adapter functions.
#
# A kind may also take one Python object (the spec's "object", in a[0]):
# the Python op of _network.pyx keeps the layer it calls there.
#
# Adding a kind: docs/ARCHITECTURE.md, "How to add a kind".

from libc.stdint cimport int64_t, uint64_t

cdef enum:
    OP_ARRAYS = 8        # array slots of an op
    OP_VALUES = 4        # float settings of an op
    OP_FLAGS = 4         # int settings of an op
    LOSS_VALUES = 4      # settings of a loss


cdef struct Ctx:
    # What every op and loss call gets besides its buffers.
    Py_ssize_t n         # rows in the batch
    bint is_double       # float64 buffers (else float32)
    double* scratch      # kernels' scratch: the most any op or loss asks for
    int n_threads
    uint64_t seed        # the model's dropout seed
    int64_t step         # training step number, counting from 1 (dropout's counter)
    int* error           # an op that fails sets *error to 1 (a layer written in Python)
    double loss_v[LOSS_VALUES]   # the loss's settings, in its row's order (fastnn/kinds.py)


cdef struct Op


ctypedef void (*forward_fn)(const Op* op,
                            const char* x,        # IN  (n, n_in)
                            char* y,              # OUT (n, n_out)
                            const Ctx* c) noexcept nogil

ctypedef void (*backward_fn)(const Op* op,
                             const char* x,       # IN  (n, n_in) the forward input
                             const char* y,       # IN  (n, n_out) the forward output
                             char* dy,            # IN  (n, n_out) loss gradient w.r.t. y; the op may overwrite it
                             char* dx,            # OUT (n, n_in), or NULL for the first op
                             const Ctx* c) noexcept nogil

ctypedef Py_ssize_t (*scratch_fn)(const Op* op, Py_ssize_t n) noexcept nogil

ctypedef Py_ssize_t (*array_size_fn)(const Op* op, int slot) noexcept nogil


cdef struct OpKind:
    forward_fn forward          # training forward: batch statistics, dropout masks
    backward_fn backward        # gradients into the op's gradient slots, and dx
    forward_fn infer            # test-time forward; NULL: the op is the identity then
    scratch_fn scratch          # doubles of Ctx.scratch a call on n rows needs
    array_size_fn array_size    # elements slot k holds: s > 0 required, -s optional (or NULL), 0 unused


cdef struct Op:
    const OpKind* kind
    int n_in, n_out
    char* a[OP_ARRAYS]          # the kind's arrays, in its slot order
    double v[OP_VALUES]         # the kind's float settings
    int f[OP_FLAGS]             # the kind's int settings


ctypedef double (*loss_fn)(const char* z,         # IN  (n, C) the network's output
                           const char* target,    # IN  (n,) int64 labels, or (n, C) of z's dtype
                           const double* weight,  # IN  (n,) sample weights, or NULL (all 1)
                           double total_weight,   # sum of weight (n without weights), > 0
                           char* dz,              # OUT (n, C) d(loss)/dz, or NULL
                           Py_ssize_t C,
                           double* hits,          # OUT weighted count of rows predicted right
                           const Ctx* c) noexcept nogil
# Returns sum_i w_i l_i / total_weight; dz_i = w_i * d(l_i)/dz_i / total_weight.


ctypedef void (*output_fn)(char* z, Py_ssize_t n, Py_ssize_t C, bint is_double,
                           int n_threads) noexcept nogil


cdef struct LossKind:
    loss_fn loss
    output_fn output            # the model's probabilities from z, in place; NULL: z itself
    scratch_fn scratch          # doubles of Ctx.scratch for n rows (op is NULL)
    bint int_target             # targets are int64 labels (else floats, one per output)



cdef inline double row_scale(const double* weight, Py_ssize_t i,
                             double total_weight) noexcept nogil:
    """Row i's share of a batch loss: w_i / total_weight (1 / n without weights)."""
    return (1.0 if weight == NULL else weight[i]) / total_weight


cdef inline double weighted_mean(const double* loss,    # IN (n,) per-row losses
                                 const double* hit,     # IN (n,) per-row 0/1, or NULL
                                 const double* weight, Py_ssize_t n, double total_weight,
                                 double* hits) noexcept nogil:
    """sum_i w_i loss_i / total_weight, summed in row order (the same bits at any thread
    count); hits = sum_i w_i hit_i."""
    cdef Py_ssize_t i
    cdef double total = 0, h = 0
    if weight == NULL:
        for i in range(n):
            total += loss[i]
        if hit != NULL:
            for i in range(n):
                h += hit[i]
    else:
        for i in range(n):
            total += weight[i] * loss[i]
        if hit != NULL:
            for i in range(n):
                h += weight[i] * hit[i]
    hits[0] = h
    return total / total_weight


cdef inline Py_ssize_t no_scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    """The scratch_fn of a kind that needs none."""
    return 0


cdef inline Py_ssize_t no_arrays(const Op* op, int k) noexcept nogil:
    """The array_size_fn of a kind without arrays."""
    return 0
