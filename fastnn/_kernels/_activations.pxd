# Elementwise activations, forward and backward, on flat arrays.
#
# Each activation is a row of fastnn/kinds.py and two element functions
# here, named after it:
#     <name>_forward(x, alpha) -> y
#     <name>_backward(dy, x, y, alpha) -> dx     (x the forward input, y its output)
# The build writes _kinds.pxi from fastnn/kinds.py: the loops that dispatch
# an activation's number (its row) to its functions, included at the end.
#     relu:        dx = dy * [y > 0]
#     leaky_relu:  dx = dy * (1 if y > 0 else alpha)      (alpha >= 0)
#     tanh:        dx = dy * (1 - y^2)
#     sigmoid:     dx = dy * y * (1 - y)
#     gelu:        y = x Phi(x),     dx = dy * (Phi(x) + x phi(x))
#                  (Phi, phi: the standard normal's cdf and pdf)
#     silu:        y = x sigmoid(x), dx = dy * s * (1 + x (1 - s)), s = sigmoid(x)
# GELU's Phi(x) is 0.5 * erfc(-x / sqrt(2)), exact in the far negative tail
# where 1 + erf(x / sqrt(2)) cancels; it is computed in double.
# NaN passes through every forward (relu(NaN) is NaN), so a diverging
# network shows itself in the loss. The sigmoid never overflows (see
# _math.pxd).
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport erfc, exp

from fastnn._kernels._math cimport ftanh, leaky, leaky_mask, mask, relu, sigmoid
from fastnn._kernels._op cimport Ctx, Op, OpKind, no_arrays, no_scratch
from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

# ---------------------------------------------------------------- the op
# No arrays. f[0] the activation (RELU...), v[0] leaky ReLU's alpha.

cdef inline void _op_forward(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    if c.is_double:
        act_forward(op.f[0], <const double*> x, <double*> y, c.n * op.n_out, op.v[0], c.n_threads)
    else:
        act_forward(op.f[0], <const float*> x, <float*> y, c.n * op.n_out, <float> op.v[0],
                    c.n_threads)


cdef inline void _op_backward(const Op* op, const char* x, const char* y, char* dy, char* dx,
                              const Ctx* c) noexcept nogil:
    if dx == NULL:
        return
    if c.is_double:
        act_backward(op.f[0], <const double*> dy, <const double*> x, <const double*> y,
                     <double*> dx, c.n * op.n_out, op.v[0], c.n_threads)
    else:
        act_backward(op.f[0], <const float*> dy, <const float*> x, <const float*> y,
                     <float*> dx, c.n * op.n_out, <float> op.v[0], c.n_threads)


cdef inline OpKind activation_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _op_forward, _op_backward, _op_forward
    k.scratch, k.array_size = no_scratch, no_arrays
    return k


# ---------------------------------------------------------------- the activations
# One pair per row of fastnn/kinds.py.

cdef inline floating relu_forward(floating x, floating alpha) noexcept nogil:
    return relu(x)


cdef inline floating relu_backward(floating dy, floating x, floating y,
                                   floating alpha) noexcept nogil:
    return mask(y, dy)


cdef inline floating leaky_relu_forward(floating x, floating alpha) noexcept nogil:
    return leaky(x, alpha)


cdef inline floating leaky_relu_backward(floating dy, floating x, floating y,
                                         floating alpha) noexcept nogil:
    return leaky_mask(y, dy, alpha)


cdef inline floating tanh_forward(floating x, floating alpha) noexcept nogil:
    return ftanh(x)


cdef inline floating tanh_backward(floating dy, floating x, floating y,
                                   floating alpha) noexcept nogil:
    return dy * (1 - y * y)


cdef inline floating sigmoid_forward(floating x, floating alpha) noexcept nogil:
    return sigmoid(x)


cdef inline floating sigmoid_backward(floating dy, floating x, floating y,
                                      floating alpha) noexcept nogil:
    return dy * y * (1 - y)


cdef inline floating gelu_forward(floating x, floating alpha) noexcept nogil:
    return <floating> (0.5 * x * erfc(-x * 0.7071067811865476))


cdef inline floating gelu_backward(floating dy, floating x, floating y,
                                   floating alpha) noexcept nogil:
    cdef double xd = x
    cdef double cdf = 0.5 * erfc(-xd * 0.7071067811865476)
    cdef double pdf = 0.3989422804014327 * exp(-0.5 * xd * xd)
    return <floating> (dy * (cdf + xd * pdf))


cdef inline floating silu_forward(floating x, floating alpha) noexcept nogil:
    return x * sigmoid(x)


cdef inline floating silu_backward(floating dy, floating x, floating y,
                                   floating alpha) noexcept nogil:
    cdef floating s = sigmoid(x)
    return dy * s * (1 + x * (1 - s))


include "_kinds.pxi"


# ---------------------------------------------------------------- kernels

cdef inline void act_forward(int act, const floating* x, floating* y, Py_ssize_t size,
                             floating alpha, int n_threads) noexcept nogil:
    cdef Py_ssize_t b
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        _forward(act, x + b * BLOCK, y + b * BLOCK, min(BLOCK, size - b * BLOCK), alpha)


cdef inline void act_backward(int act, const floating* dy, const floating* x,
                              const floating* y, floating* dx, Py_ssize_t size, floating alpha,
                              int n_threads) noexcept nogil:
    cdef Py_ssize_t b
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        _backward(act, dy + b * BLOCK, x + b * BLOCK, y + b * BLOCK, dx + b * BLOCK,
                  min(BLOCK, size - b * BLOCK), alpha)
