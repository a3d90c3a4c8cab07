# GEMM on row-major arrays through scipy's BLAS (Fortran, column-major).
#
# A row-major (m, n) array is the column-major (n, m) array of its
# transpose, so C = op(A) @ op(B) in row-major is C^T = op(B)^T @ op(A)^T in
# column-major: swap the operands and the sizes m and n, keep each
# operand's transpose flag.
#
# gemm_parallel splits C across OpenMP threads, each calling a
# single-threaded GEMM on its block: one thread pool, BLAS held at one
# thread by the caller (fastnn._threads). It splits C's rows or its
# columns, whichever are more: a (32, 512) output split by rows would give
# each thread a 16-row GEMM, which BLAS runs at half speed.

from cython cimport floating
from cython.parallel cimport prange
from scipy.linalg.cython_blas cimport sgemm, dgemm, sgemv, dgemv

cdef enum:
    GEMM_PARALLEL_MIN = 262144   # multiply-adds; below this one thread
    GEMM_ALIGN = 16              # rows or columns per thread block: a multiple of this


cdef inline void _gemv_row(bint trans_a, bint trans_b, int n, int k, floating alpha,
                           const floating* a, int lda, const floating* b, int ldb,
                           floating beta, floating* c) noexcept nogil:
    """c (1, n) = alpha * op(A) (1, k) @ op(B) (k, n) + beta * c, as a GEMV.

    In column-major terms c^T = op(B)^T a^T. A row-major B (k, n) is the
    column-major matrix B^T: op(B)^T = B^T needs no transpose ('N'); a
    row-major B (n, k) read as op(B) = B^T needs one ('T').
    """
    cdef char t = b'T' if trans_b else b'N'
    cdef int rows = k if trans_b else n, cols = n if trans_b else k
    cdef int inc_a = lda if trans_a else 1, one = 1
    if floating is float:
        sgemv(&t, &rows, &cols, &alpha, <float*> b, &ldb, <float*> a, &inc_a, &beta, c, &one)
    else:
        dgemv(&t, &rows, &cols, &alpha, <double*> b, &ldb, <double*> a, &inc_a, &beta, c, &one)


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha,
                      const floating* a, int lda,    # (m, k), or (k, m) if trans_a
                      const floating* b, int ldb,    # (k, n), or (n, k) if trans_b
                      floating beta,
                      floating* c, int ldc,          # (m, n)
                      ) noexcept nogil:
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if m <= 0 or n <= 0:
        return
    if m == 1:      # one row (a single sample): a GEMV, which BLAS runs faster
        _gemv_row(trans_a, trans_b, n, k, alpha, a, lda, b, ldb, beta, c)
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)


cdef inline void _gemm_block(bint trans_a, bint trans_b, int r0, int r1, int c0, int c1,
                             int k,
                             const floating* a, int lda,
                             const floating* b, int ldb,
                             const floating* bias,
                             floating* c, int ldc) noexcept nogil:
    """C[r0:r1, c0:c1] = op(A)[r0:r1] @ op(B)[:, c0:c1] (+ bias[c0:c1])."""
    cdef int i, j
    cdef floating beta = 0
    if bias != NULL:
        for i in range(r0, r1):
            for j in range(c0, c1):
                c[<Py_ssize_t> i * ldc + j] = bias[j]
        beta = 1
    gemm(trans_a, trans_b, r1 - r0, c1 - c0, k, 1,
         a + (r0 if trans_a else <Py_ssize_t> r0 * lda), lda,
         b + (<Py_ssize_t> c0 * ldb if trans_b else c0), ldb,
         beta, c + <Py_ssize_t> r0 * ldc + c0, ldc)


cdef inline void gemm_parallel(bint trans_a, bint trans_b, int m, int n, int k,
                               const floating* a, int lda,
                               const floating* b, int ldb,
                               const floating* bias,      # (n,) or NULL
                               floating* c, int ldc,      # (m, n) OUT
                               int n_threads) noexcept nogil:
    """C = op(A) @ op(B) (+ bias on every row), C's rows or columns split across threads."""
    cdef int t, lo, hi, size, n_parts = n_threads
    cdef bint by_rows = m >= n
    cdef int span = m if by_rows else n
    if <double> m * n * k < GEMM_PARALLEL_MIN or span < 2 * GEMM_ALIGN:
        n_parts = 1
    size = (span + n_parts - 1) // n_parts
    size = (size + GEMM_ALIGN - 1) // GEMM_ALIGN * GEMM_ALIGN
    for t in prange(n_parts, num_threads=n_parts, schedule='static',
                    use_threads_if=n_parts > 1):
        lo = t * size
        hi = min(span, lo + size)
        if hi > lo:
            if by_rows:
                _gemm_block(trans_a, trans_b, lo, hi, 0, n, k, a, lda, b, ldb, bias, c, ldc)
            else:
                _gemm_block(trans_a, trans_b, 0, m, lo, hi, k, a, lda, b, ldb, bias, c, ldc)
