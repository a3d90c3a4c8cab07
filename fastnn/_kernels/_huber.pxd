# Huber loss, for regression robust to outliers: the network's output z is
# the prediction itself (a linear last layer); delta (Ctx.loss_v[0]) is where
# the loss turns from quadratic to linear (PyTorch's HuberLoss(delta)).
#
#     e        = z[i, k] - y[i, k]
#     h(e)     = e^2 / 2                    if |e| <= delta
#                delta (|e| - delta / 2)    otherwise
#     loss_i   = sum_k h(e) / C             (the mean over outputs)
#     loss     = sum_i w_i loss_i / sum(w)  (HuberLoss's mean without weights)
#     dz[i, k] = w_i * clip(e, -delta, delta) / (C sum(w))
#
# Per-row sums in double; rows summed in row order (the same bits at any
# thread count).

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs

from fastnn._kernels._op cimport Ctx, LossKind, Op, row_scale, weighted_mean
from fastnn._kernels._parallel cimport PARALLEL_MIN


cdef inline double huber(const floating* z,          # IN  (n, C) predictions
                         const floating* y,          # IN  (n, C) targets
                         const double* weight,       # IN  (n,) or NULL
                         double total_weight,
                         floating* dz,               # OUT (n, C) or NULL
                         Py_ssize_t n, Py_ssize_t C,
                         double delta,               # > 0
                         double* scratch,            # n doubles
                         int n_threads) noexcept nogil:
    """Return sum_i w_i loss_i / total_weight; write dz if given."""
    cdef Py_ssize_t i
    cdef double dummy
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        scratch[i] = _huber_row(z + i * C, y + i * C, NULL if dz == NULL else dz + i * C, C,
                                delta, row_scale(weight, i, total_weight))
    return weighted_mean(scratch, NULL, weight, n, total_weight, &dummy)


cdef inline double _huber_row(const floating* z, const floating* y, floating* dz, Py_ssize_t C,
                              double delta, double scale_i) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0, e, a, g = scale_i / C
    for k in range(C):
        e = <double> z[k] - y[k]
        a = fabs(e)
        if a <= delta:
            s += 0.5 * e * e
        else:
            s += delta * (a - 0.5 * delta)
        if dz != NULL:
            dz[k] = <floating> (g * (e if a <= delta else (delta if e > 0 else -delta)))
    return s / C


# ---------------------------------------------------------------- the loss
# Targets: (n, C) of the network's dtype. Output: z itself. Setting: delta.

cdef inline double _loss(const char* z, const char* target, const double* weight,
                         double total_weight, char* dz, Py_ssize_t C, double* hits,
                         const Ctx* c) noexcept nogil:
    hits[0] = 0
    if c.is_double:
        return huber(<const double*> z, <const double*> target, weight, total_weight,
                     <double*> dz, c.n, C, c.loss_v[0], c.scratch, c.n_threads)
    return huber(<const float*> z, <const float*> target, weight, total_weight,
                 <float*> dz, c.n, C, c.loss_v[0], c.scratch, c.n_threads)


cdef inline Py_ssize_t _scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return n


cdef inline LossKind huber_kind() noexcept nogil:
    cdef LossKind k
    k.loss, k.scratch, k.int_target, k.output = _loss, _scratch, False, NULL
    return k
