# Softmax over the last axis of (n, C) logits, and its fusion with the
# cross-entropy loss.
#
# Per row, stably: m = max_j z[j], s = sum_j exp(z[j] - m) (summed in
# double), lse = log(s) + m. Then
#     softmax(z)[j]     = exp(z[j] - m) / s
#     log_softmax(z)[j] = z[j] - lse
#     loss_i            = lse - z[y_i]          (never log(softmax))
#     dz[i, j]          = w_i (softmax(z)[j] - [j == y_i]) / sum(w)
# The loss is the weighted mean over rows, sum_i w_i loss_i / sum(w) (the
# plain mean without weights); per-row losses are summed in row order, so
# the result does not depend on the thread count. The fused kernel also
# counts the rows whose first argmax is the label (training accuracy for
# free).
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log
from libc.stdint cimport int64_t

from fastnn._kernels._math cimport exp_neg, fmax_
from fastnn._kernels._op cimport Ctx, LossKind, Op, row_scale, weighted_mean
from fastnn._kernels._parallel cimport PARALLEL_MIN


# The row reductions (max, sum) keep LANES independent partial results and
# combine them at the end: gcc may not reorder floating-point operations, so
# a single accumulator is a serial chain that also keeps the exp in its loop
# from being vectorized. The order is fixed, so the bits still do not
# depend on the thread count.
cdef enum:
    LANES = 8
    EXP_BLOCK = 256           # exps computed per block when only their sum is wanted


cdef inline floating _row_max(const floating* z, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t b, j, k, full = C - C % LANES
    cdef floating lane[LANES]
    cdef floating m = z[0]
    if full:
        for k in range(LANES):
            lane[k] = z[k]
        for b in range(1, full // LANES):
            for k in range(LANES):
                lane[k] = fmax_(lane[k], z[b * LANES + k])
        m = lane[0]
        for k in range(1, LANES):
            m = fmax_(m, lane[k])
    for j in range(full, C):
        m = fmax_(m, z[j])
    return m


cdef inline double _sum(const floating* e, Py_ssize_t C) noexcept nogil:
    """sum_j e[j] in double, LANES partial sums."""
    cdef Py_ssize_t b, j, k, full = C - C % LANES
    cdef double lane[LANES]
    cdef double s = 0
    for k in range(LANES):
        lane[k] = 0
    for b in range(full // LANES):
        for k in range(LANES):
            lane[k] += e[b * LANES + k]
    for k in range(LANES):
        s += lane[k]
    for j in range(full, C):
        s += e[j]
    return s


cdef inline bint _first_argmax_is(const floating* z, floating m, int64_t label) noexcept nogil:
    """Whether label is the first index where the row reaches its maximum m."""
    cdef Py_ssize_t j, ties = 0
    if not z[label] == m:
        return False
    for j in range(label):          # counts, without a branch: vectorizes
        ties += z[j] == m
    return ties == 0


cdef inline double _row_exp(const floating* z, floating m, Py_ssize_t C,
                            floating* e) noexcept nogil:
    """e[j] = exp(z[j] - m); returns the sum, in double."""
    cdef Py_ssize_t j
    for j in range(C):
        e[j] = exp_neg(z[j] - m)
    return _sum(e, C)


cdef inline double _row_exp_sum(const floating* z, floating m, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t b
    cdef floating e[EXP_BLOCK]
    cdef double s = 0
    for b in range((C + EXP_BLOCK - 1) // EXP_BLOCK):
        s += _row_exp(z + b * EXP_BLOCK, m, min(EXP_BLOCK, C - b * EXP_BLOCK), e)
    return s


cdef inline void softmax_rows(const floating* z,   # IN  (n, C)
                              floating* out,       # OUT (n, C); may be z
                              bint log_space,
                              Py_ssize_t n, Py_ssize_t C, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        _softmax_row(z + i * C, out + i * C, log_space, C)


cdef inline void _softmax_row(const floating* z, floating* out, bint log_space,
                              Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m = _row_max(z, C)
    cdef floating scale
    cdef double lse
    if log_space:        # out may be z itself: read z before writing
        lse = log(_row_exp_sum(z, m, C)) + m
        for j in range(C):
            out[j] = <floating> (z[j] - lse)
    else:
        scale = <floating> (1.0 / _row_exp(z, m, C, out))
        for j in range(C):
            out[j] *= scale


cdef inline double softmax_xent(const floating* z,         # IN  (n, C) logits
                                const int64_t* labels,     # IN  (n,) in [0, C)
                                const double* weight,      # IN  (n,) sample weights, or NULL
                                double total_weight,       # sum of weight (n without), > 0
                                floating* dz,              # OUT (n, C) or NULL
                                Py_ssize_t n, Py_ssize_t C,
                                double* scratch,           # 2 * n doubles
                                double* hits,              # OUT weighted count of rows whose first argmax is the label
                                int n_threads) noexcept nogil:
    """Return sum_i w_i loss_i / total_weight; write dz = w_i (softmax(z) - onehot) / total_weight."""
    cdef Py_ssize_t i
    cdef double* loss = scratch
    cdef double* hit = scratch + n
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * C >= PARALLEL_MIN):
        loss[i] = _xent_row(z + i * C, labels[i], NULL if dz == NULL else dz + i * C, C,
                            row_scale(weight, i, total_weight), hit + i)
    return weighted_mean(loss, hit, weight, n, total_weight, hits)


cdef inline double _xent_row(const floating* z, int64_t label, floating* dz, Py_ssize_t C,
                             double scale_i, double* hit) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m = _row_max(z, C)
    cdef floating scale
    cdef double s
    if dz != NULL:
        s = _row_exp(z, m, C, dz)
        scale = <floating> (scale_i / s)
        for j in range(C):
            dz[j] *= scale
        dz[label] = <floating> (dz[label] - scale_i)
    else:
        s = _row_exp_sum(z, m, C)
    hit[0] = _first_argmax_is(z, m, label)
    return log(s) + m - z[label]


# ---------------------------------------------------------------- the loss
# Targets: int64 class indices. Output: softmax probabilities.

cdef inline double _loss(const char* z, const char* target, const double* weight,
                         double total_weight, char* dz, Py_ssize_t C, double* hits,
                         const Ctx* c) noexcept nogil:
    if c.is_double:
        return softmax_xent(<const double*> z, <const int64_t*> target, weight, total_weight,
                            <double*> dz, c.n, C, c.scratch, hits, c.n_threads)
    return softmax_xent(<const float*> z, <const int64_t*> target, weight, total_weight,
                        <float*> dz, c.n, C, c.scratch, hits, c.n_threads)


cdef inline void _output(char* z, Py_ssize_t n, Py_ssize_t C, bint is_double,
                         int n_threads) noexcept nogil:
    if is_double:
        softmax_rows(<double*> z, <double*> z, False, n, C, n_threads)
    else:
        softmax_rows(<float*> z, <float*> z, False, n, C, n_threads)


cdef inline Py_ssize_t _scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return 2 * n


cdef inline LossKind softmax_xent_kind() noexcept nogil:
    cdef LossKind k
    k.loss, k.scratch, k.int_target, k.output = _loss, _scratch, True, _output
    return k
