# Dense layer: y = x @ W + b, and its backward pass, through GEMM.
#
# W has shape (n_in, n_out), so the forward pass needs no transpose. Each
# GEMM splits its output's rows or columns across threads (see _blas.pxd).
# db is a column sum of dy, done by chunks (see _parallel.pxd) so its bits
# do not depend on the thread count.

from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport malloc, free

from fastnn._kernels._blas cimport gemm_parallel
from fastnn._kernels._parallel cimport (
    PARALLEL_MIN, n_chunks, chunk_start,
)


def dense_forward(const floating[:, ::1] x,     # IN  (n, n_in)
                  const floating[:, ::1] W,     # IN  (n_in, n_out)
                  const floating[::1] b,        # IN  (n_out,) or None
                  floating[:, ::1] y,           # OUT (n, n_out)
                  int n_threads):
    cdef int n = x.shape[0], n_in = x.shape[1], n_out = W.shape[1]
    cdef const floating* bias = NULL if b is None else &b[0]
    with nogil:
        gemm_parallel(False, False, n, n_out, n_in, &x[0, 0], n_in, &W[0, 0], n_out,
                  bias, &y[0, 0], n_out, n_threads)


def dense_backward(const floating[:, ::1] dy,   # IN  (n, n_out)
                   const floating[:, ::1] x,    # IN  (n, n_in)
                   const floating[:, ::1] W,    # IN  (n_in, n_out)
                   floating[:, ::1] dx,         # OUT (n, n_in) or None
                   floating[:, ::1] dW,         # OUT (n_in, n_out)
                   floating[::1] db,            # OUT (n_out,) or None
                   int n_threads):
    cdef int n = dy.shape[0], n_out = dy.shape[1], n_in = x.shape[1]
    with nogil:
        # dx = dy @ W^T                       (n, n_out) @ (n_out, n_in)
        if dx is not None:
            gemm_parallel(False, True, n, n_in, n_out, &dy[0, 0], n_out, &W[0, 0], n_out,
                      <floating*> NULL, &dx[0, 0], n_in, n_threads)
        # dW = x^T @ dy                       (n_in, n) @ (n, n_out)
        gemm_parallel(True, False, n_in, n_out, n, &x[0, 0], n_in, &dy[0, 0], n_out,
                  <floating*> NULL, &dW[0, 0], n_out, n_threads)
    if db is not None:
        column_sums(dy, db, n_threads)


def column_sums(const floating[:, ::1] a,   # IN  (n, d)
                floating[::1] out,          # OUT (d,)
                int n_threads):
    """out[j] = sum_i a[i, j], summed in double, chunk partials merged in order."""
    cdef Py_ssize_t n = a.shape[0], d = a.shape[1], nc = n_chunks(n)
    cdef Py_ssize_t c, i, j, r0, r1
    cdef double* part
    cdef double s
    part = <double*> malloc(nc * d * sizeof(double))
    if part == NULL:
        raise MemoryError()
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule='static',
                        use_threads_if=n * d >= PARALLEL_MIN):
            r0 = chunk_start(c, nc, n)
            r1 = chunk_start(c + 1, nc, n)
            _sum_rows(&a[0, 0], r0, r1, d, part + c * d)
        for j in range(d):
            s = 0
            for c in range(nc):
                s = s + part[c * d + j]
            out[j] = <floating> s
    free(part)


cdef inline void _sum_rows(const floating* a, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                           double* acc) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(d):
        acc[j] = 0
    for i in range(r0, r1):
        for j in range(d):
            acc[j] += a[i * d + j]
