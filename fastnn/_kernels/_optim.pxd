# Optimizer updates, fused elementwise, in place, on flat arrays.
#
# The moving averages are exponentially weighted (beta * avg + (1 - beta) * new):
#     sgd:       w -= lr * g
#     momentum:  v = beta * v + (1 - beta) * g;               w -= lr * v
#     rmsprop:   s = beta2 * s + (1 - beta2) * g^2;           w -= lr * g / (sqrt(s) + eps)
#     adam:      m = beta1 * m + (1 - beta1) * g
#                v = beta2 * v + (1 - beta2) * g^2
#                w -= lr * (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - beta1^t, c2 = 1 - beta2^t
# The caller passes the step number t (counting from 1).
# Adam is computed in the equivalent order of Kingma & Ba (2015, sec. 2),
#     w -= (lr * sqrt(c2) / c1) * m / (sqrt(v) + eps * sqrt(c2)),
# one division and one square root per parameter instead of three and one:
# the update is compute-bound, not memory-bound.
# A model keeps all its parameters in one flat buffer, so one call updates
# them all.
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport pow, sqrt, sqrtf

from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

cdef enum:
    SGD = 0
    MOMENTUM = 1
    RMSPROP = 2
    ADAM = 3


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void optim_update(int rule,
                              floating* w,            # IN/OUT (size,) parameters
                              const floating* g,      # IN     (size,) gradients
                              floating* s1,           # IN/OUT (size,) first moment, or NULL
                              floating* s2,           # IN/OUT (size,) second moment, or NULL
                              Py_ssize_t size,
                              double lr, double beta1, double beta2, double eps,
                              long t, int n_threads) noexcept nogil:
    cdef Py_ssize_t b, lo
    cdef double root_c2
    if rule == ADAM:        # fold the bias corrections into the step and eps
        root_c2 = sqrt(1.0 - pow(beta2, t))
        lr, eps = lr * root_c2 / (1.0 - pow(beta1, t)), eps * root_c2
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        lo = b * BLOCK
        _update(rule, w + lo, g + lo, NULL if s1 == NULL else s1 + lo,
                NULL if s2 == NULL else s2 + lo, min(BLOCK, size - lo),
                <floating> lr, <floating> beta1, <floating> beta2, <floating> eps)


cdef inline void _update(int rule, floating* w, const floating* g, floating* s1,
                         floating* s2, Py_ssize_t n, floating lr, floating b1,
                         floating b2, floating eps) noexcept nogil:
    cdef Py_ssize_t i
    if rule == SGD:
        for i in range(n):
            w[i] -= lr * g[i]
    elif rule == MOMENTUM:
        for i in range(n):
            s1[i] = b1 * s1[i] + (1 - b1) * g[i]
            w[i] -= lr * s1[i]
    elif rule == RMSPROP:
        for i in range(n):
            s2[i] = b2 * s2[i] + (1 - b2) * g[i] * g[i]
            w[i] -= lr * g[i] / (_sqrt(s2[i]) + eps)
    else:
        for i in range(n):
            s1[i] = b1 * s1[i] + (1 - b1) * g[i]
            s2[i] = b2 * s2[i] + (1 - b2) * g[i] * g[i]
            w[i] -= lr * s1[i] / (_sqrt(s2[i]) + eps)
