# Batch normalization of a (n, d) batch, per feature (column).
#
# Training forward (Ioffe & Szegedy 2015):
#     mu = mean_i x[i]                var = mean_i (x[i] - mu)^2   (biased)
#     rstd = 1 / sqrt(var + eps)      y = gamma * (x - mu) * rstd + beta
# and, with relu, y = max(y, 0). The statistics are accumulated in double:
# each chunk of rows (see _parallel.pxd) takes its mean, then its squared
# deviations from that mean (two passes over a chunk that is still in
# cache), and the chunks merge in order by Chan's formula. mean and rstd
# are kept for the backward pass. The running estimates for test time are
# exponentially weighted averages; the running variance takes the unbiased
# batch variance, var * n / (n - 1).
#
# Inference: y = x * a + b, with a = gamma / sqrt(running_var + eps) and
# b = beta - running_mean * a folded by the caller: one multiply-add.
#
# Backward, with g = dy (times [y > 0] after a fused ReLU) and
# xhat = (x - mu) * rstd:
#     dbeta  = sum_i g
#     dgamma = sum_i g * xhat
#     dx     = gamma * rstd / n * (n * g - dbeta - xhat * dgamma)
# The mean shifts every x[i], hence the -dbeta / n term; the variance moves
# with every x[i] too, hence the -xhat * dgamma / n term. One chunked pass
# takes the two sums, one elementwise pass writes dx.
#
# Kernels trust their inputs: n >= 2 for training, C-contiguous arrays of
# one dtype, matching shapes (fastnn.ops checks them).

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt
from libc.stdlib cimport malloc, free

from fastnn._kernels._parallel cimport (
    PARALLEL_MIN, BLOCK, n_blocks, n_chunks, chunk_start,
)


def batchnorm_forward(const floating[:, ::1] x,        # IN  (n, d)
                      const floating[::1] gamma,       # IN  (d,)
                      const floating[::1] beta,        # IN  (d,)
                      double eps,
                      floating[:, ::1] y,              # OUT (n, d)
                      floating[::1] mean,              # OUT (d,) kept for backward
                      floating[::1] rstd,              # OUT (d,) kept for backward
                      floating[::1] running_mean,      # IN/OUT (d,) or None
                      floating[::1] running_var,       # IN/OUT (d,) or None
                      double momentum,
                      bint relu,
                      int n_threads):
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], nc = n_chunks(n)
    cdef Py_ssize_t c, j, r0, r1, rows, nb
    cdef bint parallel = n * d >= PARALLEL_MIN
    cdef bint running = running_mean is not None
    cdef double var
    # scratch: per-chunk means and squared deviations, then the scale a
    cdef double* cmean = <double*> malloc(2 * nc * d * sizeof(double))
    cdef double* cm2 = cmean + nc * d
    cdef floating* scale = <floating*> malloc(d * sizeof(floating))
    if cmean == NULL or scale == NULL:
        free(cmean)
        free(scale)
        raise MemoryError()
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule='static',
                        use_threads_if=parallel):
            r0 = chunk_start(c, nc, n)
            r1 = chunk_start(c + 1, nc, n)
            _chunk_moments(&x[0, 0], r0, r1, d, cmean + c * d, cm2 + c * d)
        _merge_moments(cmean, cm2, nc, n, d)     # merged into chunk 0's slots
        for j in range(d):
            var = cm2[j] / n
            mean[j] = <floating> cmean[j]
            rstd[j] = <floating> (1.0 / sqrt(var + eps))
            scale[j] = gamma[j] * rstd[j]
            if running:
                running_mean[j] = <floating> (momentum * running_mean[j]
                                              + (1.0 - momentum) * cmean[j])
                running_var[j] = <floating> (momentum * running_var[j]
                                             + (1.0 - momentum) * cm2[j] / (n - 1))
        rows = max(1, BLOCK // d)
        nb = n_blocks(n, rows)
        for c in prange(nb, num_threads=n_threads, schedule='static',
                        use_threads_if=parallel):
            r0 = c * rows
            r1 = min(n, r0 + rows)
            _normalize_rows(&x[0, 0], r0, r1, d, &mean[0], scale, &beta[0],
                            relu, &y[0, 0])
    free(cmean)
    free(scale)


def batchnorm_affine(const floating[:, ::1] x,   # IN  (n, d)
                     const floating[::1] a,      # IN  (d,) folded scale
                     const floating[::1] b,      # IN  (d,) folded shift
                     bint relu,
                     floating[:, ::1] y,         # OUT (n, d)
                     int n_threads):
    """Test-time batch norm: y = x * a + b (then max(y, 0) with relu)."""
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef Py_ssize_t rows = max(1, BLOCK // d), nb = n_blocks(n, rows)
    cdef Py_ssize_t c, i, j, r0, r1
    cdef floating v
    with nogil:
        for c in prange(nb, num_threads=n_threads, schedule='static',
                        use_threads_if=n * d >= PARALLEL_MIN):
            r0 = c * rows
            r1 = min(n, r0 + rows)
            for i in range(r0, r1):
                for j in range(d):
                    v = x[i, j] * a[j] + b[j]
                    y[i, j] = (0 if v < 0 else v) if relu else v


def batchnorm_backward(const floating[:, ::1] dy,     # IN  (n, d)
                       const floating[:, ::1] x,      # IN  (n, d) forward input
                       const floating[::1] mean,      # IN  (d,) from forward
                       const floating[::1] rstd,      # IN  (d,) from forward
                       const floating[::1] gamma,     # IN  (d,)
                       const floating[:, ::1] y,      # IN  (n, d) forward output, or None
                       floating[:, ::1] dx,           # OUT (n, d)
                       floating[::1] dgamma,          # OUT (d,)
                       floating[::1] dbeta,           # OUT (d,)
                       int n_threads):
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1], nc = n_chunks(n)
    cdef Py_ssize_t c, j, r0, r1, rows, nb
    cdef bint parallel = n * d >= PARALLEL_MIN
    cdef const floating* mask = NULL if y is None else &y[0, 0]
    cdef double sg, sgx
    # scratch: per-chunk sums of g and g * (x - mu), then dx's coefficients
    cdef double* psum = <double*> malloc(2 * nc * d * sizeof(double))
    cdef double* pdot = psum + nc * d
    cdef floating* coef = <floating*> malloc(3 * d * sizeof(floating))
    if psum == NULL or coef == NULL:
        free(psum)
        free(coef)
        raise MemoryError()
    with nogil:
        for c in prange(nc, num_threads=n_threads, schedule='static',
                        use_threads_if=parallel):
            r0 = chunk_start(c, nc, n)
            r1 = chunk_start(c + 1, nc, n)
            _chunk_grad_sums(&dy[0, 0], &x[0, 0], mask, &mean[0], r0, r1, d,
                             psum + c * d, pdot + c * d)
        for j in range(d):
            sg = 0
            sgx = 0
            for c in range(nc):
                sg = sg + psum[c * d + j]
                sgx = sgx + pdot[c * d + j]
            sgx = sgx * rstd[j]
            dbeta[j] = <floating> sg
            dgamma[j] = <floating> sgx
            # dx = k1 * g + k2 * (x - mu) + k3
            coef[j] = gamma[j] * rstd[j]
            coef[d + j] = <floating> (-gamma[j] * rstd[j] * rstd[j] * sgx / n)
            coef[2 * d + j] = <floating> (-gamma[j] * rstd[j] * sg / n)
        rows = max(1, BLOCK // d)
        nb = n_blocks(n, rows)
        for c in prange(nb, num_threads=n_threads, schedule='static',
                        use_threads_if=parallel):
            r0 = c * rows
            r1 = min(n, r0 + rows)
            _dx_rows(&dy[0, 0], &x[0, 0], mask, &mean[0], coef, r0, r1, d, &dx[0, 0])
    free(psum)
    free(coef)


cdef inline void _chunk_moments(const floating* x, Py_ssize_t r0, Py_ssize_t r1,
                                Py_ssize_t d,
                                double* mu,        # OUT (d,) chunk mean
                                double* m2,        # OUT (d,) sum of squared deviations
                                ) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef double inv = 1.0 / (r1 - r0), dev
    for j in range(d):
        mu[j] = 0
        m2[j] = 0
    for i in range(r0, r1):
        for j in range(d):
            mu[j] += x[i * d + j]
    for j in range(d):
        mu[j] *= inv
    for i in range(r0, r1):
        for j in range(d):
            dev = x[i * d + j] - mu[j]
            m2[j] += dev * dev


cdef inline void _merge_moments(double* mu, double* m2, Py_ssize_t nc, Py_ssize_t n,
                                Py_ssize_t d) noexcept nogil:
    """Fold chunks 1.. into chunk 0 in order (Chan, Golub & LeVeque 1979)."""
    cdef Py_ssize_t c, j
    cdef double na = chunk_start(1, nc, n), nb_, tot, delta
    for c in range(1, nc):
        nb_ = chunk_start(c + 1, nc, n) - chunk_start(c, nc, n)
        tot = na + nb_
        for j in range(d):
            delta = mu[c * d + j] - mu[j]
            mu[j] += delta * nb_ / tot
            m2[j] += m2[c * d + j] + delta * delta * na * nb_ / tot
        na = tot


cdef inline void _normalize_rows(const floating* x, Py_ssize_t r0, Py_ssize_t r1,
                                 Py_ssize_t d, const floating* mu,
                                 const floating* scale, const floating* beta,
                                 bint relu, floating* y) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating v
    for i in range(r0, r1):
        if relu:
            for j in range(d):
                v = (x[i * d + j] - mu[j]) * scale[j] + beta[j]
                y[i * d + j] = 0 if v < 0 else v
        else:
            for j in range(d):
                y[i * d + j] = (x[i * d + j] - mu[j]) * scale[j] + beta[j]


cdef inline void _chunk_grad_sums(const floating* dy, const floating* x,
                                  const floating* mask, const floating* mu,
                                  Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                                  double* sg,      # OUT (d,) sum of g
                                  double* sgx,     # OUT (d,) sum of g * (x - mu)
                                  ) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating g
    for j in range(d):
        sg[j] = 0
        sgx[j] = 0
    for i in range(r0, r1):
        for j in range(d):
            g = dy[i * d + j]
            if mask != NULL and not mask[i * d + j] > 0:
                g = 0
            sg[j] += g
            sgx[j] += g * (x[i * d + j] - mu[j])


cdef inline void _dx_rows(const floating* dy, const floating* x, const floating* mask,
                          const floating* mu, const floating* coef,
                          Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                          floating* dx) noexcept nogil:
    cdef Py_ssize_t i, j
    cdef floating g
    cdef const floating* k1 = coef
    cdef const floating* k2 = coef + d
    cdef const floating* k3 = coef + 2 * d
    for i in range(r0, r1):
        for j in range(d):
            g = dy[i * d + j]
            if mask != NULL and not mask[i * d + j] > 0:
                g = 0
            dx[i * d + j] = k1[j] * g + k2[j] * (x[i * d + j] - mu[j]) + k3[j]
