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
# b = beta - running_mean * a (bn_fold, in double): one multiply-add.
#
# Backward, with g = dy (times [y > 0] after a fused ReLU) and
# xhat = (x - mu) * rstd:
#     dbeta  = sum_i g
#     dgamma = sum_i g * xhat
#     dx     = gamma * rstd / n * (n * g - dbeta - xhat * dgamma)
# The mean shifts every x[i], hence the -dbeta / n term; the variance moves
# with every x[i] too, hence the -xhat * dgamma / n term. One chunked pass
# takes the two sums, one elementwise pass writes dx (after a fused ReLU, a
# first pass writes g into dx, and the last pass updates it in place).
#
# Cores: raw pointers, no GIL, n >= 2 for training; the caller passes
# bn_scratch(n, d) doubles of scratch.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt

from fastnn._kernels._math cimport mask as relu_mask, relu as relu_of
from fastnn._kernels._op cimport Ctx, Op, OpKind

from fastnn._kernels._parallel cimport (
    PARALLEL_MIN, BLOCK, n_blocks, n_chunks, chunk_start,
)


# ---------------------------------------------------------------- the op
# Slots: gamma, beta, dgamma, dbeta, mean, rstd (kept from forward for
# backward), running_mean, running_var: (d,) each. v[0] eps, v[1] momentum;
# f[0] a fused ReLU.
cdef enum:
    BN_GAMMA = 0
    BN_BETA = 1
    BN_DGAMMA = 2
    BN_DBETA = 3
    BN_MEAN = 4
    BN_RSTD = 5
    BN_RMEAN = 6
    BN_RVAR = 7


cdef inline void _op_forward(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    if c.is_double:
        _op_forward_t(op, <const double*> x, <double*> y, c)
    else:
        _op_forward_t(op, <const float*> x, <float*> y, c)


cdef inline void _op_forward_t(const Op* op, const floating* x, floating* y,
                               const Ctx* c) noexcept nogil:
    bn_forward(x, <floating*> op.a[BN_GAMMA], <floating*> op.a[BN_BETA], op.v[0], y,
               <floating*> op.a[BN_MEAN], <floating*> op.a[BN_RSTD],
               <floating*> op.a[BN_RMEAN], <floating*> op.a[BN_RVAR], op.v[1], op.f[0],
               c.n, op.n_out, c.scratch, c.n_threads)


cdef inline void _op_backward(const Op* op, const char* x, const char* y, char* dy, char* dx,
                              const Ctx* c) noexcept nogil:
    if c.is_double:
        _op_backward_t(op, <const double*> x, <const double*> y, <double*> dy, <double*> dx, c)
    else:
        _op_backward_t(op, <const float*> x, <const float*> y, <float*> dy, <float*> dx, c)


cdef inline void _op_backward_t(const Op* op, const floating* x, const floating* y,
                                floating* dy, floating* dx, const Ctx* c) noexcept nogil:
    bn_backward(dy, x, <floating*> op.a[BN_MEAN], <floating*> op.a[BN_RSTD],
                <floating*> op.a[BN_GAMMA], y if op.f[0] else NULL, dx,
                <floating*> op.a[BN_DGAMMA], <floating*> op.a[BN_DBETA], c.n, op.n_out,
                c.scratch, c.n_threads)


cdef inline void _op_infer(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    if c.is_double:
        _op_infer_t(op, <const double*> x, <double*> y, c)
    else:
        _op_infer_t(op, <const float*> x, <float*> y, c)


cdef inline void _op_infer_t(const Op* op, const floating* x, floating* y,
                             const Ctx* c) noexcept nogil:
    cdef floating* a = <floating*> c.scratch         # (d,) folded scale, then (d,) shift
    bn_fold(<floating*> op.a[BN_GAMMA], <floating*> op.a[BN_BETA], <floating*> op.a[BN_RMEAN],
            <floating*> op.a[BN_RVAR], op.v[0], op.n_out, a, a + op.n_out)
    bn_affine(x, a, a + op.n_out, op.f[0], y, c.n, op.n_out, c.n_threads)


cdef inline Py_ssize_t _op_scratch(const Op* op, Py_ssize_t n) noexcept nogil:
    return bn_scratch(n, op.n_out)


cdef inline Py_ssize_t _op_array_size(const Op* op, int k) noexcept nogil:
    return op.n_out if 0 <= k <= BN_RVAR else 0


cdef inline OpKind batchnorm_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _op_forward, _op_backward, _op_infer
    k.scratch, k.array_size = _op_scratch, _op_array_size
    return k


# ---------------------------------------------------------------- kernels

cdef inline Py_ssize_t bn_scratch(Py_ssize_t n, Py_ssize_t d) noexcept nogil:
    """Doubles of scratch for bn_forward and bn_backward: chunk partials, then coefficients."""
    return 2 * n_chunks(n, d) * d + 3 * d


cdef inline void bn_forward(const floating* x,        # IN  (n, d)
                            const floating* gamma,    # IN  (d,)
                            const floating* beta,     # IN  (d,)
                            double eps,
                            floating* y,              # OUT (n, d)
                            floating* mean,           # OUT (d,) kept for backward
                            floating* rstd,           # OUT (d,) kept for backward
                            floating* running_mean,   # IN/OUT (d,) or NULL
                            floating* running_var,    # IN/OUT (d,) or NULL
                            double momentum, bint relu,
                            Py_ssize_t n, Py_ssize_t d,
                            double* scratch, int n_threads) noexcept nogil:
    cdef Py_ssize_t nc = n_chunks(n, d), c, j, rows, nb
    cdef bint parallel = n * d >= PARALLEL_MIN
    cdef double* cmean = scratch                    # (nc, d) chunk means
    cdef double* cm2 = scratch + nc * d             # (nc, d) squared deviations
    cdef floating* scale = <floating*> (scratch + 2 * nc * d)    # (d,) gamma * rstd
    cdef double var
    for c in prange(nc, num_threads=n_threads, schedule='static', use_threads_if=parallel):
        _chunk_moments(x, chunk_start(c, nc, n), chunk_start(c + 1, nc, n), d,
                       cmean + c * d, cm2 + c * d)
    _merge_moments(cmean, cm2, nc, n, d)            # merged into chunk 0's slots
    for j in range(d):
        var = cm2[j] / n
        mean[j] = <floating> cmean[j]
        rstd[j] = <floating> (1.0 / sqrt(var + eps))
        scale[j] = gamma[j] * rstd[j]
        if running_mean != NULL:
            running_mean[j] = <floating> (momentum * running_mean[j] + (1.0 - momentum) * cmean[j])
            running_var[j] = <floating> (momentum * running_var[j]
                                         + (1.0 - momentum) * cm2[j] / (n - 1))
    rows = max(1, BLOCK // d)
    nb = n_blocks(n, rows)
    for c in prange(nb, num_threads=n_threads, schedule='static', use_threads_if=parallel):
        _normalize_rows(x, c * rows, min(n, c * rows + rows), d, mean, scale, beta, relu, y)


cdef inline void bn_fold(const floating* gamma, const floating* beta,
                         const floating* running_mean, const floating* running_var,
                         double eps, Py_ssize_t d,
                         floating* a, floating* b) noexcept nogil:
    """Test-time map y = x * a + b: a = gamma / sqrt(running_var + eps), b = beta - running_mean * a."""
    cdef Py_ssize_t j
    cdef double aj
    for j in range(d):
        aj = gamma[j] / sqrt(<double> running_var[j] + eps)
        a[j] = <floating> aj
        b[j] = <floating> (beta[j] - running_mean[j] * aj)


cdef inline void bn_affine(const floating* x,     # IN  (n, d)
                           const floating* a,     # IN  (d,) folded scale
                           const floating* b,     # IN  (d,) folded shift
                           bint relu,
                           floating* y,           # OUT (n, d); may be x
                           Py_ssize_t n, Py_ssize_t d, int n_threads) noexcept nogil:
    cdef Py_ssize_t rows = max(1, BLOCK // d), c
    if n * d < PARALLEL_MIN:    # no parallel region (a one-row predict)
        _affine_rows(x, 0, n, d, a, b, relu, y)
        return
    for c in prange(n_blocks(n, rows), num_threads=n_threads, schedule='static'):
        _affine_rows(x, c * rows, min(n, c * rows + rows), d, a, b, relu, y)


cdef inline void bn_backward(const floating* dy,      # IN  (n, d)
                             const floating* x,       # IN  (n, d) forward input
                             const floating* mean,    # IN  (d,) from forward
                             const floating* rstd,    # IN  (d,) from forward
                             const floating* gamma,   # IN  (d,)
                             const floating* y,       # IN  (n, d) forward output after a fused ReLU, or NULL
                             floating* dx,            # OUT (n, d), or NULL (then a fused ReLU overwrites dy)
                             floating* dgamma,        # OUT (d,)
                             floating* dbeta,         # OUT (d,)
                             Py_ssize_t n, Py_ssize_t d,
                             double* scratch, int n_threads) noexcept nogil:
    cdef Py_ssize_t nc = n_chunks(n, d), c, j, rows, nb
    cdef bint parallel = n * d >= PARALLEL_MIN
    cdef double* psum = scratch                     # (nc, d) sums of g
    cdef double* pdot = scratch + nc * d            # (nc, d) sums of g * (x - mu)
    cdef floating* coef = <floating*> (scratch + 2 * nc * d)     # (3, d) dx's coefficients
    cdef const floating* g = dy
    cdef double sg, sgx
    rows = max(1, BLOCK // d)
    nb = n_blocks(n, rows)
    if y != NULL:       # g = dy * [y > 0], written into dx first: one vectorized pass
        g = dx if dx != NULL else <floating*> dy
        for c in prange(nb, num_threads=n_threads, schedule='static', use_threads_if=parallel):
            _mask_rows(dy, y, c * rows, min(n, c * rows + rows), d, <floating*> g)
    for c in prange(nc, num_threads=n_threads, schedule='static', use_threads_if=parallel):
        _chunk_grad_sums(g, x, mean, chunk_start(c, nc, n), chunk_start(c + 1, nc, n), d,
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
    if dx == NULL:      # the first op: its input needs no gradient
        return
    for c in prange(nb, num_threads=n_threads, schedule='static', use_threads_if=parallel):
        _dx_rows(g, x, mean, coef, c * rows, min(n, c * rows + rows), d, dx)


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
    for i in range(r0, r1):
        if relu:
            for j in range(d):
                y[i * d + j] = relu_of((x[i * d + j] - mu[j]) * scale[j] + beta[j])
        else:
            for j in range(d):
                y[i * d + j] = (x[i * d + j] - mu[j]) * scale[j] + beta[j]


cdef inline void _affine_rows(const floating* x, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                              const floating* a, const floating* b, bint relu,
                              floating* y) noexcept nogil:
    cdef Py_ssize_t i, j
    for i in range(r0, r1):
        if relu:
            for j in range(d):
                y[i * d + j] = relu_of(x[i * d + j] * a[j] + b[j])
        else:
            for j in range(d):
                y[i * d + j] = x[i * d + j] * a[j] + b[j]


cdef inline void _mask_rows(const floating* dy, const floating* y, Py_ssize_t r0, Py_ssize_t r1,
                            Py_ssize_t d, floating* g) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(r0 * d, r1 * d):
        g[i] = relu_mask(y[i], dy[i])


cdef inline void _chunk_grad_sums(const floating* g, const floating* x, const floating* mu,
                                  Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                                  double* sg,      # OUT (d,) sum of g
                                  double* sgx,     # OUT (d,) sum of g * (x - mu)
                                  ) noexcept nogil:
    cdef Py_ssize_t i, j
    for j in range(d):
        sg[j] = 0
        sgx[j] = 0
    for i in range(r0, r1):
        for j in range(d):
            sg[j] += g[i * d + j]
            sgx[j] += g[i * d + j] * (x[i * d + j] - mu[j])


cdef inline void _dx_rows(const floating* g, const floating* x, const floating* mu,
                          const floating* coef, Py_ssize_t r0, Py_ssize_t r1, Py_ssize_t d,
                          floating* dx) noexcept nogil:
    """dx = k1 * g + k2 * (x - mu) + k3; dx may be g itself."""
    cdef Py_ssize_t i, j
    cdef const floating* k1 = coef
    cdef const floating* k2 = coef + d
    cdef const floating* k3 = coef + 2 * d
    for i in range(r0, r1):
        for j in range(d):
            dx[i * d + j] = k1[j] * g[i * d + j] + k2[j] * (x[i * d + j] - mu[j]) + k3[j]
