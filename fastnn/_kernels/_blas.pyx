# The BLAS functions every kernel calls (declared in _blas.pxd), bound at
# run time by fastnn._kernels._backends, which finds the library, takes the
# addresses of its sgemm, dgemm, sgemv and dgemv (Fortran interface) and
# passes them to bind(). The build links no BLAS. Until bound, each pointer
# holds a function that stops the process with a message: a kernel module
# imported around fastnn._kernels (which binds first) is a bug, not a crash
# to debug.

from libc.stdint cimport uintptr_t
from libc.stdio cimport fprintf, stderr
from libc.stdlib cimport abort, free, malloc

cdef extern from *:
    """
    /* Whether the CPU's vendor is Intel (x86-64 with gcc or clang; 0 elsewhere). */
    static int fastnn_cpu_is_intel(void) {
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
        __builtin_cpu_init();
        return __builtin_cpu_is("intel");
    #else
        return 0;
    #endif
    }
    """
    int fastnn_cpu_is_intel() noexcept nogil


cdef void _stop() noexcept nogil:
    fprintf(stderr, b"fastnn: a kernel called BLAS before fastnn._kernels bound it; "
                    b"load the kernels through fastnn._kernels (fastnn.ops, a model)\n")
    abort()


cdef void _sgemm_unbound(const char* ta, const char* tb, const int* m, const int* n,
                         const int* k, const float* alpha, const float* a, const int* lda,
                         const float* b, const int* ldb, const float* beta, float* c,
                         const int* ldc) noexcept nogil:
    _stop()


cdef void _dgemm_unbound(const char* ta, const char* tb, const int* m, const int* n,
                         const int* k, const double* alpha, const double* a, const int* lda,
                         const double* b, const int* ldb, const double* beta, double* c,
                         const int* ldc) noexcept nogil:
    _stop()


cdef void _sgemv_unbound(const char* t, const int* m, const int* n, const float* alpha,
                         const float* a, const int* lda, const float* x, const int* incx,
                         const float* beta, float* y, const int* incy) noexcept nogil:
    _stop()


cdef void _dgemv_unbound(const char* t, const int* m, const int* n, const double* alpha,
                         const double* a, const int* lda, const double* x, const int* incx,
                         const double* beta, double* y, const int* incy) noexcept nogil:
    _stop()


sgemm = _sgemm_unbound
dgemm = _dgemm_unbound
sgemv = _sgemv_unbound
dgemv = _dgemv_unbound


def bind(uintptr_t s_gemm, uintptr_t d_gemm, uintptr_t s_gemv, uintptr_t d_gemv):
    """Point the kernels' sgemm, dgemm, sgemv and dgemv at these addresses (Fortran BLAS
    interface, 32-bit integers). Only fastnn._kernels._backends calls it, before any kernel
    runs."""
    global sgemm, dgemm, sgemv, dgemv
    if not (s_gemm and d_gemm and s_gemv and d_gemv):
        raise ValueError("bind: every BLAS function needs a non-null address")
    sgemm = <sgemm_t> s_gemm
    dgemm = <dgemm_t> d_gemm
    sgemv = <sgemv_t> s_gemv
    dgemv = <dgemv_t> d_gemv


def bound():
    """The addresses the kernels call now (sgemm, dgemm, sgemv, dgemv), or None if unbound."""
    if sgemm == _sgemm_unbound:
        return None
    return (<uintptr_t> sgemm, <uintptr_t> dgemm, <uintptr_t> sgemv, <uintptr_t> dgemv)


def cpu_is_intel():
    """Whether this CPU's vendor is Intel."""
    return bool(fastnn_cpu_is_intel())


def gemm_step(list xs, list Ws, list ys, list dys, list dWs, list dxs, int n_threads,
              int repeats):
    """Run a dense network's training-step GEMMs ``repeats`` times, as its layers do
    (gemm_parallel: the same calls and blocks), without the GIL: per layer ``i`` forward
    ``ys[i] = xs[i] @ Ws[i]``, then from the last layer back ``dWs[i] = xs[i].T @ dys[i]``
    and, except for the first layer, ``dxs[i] = dys[i] @ Ws[i].T``. float32, C-contiguous.
    For benchmarks (bench/gemm_limit.py)."""
    cdef Py_ssize_t L = len(Ws), i, n, n_in, n_out
    cdef int r
    cdef float[:, ::1] x, W, y, dy, dW, dx
    if not (len(xs) == len(ys) == len(dys) == len(dWs) == len(dxs) == L) or L == 0:
        raise ValueError("gemm_step: xs, Ws, ys, dys, dWs and dxs need one array per layer")
    if n_threads < 1 or repeats < 0:
        raise ValueError("gemm_step: n_threads must be at least 1 and repeats at least 0")
    cdef float** ptr = <float**> malloc(6 * L * sizeof(float*))
    cdef int* dims = <int*> malloc(3 * L * sizeof(int))
    if ptr == NULL or dims == NULL:
        free(ptr)
        free(dims)
        raise MemoryError()
    try:
        for i in range(L):
            x, W, y, dy, dW = xs[i], Ws[i], ys[i], dys[i], dWs[i]
            dx = dxs[i] if i else x
            n, n_in, n_out = x.shape[0], x.shape[1], W.shape[1]
            if (W.shape[0] != n_in or y.shape[0] != n or y.shape[1] != n_out
                    or dy.shape[0] != n or dy.shape[1] != n_out
                    or dW.shape[0] != n_in or dW.shape[1] != n_out
                    or dx.shape[0] != n or dx.shape[1] != n_in
                    or n < 1 or n_in < 1 or n_out < 1):
                raise ValueError(f"gemm_step: layer {i}'s shapes do not agree")
            ptr[6 * i], ptr[6 * i + 1], ptr[6 * i + 2] = &x[0, 0], &W[0, 0], &y[0, 0]
            ptr[6 * i + 3], ptr[6 * i + 4], ptr[6 * i + 5] = &dy[0, 0], &dW[0, 0], &dx[0, 0]
            dims[3 * i], dims[3 * i + 1], dims[3 * i + 2] = <int> n, <int> n_in, <int> n_out
        with nogil:
            for r in range(repeats):
                _gemm_step(ptr, dims, L, n_threads)
    finally:
        free(ptr)
        free(dims)


cdef void _gemm_step(float** ptr, const int* dims, Py_ssize_t L, int n_threads) noexcept nogil:
    cdef Py_ssize_t i
    cdef int n, n_in, n_out
    for i in range(L):                  # y = x @ W
        n, n_in, n_out = dims[3 * i], dims[3 * i + 1], dims[3 * i + 2]
        gemm_parallel(False, False, n, n_out, n_in, ptr[6 * i], n_in, ptr[6 * i + 1], n_out,
                      <float*> NULL, ptr[6 * i + 2], n_out, n_threads)
    for i in range(L - 1, -1, -1):      # dW = x^T @ dy; dx = dy @ W^T
        n, n_in, n_out = dims[3 * i], dims[3 * i + 1], dims[3 * i + 2]
        gemm_parallel(True, False, n_in, n_out, n, ptr[6 * i], n_in, ptr[6 * i + 3], n_out,
                      <float*> NULL, ptr[6 * i + 4], n_out, n_threads)
        if i:
            gemm_parallel(False, True, n, n_in, n_out, ptr[6 * i + 3], n_out, ptr[6 * i + 1],
                          n_out, <float*> NULL, ptr[6 * i + 5], n_in, n_threads)
