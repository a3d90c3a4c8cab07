# Sigmoid cross-entropy, for binary and multi-label classification: each
# output k is the logit of its own label, p = sigmoid(z).
#
#     l(z, y)  = max(z, 0) - z y + log(1 + exp(-|z|))   (stable for any z; never log(p))
#     loss_i   = sum_k l(z[i, k], y[i, k]) / C          (the mean over labels)
#     loss     = sum_i w_i loss_i / sum(w)              (PyTorch's BCEWithLogitsLoss without weights)
#     dz[i, k] = w_i (sigmoid(z[i, k]) - y[i, k]) / (C sum(w))
#
# A row counts as predicted right when every label is (z > 0 where y is 1,
# z <= 0 where y is 0): scikit-learn's accuracy on multi-label data.
# Per-row sums in double; rows summed in row order.
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport fabs, log1p

from fastnn._kernels._math cimport exp_neg, sigmoid
from fastnn._kernels._op cimport Ctx, LossKind, Op, row_scale, weighted_mean
from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks


cdef inline double sigmoid_xent(const floating* z,     # IN  (n, C) logits
                                const floating* y,     # IN  (n, C) targets in [0, 1]
                                const double* weight,  # IN  (n,) or NULL
                                double total_weight,
                                floating* dz,          # OUT (n, C) or NULL
                                Py_ssize_t n, Py_ssize_t C,
                                double* scratch,       # 2 * n doubles
                                double* hits,          # OUT weighted count of rows right
                                int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef double* loss = scratch
    cdef double* hit = scratch + n
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        loss[i] = _row(z + i * C, y + i * C, NULL if dz == NULL else dz + i * C, C,
                       row_scale(weight, i, total_weight), hit + i)
    return weighted_mean(loss, hit, weight, n, total_weight, hits)


cdef inline double _row(const floating* z, const floating* y, floating* dz, Py_ssize_t C,
                        double scale_i, double* hit) noexcept nogil:
    cdef Py_ssize_t k, wrong = 0
    cdef double s = 0, zk
    cdef floating g = <floating> (scale_i / C)
    for k in range(C):
        zk = z[k]
        s += (zk if zk > 0 else 0.0) - zk * y[k] + log1p(exp_neg(<floating> -fabs(zk)))
        wrong += (zk > 0) != (y[k] > 0.5)
    if dz != NULL:
        for k in range(C):
            dz[k] = g * (sigmoid(z[k]) - y[k])
    hit[0] = wrong == 0
    return s / C


cdef inline void sigmoid_inplace(floating* z, Py_ssize_t size, int n_threads) noexcept nogil:
    cdef Py_ssize_t b, i, lo
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        lo = b * BLOCK
        for i in range(lo, min(size, lo + BLOCK)):
            z[i] = sigmoid(z[i])


# ---------------------------------------------------------------- the loss
# Targets: (n, C) of the network's dtype, 0 or 1. Output: sigmoid(z).

cdef inline double _loss(const char* z, const char* target, const double* weight,
                         double total_weight, char* dz, Py_ssize_t C, double* hits,
                         const Ctx* c) noexcept nogil:
    if c.is_double:
        return sigmoid_xent(<const double*> z, <const double*> target, weight, total_weight,
                            <double*> dz, c.n, C, c.scratch, hits, c.n_threads)
    return sigmoid_xent(<const float*> z, <const float*> target, weight, total_weight,
                        <float*> dz, c.n, C, c.scratch, hits, c.n_threads)


cdef inline void _output(char* z, Py_ssize_t n, Py_ssize_t C, bint is_double,
                         int n_threads) noexcept nogil:
    if is_double:
        sigmoid_inplace(<double*> z, n * C, n_threads)
    else:
        sigmoid_inplace(<float*> z, n * C, n_threads)


cdef inline Py_ssize_t _scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return 2 * n


cdef inline LossKind sigmoid_xent_kind() noexcept nogil:
    cdef LossKind k
    k.loss, k.scratch, k.int_target, k.output = _loss, _scratch, False, _output
    return k
