# Optimizer updates, fused elementwise, in place, on flat arrays.
#
# The moving averages are exponentially weighted (beta * avg + (1 - beta) * new):
#     sgd:       w -= lr * g
#     momentum:  v = beta * v + (1 - beta) * g;               w -= lr * v
#     rmsprop:   s = beta2 * s + (1 - beta2) * g^2;           w -= lr * g / (sqrt(s) + eps)
#     adam:      m = beta1 * m + (1 - beta1) * g
#                v = beta2 * v + (1 - beta2) * g^2
#                w -= lr * (m / c1) / (sqrt(v / c2) + eps),  c1 = 1 - beta1^t, c2 = 1 - beta2^t
# The caller passes the bias corrections c1, c2 (t counts steps from 1).
# A model keeps all its parameters in one flat buffer, so one call updates
# them all.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sqrt, sqrtf

from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

cdef enum Rule:
    SGD = 0
    MOMENTUM = 1
    RMSPROP = 2
    ADAM = 3

RULES = {"sgd": SGD, "momentum": MOMENTUM, "rmsprop": RMSPROP, "adam": ADAM}


cdef inline floating _sqrt(floating x) noexcept nogil:
    if floating is float:
        return sqrtf(x)
    else:
        return sqrt(x)


cdef inline void _update(int rule, floating* w, const floating* g, floating* s1,
                         floating* s2, Py_ssize_t n, floating lr, floating b1,
                         floating b2, floating eps, floating c1,
                         floating c2) noexcept nogil:
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
            w[i] -= lr * (s1[i] / c1) / (_sqrt(s2[i] / c2) + eps)


def update(int rule,
           floating[::1] w,         # IN/OUT (size,) parameters
           const floating[::1] g,   # IN     (size,) gradients
           floating[::1] s1,        # IN/OUT (size,) first moment (momentum, adam) or None
           floating[::1] s2,        # IN/OUT (size,) second moment (rmsprop, adam) or None
           double lr, double beta1, double beta2, double eps,
           double c1, double c2,
           int n_threads):
    cdef Py_ssize_t n = w.shape[0], b, lo
    cdef floating* p1 = NULL if s1 is None else &s1[0]
    cdef floating* p2 = NULL if s2 is None else &s2[0]
    with nogil:
        for b in prange(n_blocks(n, BLOCK), num_threads=n_threads, schedule='static',
                        use_threads_if=n >= PARALLEL_MIN):
            lo = b * BLOCK
            _update(rule, &w[lo], &g[lo], p1 + lo if p1 != NULL else NULL,
                    p2 + lo if p2 != NULL else NULL, min(BLOCK, n - lo),
                    <floating> lr, <floating> beta1, <floating> beta2,
                    <floating> eps, <floating> c1, <floating> c2)
