# GEMM on row-major arrays through the BLAS bound at run time (Fortran
# interface, column-major).
#
# The BLAS functions are pointers, variables of the _blas module: the
# build links no BLAS, and fastnn._kernels._backends finds OpenBLAS
# (scipy-openblas32) or MKL at run time and binds their addresses before any
# kernel runs (FASTNN_BLAS). Every kernel module, in every instruction-set
# variant, calls through the same four pointers.
#
# A row-major (m, n) array is the column-major (n, m) array of its
# transpose, so C = op(A) @ op(B) in row-major is C^T = op(B)^T @ op(A)^T in
# column-major: swap the operands and the sizes m and n, keep each
# operand's transpose flag.
#
# gemm_parallel cuts C into blocks and hands them to OpenMP threads, each
# calling a single-threaded GEMM on its block: one thread pool, BLAS held at
# one thread by the caller (fastnn._threads). It cuts C's rows or its
# columns, whichever are more: a (32, 512) output cut by rows would give
# each block a 16-row GEMM, which BLAS runs at half speed. How C is cut
# depends on its shape alone, never on the thread count, so results have
# the same bits with 1 thread or 4. Each block packs the operand it shares
# with the others again, so a block costs: at most GEMM_MAX_BLOCKS = 2
# (one thread then runs 2 to 4% slower than with one call; a GEMM uses
# at most 2 threads).

from cython cimport floating
from cython.parallel cimport prange

ctypedef void (*sgemm_t)(const char* transa, const char* transb,
                         const int* m, const int* n, const int* k,
                         const float* alpha, const float* a, const int* lda,
                         const float* b, const int* ldb,
                         const float* beta, float* c, const int* ldc) noexcept nogil
ctypedef void (*dgemm_t)(const char* transa, const char* transb,
                         const int* m, const int* n, const int* k,
                         const double* alpha, const double* a, const int* lda,
                         const double* b, const int* ldb,
                         const double* beta, double* c, const int* ldc) noexcept nogil
ctypedef void (*sgemv_t)(const char* trans, const int* m, const int* n,
                         const float* alpha, const float* a, const int* lda,
                         const float* x, const int* incx,
                         const float* beta, float* y, const int* incy) noexcept nogil
ctypedef void (*dgemv_t)(const char* trans, const int* m, const int* n,
                         const double* alpha, const double* a, const int* lda,
                         const double* x, const int* incx,
                         const double* beta, double* y, const int* incy) noexcept nogil

# the bound functions (_blas.pyx: until bound, each stops the process with a message)
cdef sgemm_t sgemm
cdef dgemm_t dgemm
cdef sgemv_t sgemv
cdef dgemv_t dgemv

cdef enum:
    GEMM_PARALLEL_MIN = 262144   # multiply-adds; below this one thread
    GEMM_ALIGN = 16              # rows or columns per block: a multiple of this
    GEMM_MIN_SPAN = 16           # rows or columns per block, at least
    GEMM_MAX_BLOCKS = 2          # blocks per GEMM, at most: each block packs an operand again


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


cdef inline int gemm_blocks(int m, int n, int k) noexcept nogil:
    """Blocks C is cut into: a power of two up to GEMM_MAX_BLOCKS, from the shape alone."""
    cdef int span = m if m >= n else n, blocks = 1
    if <double> m * n * k < GEMM_PARALLEL_MIN:
        return 1
    while blocks < GEMM_MAX_BLOCKS and span >= 2 * blocks * GEMM_MIN_SPAN:
        blocks *= 2
    return blocks


cdef inline void gemm_parallel(bint trans_a, bint trans_b, int m, int n, int k,
                               const floating* a, int lda,
                               const floating* b, int ldb,
                               const floating* bias,      # (n,) or NULL
                               floating* c, int ldc,      # (m, n) OUT
                               int n_threads) noexcept nogil:
    """C = op(A) @ op(B) (+ bias on every row), C's rows or columns cut into blocks.

    The blocks depend on the shape only (gemm_blocks) and each is one
    single-threaded GEMM call, so C has the same bits at any thread count:
    BLAS picks its inner kernels by the sizes it is given, so cutting C in
    two changes the rounding of its elements.
    """
    cdef int t, lo, hi, size, blocks = gemm_blocks(m, n, k)
    cdef bint by_rows = m >= n
    cdef int span = m if by_rows else n
    if blocks == 1:             # no parallel region at all (one costs about 1 us)
        _gemm_block(trans_a, trans_b, 0, m, 0, n, k, a, lda, b, ldb, bias, c, ldc)
        return
    size = (span + blocks - 1) // blocks
    size = (size + GEMM_ALIGN - 1) // GEMM_ALIGN * GEMM_ALIGN
    for t in prange(blocks, num_threads=min(n_threads, blocks), schedule='static',
                    use_threads_if=blocks > 1 and n_threads > 1):
        lo = t * size
        hi = min(span, lo + size)
        if hi > lo:
            if by_rows:
                _gemm_block(trans_a, trans_b, lo, hi, 0, n, k, a, lda, b, ldb, bias, c, ldc)
            else:
                _gemm_block(trans_a, trans_b, 0, m, lo, hi, k, a, lda, b, ldb, bias, c, ldc)
