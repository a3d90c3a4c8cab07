# Dense layer: y = x @ W + b, and its backward pass, through GEMM.
#
# W has shape (n_in, n_out), so the forward pass needs no transpose. Each
# GEMM splits its output's rows or columns across threads (see _blas.pxd).
# db is a column sum of dy, done by chunks (see _parallel.pxd) so its bits
# do not depend on the thread count.
#
# Cores for the kernels: raw pointers, no GIL; they trust their inputs
# (fastnn.ops and the model check them).

from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels._blas cimport gemm_parallel
from fastnn._kernels._op cimport Ctx, Op, OpKind
from fastnn._kernels._parallel cimport PARALLEL_MIN, n_chunks, chunk_start

# ---------------------------------------------------------------- the op
# Slots: W (n_in, n_out), b (n_out,) or NULL, dW, db (NULL without b).
cdef enum:
    DENSE_W = 0
    DENSE_B = 1
    DENSE_DW = 2
    DENSE_DB = 3


cdef inline void _op_forward(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    if c.is_double:
        dense_forward(<const double*> x, <const double*> op.a[DENSE_W],
                      <const double*> op.a[DENSE_B], <double*> y, c.n, op.n_in, op.n_out,
                      c.n_threads)
    else:
        dense_forward(<const float*> x, <const float*> op.a[DENSE_W],
                      <const float*> op.a[DENSE_B], <float*> y, c.n, op.n_in, op.n_out,
                      c.n_threads)


cdef inline void _op_backward(const Op* op, const char* x, const char* y, char* dy, char* dx,
                              const Ctx* c) noexcept nogil:
    if c.is_double:
        dense_backward(<const double*> dy, <const double*> x, <const double*> op.a[DENSE_W],
                       <double*> dx, <double*> op.a[DENSE_DW], <double*> op.a[DENSE_DB],
                       c.n, op.n_in, op.n_out, c.scratch, c.n_threads)
    else:
        dense_backward(<const float*> dy, <const float*> x, <const float*> op.a[DENSE_W],
                       <float*> dx, <float*> op.a[DENSE_DW], <float*> op.a[DENSE_DB],
                       c.n, op.n_in, op.n_out, c.scratch, c.n_threads)


cdef inline Py_ssize_t _op_scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return dense_scratch(n, op.n_out)


cdef inline Py_ssize_t _op_array_size(const Op* op, int k) noexcept nogil:
    if k == DENSE_W or k == DENSE_DW:
        return <Py_ssize_t> op.n_in * op.n_out
    if k == DENSE_B or k == DENSE_DB:
        return -op.n_out            # optional: NULL for a layer without bias
    return 0


cdef inline OpKind dense_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _op_forward, _op_backward, _op_forward
    k.scratch, k.array_size = _op_scratch, _op_array_size
    return k


# ---------------------------------------------------------------- kernels


cdef inline Py_ssize_t dense_scratch(Py_ssize_t n, Py_ssize_t n_out) noexcept nogil:
    """Doubles of scratch dense_backward needs (db's chunk partials)."""
    return n_chunks(n, n_out) * n_out


cdef inline void dense_forward(const floating* x,      # IN  (n, n_in)
                               const floating* W,      # IN  (n_in, n_out)
                               const floating* b,      # IN  (n_out,) or NULL
                               floating* y,            # OUT (n, n_out)
                               int n, int n_in, int n_out, int n_threads) noexcept nogil:
    gemm_parallel(False, False, n, n_out, n_in, x, n_in, W, n_out, b, y, n_out, n_threads)


cdef inline void dense_backward(const floating* dy,    # IN  (n, n_out)
                                const floating* x,     # IN  (n, n_in)
                                const floating* W,     # IN  (n_in, n_out)
                                floating* dx,          # OUT (n, n_in) or NULL
                                floating* dW,          # OUT (n_in, n_out)
                                floating* db,          # OUT (n_out,) or NULL
                                int n, int n_in, int n_out,
                                double* scratch,       # dense_scratch(n, n_out) doubles
                                int n_threads) noexcept nogil:
    # dx = dy @ W^T                       (n, n_out) @ (n_out, n_in)
    if dx != NULL:
        gemm_parallel(False, True, n, n_in, n_out, dy, n_out, W, n_out,
                      <floating*> NULL, dx, n_in, n_threads)
    # dW = x^T @ dy                       (n_in, n) @ (n, n_out)
    gemm_parallel(True, False, n_in, n_out, n, x, n_in, dy, n_out,
                  <floating*> NULL, dW, n_out, n_threads)
    if db != NULL:
        column_sums(dy, n, n_out, db, scratch, n_threads)


cdef inline void column_sums(const floating* a,   # IN  (n, d)
                             Py_ssize_t n, Py_ssize_t d,
                             floating* out,       # OUT (d,)
                             double* part,        # scratch: n_chunks(n) * d doubles
                             int n_threads) noexcept nogil:
    """out[j] = sum_i a[i, j], summed in double, chunk partials merged in order."""
    cdef Py_ssize_t nc = n_chunks(n, d), c, j
    cdef double s
    for c in prange(nc, num_threads=n_threads, schedule='static',
                    use_threads_if=n * d >= PARALLEL_MIN):
        _sum_rows(a, chunk_start(c, nc, n), chunk_start(c + 1, nc, n), d, part + c * d)
    for j in range(d):
        s = 0
        for c in range(nc):
            s = s + part[c * d + j]
        out[j] = <floating> s


cdef inline void _sum_rows(const floating* a, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                           double* acc) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(d):
        acc[j] = 0
    for i in range(r0, r1):
        for j in range(d):
            acc[j] += a[i * d + j]
