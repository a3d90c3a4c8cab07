# Elementwise activations, forward and backward, on flat arrays.
#
# Each backward takes the forward *output* y, which is all it needs:
#     relu:        dx = dy * [y > 0]
#     leaky_relu:  dx = dy * (1 if y > 0 else alpha)      (alpha >= 0)
#     tanh:        dx = dy * (1 - y^2)
#     sigmoid:     dx = dy * y * (1 - y)
# NaN passes through every forward (relu(NaN) is NaN), so a diverging
# network shows itself in the loss. The sigmoid never overflows: for
# x < 0 it is computed as e / (1 + e) with e = exp(x).

from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels._math cimport fexp, ftanh
from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

cdef enum Act:
    RELU = 0
    LEAKY_RELU = 1
    TANH = 2
    SIGMOID = 3

ACTIVATIONS = {"relu": RELU, "leaky_relu": LEAKY_RELU, "tanh": TANH, "sigmoid": SIGMOID}


cdef inline void _forward(int act, const floating* x, floating* y, Py_ssize_t n,
                          floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    cdef floating e
    if act == RELU:
        for i in range(n):
            y[i] = 0 if x[i] < 0 else x[i]
    elif act == LEAKY_RELU:
        for i in range(n):
            y[i] = alpha * x[i] if x[i] < 0 else x[i]
    elif act == TANH:
        for i in range(n):
            y[i] = ftanh(x[i])
    else:
        for i in range(n):
            if x[i] >= 0:
                y[i] = 1 / (1 + fexp(-x[i]))
            else:
                e = fexp(x[i])
                y[i] = e / (1 + e)


cdef inline void _backward(int act, const floating* dy, const floating* y, floating* dx,
                           Py_ssize_t n, floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    if act == RELU:
        for i in range(n):
            dx[i] = dy[i] if y[i] > 0 else 0
    elif act == LEAKY_RELU:
        for i in range(n):
            dx[i] = dy[i] if y[i] > 0 else alpha * dy[i]
    elif act == TANH:
        for i in range(n):
            dx[i] = dy[i] * (1 - y[i] * y[i])
    else:
        for i in range(n):
            dx[i] = dy[i] * y[i] * (1 - y[i])


def activation_forward(int act,
                       const floating[::1] x,   # IN  (size,)
                       floating[::1] y,         # OUT (size,)
                       double alpha,
                       int n_threads):
    cdef Py_ssize_t n = x.shape[0], b, lo
    with nogil:
        for b in prange(n_blocks(n, BLOCK), num_threads=n_threads, schedule='static',
                        use_threads_if=n >= PARALLEL_MIN):
            lo = b * BLOCK
            _forward(act, &x[lo], &y[lo], min(BLOCK, n - lo), <floating> alpha)


def activation_backward(int act,
                        const floating[::1] dy,  # IN  (size,)
                        const floating[::1] y,   # IN  (size,) forward output
                        floating[::1] dx,        # OUT (size,)
                        double alpha,
                        int n_threads):
    cdef Py_ssize_t n = y.shape[0], b, lo
    with nogil:
        for b in prange(n_blocks(n, BLOCK), num_threads=n_threads, schedule='static',
                        use_threads_if=n >= PARALLEL_MIN):
            lo = b * BLOCK
            _backward(act, &dy[lo], &y[lo], &dx[lo], min(BLOCK, n - lo), <floating> alpha)
