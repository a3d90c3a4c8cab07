# Python-facing wrappers of the kernel cores (the *.pxd files): memoryviews
# in, raw pointers to the cores, scratch allocated here (the reductions'
# partial sums: a few doubles per row or column). fastnn.ops checks every
# input before calling these; they trust what they get. Optimizer updates
# go through fastnn._kernels._network.Update, the losses through
# _network.loss (their table, from fastnn/kinds.py).

from cython cimport floating
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free

from libc.stdint cimport uint64_t

# (cimported by name: the build then sees that this module depends on _activations.pxd)
from fastnn._kernels._activations cimport N_ACTIVATIONS as _N_ACTIVATIONS, act_backward, act_forward
from fastnn._kernels._batchnorm cimport bn_forward, bn_fold, bn_affine, bn_backward, bn_scratch
from fastnn._kernels._dense cimport dense_forward as _dense_forward
from fastnn._kernels._dense cimport dense_backward as _dense_backward, dense_scratch
from fastnn._kernels._dropout cimport dropout_rows
from fastnn._kernels._softmax cimport softmax_rows

N_ACTIVATIONS = _N_ACTIVATIONS     # the rows of fastnn/kinds.py this build dispatches


cdef double* _scratch(Py_ssize_t n) except? NULL:
    cdef double* p = <double*> malloc(max(n, 1) * sizeof(double))
    if p == NULL:
        raise MemoryError()
    return p


def dense_forward(const floating[:, ::1] x,     # IN  (n, n_in)
                  const floating[:, ::1] W,     # IN  (n_in, n_out)
                  const floating[::1] b,        # IN  (n_out,) or None
                  floating[:, ::1] y,           # OUT (n, n_out)
                  int n_threads):
    cdef const floating* bias = NULL if b is None else &b[0]
    with nogil:
        _dense_forward(&x[0, 0], &W[0, 0], bias, &y[0, 0], x.shape[0], x.shape[1], W.shape[1],
                       n_threads)


def dense_backward(const floating[:, ::1] dy,   # IN  (n, n_out)
                   const floating[:, ::1] x,    # IN  (n, n_in)
                   const floating[:, ::1] W,    # IN  (n_in, n_out)
                   floating[:, ::1] dx,         # OUT (n, n_in) or None
                   floating[:, ::1] dW,         # OUT (n_in, n_out)
                   floating[::1] db,            # OUT (n_out,) or None
                   int n_threads):
    cdef double* scratch = _scratch(dense_scratch(dy.shape[0], dy.shape[1]))
    try:
        with nogil:
            _dense_backward(&dy[0, 0], &x[0, 0], &W[0, 0], NULL if dx is None else &dx[0, 0],
                            &dW[0, 0], NULL if db is None else &db[0], dy.shape[0], x.shape[1],
                            dy.shape[1], scratch, n_threads)
    finally:
        free(scratch)


def batchnorm_forward(const floating[:, ::1] x, const floating[::1] gamma,
                      const floating[::1] beta, double eps,
                      floating[:, ::1] y, floating[::1] mean, floating[::1] rstd,
                      floating[::1] running_mean,      # IN/OUT or None
                      floating[::1] running_var,       # IN/OUT or None
                      double momentum, bint relu, int n_threads):
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef double* scratch = _scratch(bn_scratch(n, d))
    try:
        with nogil:
            bn_forward(&x[0, 0], &gamma[0], &beta[0], eps, &y[0, 0], &mean[0], &rstd[0],
                       NULL if running_mean is None else &running_mean[0],
                       NULL if running_var is None else &running_var[0],
                       momentum, relu, n, d, scratch, n_threads)
    finally:
        free(scratch)


def batchnorm_fold(const floating[::1] gamma, const floating[::1] beta,
                   const floating[::1] running_mean, const floating[::1] running_var,
                   double eps, floating[::1] a, floating[::1] b):
    bn_fold(&gamma[0], &beta[0], &running_mean[0], &running_var[0], eps, gamma.shape[0],
            &a[0], &b[0])


def batchnorm_affine(const floating[:, ::1] x, const floating[::1] a, const floating[::1] b,
                     bint relu, floating[:, ::1] y, int n_threads):
    with nogil:
        bn_affine(&x[0, 0], &a[0], &b[0], relu, &y[0, 0], x.shape[0], x.shape[1], n_threads)


def batchnorm_backward(const floating[:, ::1] dy, const floating[:, ::1] x,
                       const floating[::1] mean, const floating[::1] rstd,
                       const floating[::1] gamma,
                       const floating[:, ::1] y,      # forward output after a fused ReLU, or None
                       floating[:, ::1] dx, floating[::1] dgamma, floating[::1] dbeta,
                       int n_threads):
    cdef Py_ssize_t n = x.shape[0], d = x.shape[1]
    cdef double* scratch = _scratch(bn_scratch(n, d))
    try:
        with nogil:
            bn_backward(&dy[0, 0], &x[0, 0], &mean[0], &rstd[0], &gamma[0],
                        NULL if y is None else &y[0, 0], &dx[0, 0], &dgamma[0], &dbeta[0],
                        n, d, scratch, n_threads)
    finally:
        free(scratch)


def softmax_forward(const floating[:, ::1] z, floating[:, ::1] out, bint log_space,
                    int n_threads):
    with nogil:
        softmax_rows(&z[0, 0], &out[0, 0], log_space, z.shape[0], z.shape[1], n_threads)


def dropout(const floating[:, ::1] x, floating[:, ::1] y, double rate, uint64_t seed,
            int64_t step, int layer, int n_threads):
    """y = x * keep / (1 - rate), keep drawn from (seed, step, layer, row, unit)."""
    with nogil:
        dropout_rows(&x[0, 0], &y[0, 0], x.shape[0], x.shape[1], rate, seed, step, layer,
                     n_threads)


def activation_forward(int kind, const floating[::1] x, floating[::1] y, double alpha,
                       int n_threads):
    if x.shape[0]:
        with nogil:
            act_forward(kind, &x[0], &y[0], x.shape[0], <floating> alpha, n_threads)


def activation_backward(int kind, const floating[::1] dy, const floating[::1] x,
                        const floating[::1] y, floating[::1] dx, double alpha, int n_threads):
    if y.shape[0]:
        with nogil:
            act_backward(kind, &dy[0], &x[0], &y[0], &dx[0], y.shape[0], <floating> alpha,
                             n_threads)
