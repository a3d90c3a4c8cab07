# GEMM on row-major arrays through scipy's BLAS (Fortran, column-major).
#
# A row-major (m, n) array is the column-major (n, m) array of its
# transpose, so C = op(A) @ op(B) in row-major is C^T = op(B)^T @ op(A)^T in
# column-major: swap the operands and the sizes m and n, keep each
# operand's transpose flag.
#
# gemm_rows splits the rows of C across OpenMP threads, each calling a
# single-threaded GEMM on its block: one thread pool, BLAS held at one
# thread by the caller (fastnn._threads).

from cython cimport floating
from cython.parallel cimport prange
from scipy.linalg.cython_blas cimport sgemm, dgemm

cdef enum:
    GEMM_PARALLEL_MIN = 262144   # multiply-adds; below this one thread
    GEMM_ROW_ALIGN = 8           # rows per thread block: a multiple of this


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
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)


cdef inline void gemm_rows(bint trans_a, bint trans_b, int m, int n, int k,
                           const floating* a, int lda,
                           const floating* b, int ldb,
                           const floating* bias,      # (n,) or NULL
                           floating* c, int ldc,      # (m, n) OUT
                           int n_threads) noexcept nogil:
    """C = op(A) @ op(B) (+ bias on every row), rows of C split across threads."""
    cdef int t, r0, r1, rows, n_parts = n_threads
    if <double> m * n * k < GEMM_PARALLEL_MIN or m < 2 * GEMM_ROW_ALIGN:
        n_parts = 1
    rows = (m + n_parts - 1) // n_parts
    rows = (rows + GEMM_ROW_ALIGN - 1) // GEMM_ROW_ALIGN * GEMM_ROW_ALIGN
    for t in prange(n_parts, num_threads=n_parts, schedule='static',
                    use_threads_if=n_parts > 1):
        r0 = t * rows
        r1 = min(m, r0 + rows)
        if r1 > r0:
            _gemm_block(trans_a, trans_b, r0, r1, n, k, a, lda, b, ldb, bias, c, ldc)


cdef inline void _gemm_block(bint trans_a, bint trans_b, int r0, int r1, int n, int k,
                             const floating* a, int lda,
                             const floating* b, int ldb,
                             const floating* bias,
                             floating* c, int ldc) noexcept nogil:
    cdef int i, j
    cdef floating beta = 0
    if bias != NULL:
        for i in range(r0, r1):
            for j in range(n):
                c[<Py_ssize_t> i * ldc + j] = bias[j]
        beta = 1
    gemm(trans_a, trans_b, r1 - r0, n, k, 1,
         a + (r0 if trans_a else <Py_ssize_t> r0 * lda), lda,
         b, ldb, beta, c + <Py_ssize_t> r0 * ldc, ldc)
