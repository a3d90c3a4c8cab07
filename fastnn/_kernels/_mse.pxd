# Mean squared error, for regression: the network's output z is the
# prediction itself (a linear last layer).
#
#     loss_i   = sum_k (z[i, k] - y[i, k])^2 / C      (the mean over outputs)
#     loss     = sum_i w_i loss_i / sum(w)            (PyTorch's MSELoss without weights)
#     dz[i, k] = w_i * 2 (z[i, k] - y[i, k]) / (C sum(w))
#
# Per-row sums in double; rows summed in row order (the same bits at any
# thread count).
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels._op cimport Ctx, LossKind, Op, row_scale, weighted_mean
from fastnn._kernels._parallel cimport PARALLEL_MIN


cdef inline double mse(const floating* z,          # IN  (n, C) predictions
                       const floating* y,          # IN  (n, C) targets
                       const double* weight,       # IN  (n,) or NULL
                       double total_weight,
                       floating* dz,               # OUT (n, C) or NULL
                       Py_ssize_t n, Py_ssize_t C,
                       double* scratch,            # n doubles
                       int n_threads) noexcept nogil:
    """Return sum_i w_i loss_i / total_weight; write dz if given."""
    cdef Py_ssize_t i
    cdef double dummy
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        scratch[i] = _mse_row(z + i * C, y + i * C, NULL if dz == NULL else dz + i * C, C,
                              row_scale(weight, i, total_weight))
    return weighted_mean(scratch, NULL, weight, n, total_weight, &dummy)


cdef inline double _mse_row(const floating* z, const floating* y, floating* dz, Py_ssize_t C,
                            double scale_i) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0, e
    cdef floating g = <floating> (2.0 * scale_i / C)
    for k in range(C):
        e = <double> z[k] - y[k]
        s += e * e
    if dz != NULL:
        for k in range(C):
            dz[k] = g * (z[k] - y[k])
    return s / C


# ---------------------------------------------------------------- the loss
# Targets: (n, C) of the network's dtype. Output: z itself.

cdef inline double _loss(const char* z, const char* target, const double* weight,
                         double total_weight, char* dz, Py_ssize_t C, double* hits,
                         const Ctx* c) noexcept nogil:
    hits[0] = 0
    if c.is_double:
        return mse(<const double*> z, <const double*> target, weight, total_weight,
                   <double*> dz, c.n, C, c.scratch, c.n_threads)
    return mse(<const float*> z, <const float*> target, weight, total_weight,
               <float*> dz, c.n, C, c.scratch, c.n_threads)


cdef inline Py_ssize_t _scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return n


cdef inline LossKind mse_kind() noexcept nogil:
    cdef LossKind k
    k.loss, k.scratch, k.int_target, k.output = _loss, _scratch, False, NULL
    return k
