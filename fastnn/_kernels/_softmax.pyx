# Softmax over the last axis of (n, C) logits, and its fusion with the
# cross-entropy loss.
#
# Per row, stably: m = max_j z[j], s = sum_j exp(z[j] - m) (summed in
# double), lse = log(s) + m. Then
#     softmax(z)[j]     = exp(z[j] - m) / s
#     log_softmax(z)[j] = z[j] - lse
#     loss_i            = lse - z[y_i]          (never log(softmax))
#     dz[i, j]          = (softmax(z)[j] - [j == y_i]) / n
# The loss is the mean over rows; per-row losses are summed in row order,
# so the result does not depend on the thread count. The fused kernel also
# counts the rows whose first argmax is the label (training accuracy for
# free).

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport log
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

from fastnn._kernels._math cimport fexp
from fastnn._kernels._parallel cimport PARALLEL_MIN


cdef inline floating _row_max(const floating* z, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t j
    cdef floating m = z[0]
    for j in range(1, C):
        if z[j] > m:
            m = z[j]
    return m


cdef inline Py_ssize_t _first_index_of(const floating* z, floating m, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(C):
        if z[j] == m:
            return j
    return -1         # a row of NaN has no maximum


cdef inline double _row_exp(const floating* z, floating m, Py_ssize_t C,
                            floating* e) noexcept nogil:
    """e[j] = exp(z[j] - m); returns the sum, in double."""
    cdef Py_ssize_t j
    cdef double s = 0
    for j in range(C):
        e[j] = fexp(z[j] - m)
        s += e[j]
    return s


cdef inline double _row_exp_sum(const floating* z, floating m, Py_ssize_t C) noexcept nogil:
    cdef Py_ssize_t j
    cdef double s = 0
    for j in range(C):
        s += fexp(z[j] - m)
    return s


def softmax_forward(const floating[:, ::1] z,   # IN  (n, C)
                    floating[:, ::1] out,       # OUT (n, C)
                    bint log_space,
                    int n_threads):
    cdef Py_ssize_t n = z.shape[0], C = z.shape[1], i, j
    cdef floating m
    cdef double s, lse
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static',
                        use_threads_if=n * C >= PARALLEL_MIN):
            m = _row_max(&z[i, 0], C)
            if log_space:        # out may be z itself: read z before writing
                s = _row_exp_sum(&z[i, 0], m, C)
                lse = log(s) + m
                for j in range(C):
                    out[i, j] = <floating> (z[i, j] - lse)
            else:
                s = 1.0 / _row_exp(&z[i, 0], m, C, &out[i, 0])
                for j in range(C):
                    out[i, j] = <floating> (out[i, j] * s)


def softmax_cross_entropy(const floating[:, ::1] z,        # IN  (n, C) logits
                          const int64_t[::1] labels,       # IN  (n,) in [0, C)
                          floating[:, ::1] dz,             # OUT (n, C) or None
                          int n_threads):
    """Return (mean loss, number of rows whose first argmax is the label).

    Writes dz = (softmax(z) - onehot) / n if dz is given.
    """
    cdef Py_ssize_t n = z.shape[0], C = z.shape[1], i, j
    cdef Py_ssize_t n_correct = 0
    cdef bint want_grad = dz is not None
    cdef floating m
    cdef double s, scale, inv_n = 1.0 / n, total = 0
    cdef double* loss = <double*> malloc(2 * n * sizeof(double))
    cdef double* hit = loss + n
    cdef floating* row
    if loss == NULL:
        raise MemoryError()
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static',
                        use_threads_if=n * C >= PARALLEL_MIN):
            m = _row_max(&z[i, 0], C)
            if want_grad:
                row = &dz[i, 0]
                s = _row_exp(&z[i, 0], m, C, row)
                scale = inv_n / s
                for j in range(C):
                    row[j] = <floating> (row[j] * scale)
                row[labels[i]] = <floating> (row[labels[i]] - inv_n)
            else:
                s = _row_exp_sum(&z[i, 0], m, C)
            loss[i] = log(s) + m - z[i, labels[i]]
            hit[i] = _first_index_of(&z[i, 0], m, C) == labels[i]
        for i in range(n):
            total += loss[i]
            n_correct += <Py_ssize_t> hit[i]
    free(loss)
    return total * inv_n, n_correct
