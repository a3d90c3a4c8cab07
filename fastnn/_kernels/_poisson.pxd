# Poisson deviance with a log link, for counts and rates: the network's
# output z is the log of the predicted mean, mu = exp(z).
#
#     loss_i   = sum_k (exp(z[i, k]) - y[i, k] z[i, k]) / C   (half the Poisson deviance,
#                                                             less terms free of z)
#     loss     = sum_i w_i loss_i / sum(w)
#     dz[i, k] = w_i (exp(z[i, k]) - y[i, k]) / (C sum(w))
#
# scikit-learn's HalfPoissonLoss and PyTorch's PoissonNLLLoss(log_input=True,
# full=False) are this loss. The output map is mu = exp(z). Per-row sums in
# double; rows summed in row order (the same bits at any thread count).
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport exp

from fastnn._kernels._op cimport Ctx, LossKind, Op, row_scale, weighted_mean
from fastnn._kernels._parallel cimport PARALLEL_MIN


cdef inline double poisson(const floating* z,          # IN  (n, C) log of the predicted means
                           const floating* y,          # IN  (n, C) targets (>= 0)
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
        scratch[i] = _poisson_row(z + i * C, y + i * C, NULL if dz == NULL else dz + i * C, C,
                                  row_scale(weight, i, total_weight))
    return weighted_mean(scratch, NULL, weight, n, total_weight, &dummy)


cdef inline double _poisson_row(const floating* z, const floating* y, floating* dz,
                                Py_ssize_t C, double scale_i) noexcept nogil:
    cdef Py_ssize_t k
    cdef double s = 0, mu
    cdef double g = scale_i / C
    for k in range(C):
        mu = exp(<double> z[k])
        s += mu - <double> y[k] * z[k]
        if dz != NULL:
            dz[k] = <floating> (g * (mu - y[k]))
    return s / C


# ---------------------------------------------------------------- the loss
# Targets: (n, C) of the network's dtype, >= 0. Output: exp(z).

cdef inline double _loss(const char* z, const char* target, const double* weight,
                         double total_weight, char* dz, Py_ssize_t C, double* hits,
                         const Ctx* c) noexcept nogil:
    hits[0] = 0
    if c.is_double:
        return poisson(<const double*> z, <const double*> target, weight, total_weight,
                       <double*> dz, c.n, C, c.scratch, c.n_threads)
    return poisson(<const float*> z, <const float*> target, weight, total_weight,
                   <float*> dz, c.n, C, c.scratch, c.n_threads)


cdef inline void poisson_output(floating* z, Py_ssize_t n, Py_ssize_t C,
                                int n_threads) noexcept nogil:
    """z = exp(z) in place: the predicted means."""
    cdef Py_ssize_t i, k
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        for k in range(C):
            z[i * C + k] = <floating> exp(<double> z[i * C + k])


cdef inline void _output(char* z, Py_ssize_t n, Py_ssize_t C, bint is_double,
                         int n_threads) noexcept nogil:
    if is_double:
        poisson_output(<double*> z, n, C, n_threads)
    else:
        poisson_output(<float*> z, n, C, n_threads)


cdef inline Py_ssize_t _scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return n


cdef inline LossKind poisson_kind() noexcept nogil:
    cdef LossKind k
    k.loss, k.scratch, k.int_target, k.output = _loss, _scratch, False, _output
    return k
