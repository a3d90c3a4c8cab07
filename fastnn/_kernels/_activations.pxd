# Elementwise activations, forward and backward, on flat arrays.
#
# Each backward takes the forward *output* y, which is all it needs:
#     relu:        dx = dy * [y > 0]
#     leaky_relu:  dx = dy * (1 if y > 0 else alpha)      (alpha >= 0)
#     tanh:        dx = dy * (1 - y^2)
#     sigmoid:     dx = dy * y * (1 - y)
# NaN passes through every forward (relu(NaN) is NaN), so a diverging
# network shows itself in the loss. The sigmoid never overflows (see
# _math.pxd).
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange

from fastnn._kernels._math cimport ftanh, leaky, leaky_mask, mask, relu, sigmoid
from fastnn._kernels._op cimport Ctx, Op, OpKind, no_arrays, no_scratch
from fastnn._kernels._parallel cimport PARALLEL_MIN, BLOCK, n_blocks

cdef enum:
    RELU = 0
    LEAKY_RELU = 1
    TANH = 2
    SIGMOID = 3


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
        act_backward(op.f[0], <const double*> dy, <const double*> y, <double*> dx,
                     c.n * op.n_out, op.v[0], c.n_threads)
    else:
        act_backward(op.f[0], <const float*> dy, <const float*> y, <float*> dx,
                     c.n * op.n_out, <float> op.v[0], c.n_threads)


cdef inline OpKind activation_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _op_forward, _op_backward, _op_forward
    k.scratch, k.array_size = no_scratch, no_arrays
    return k


# ---------------------------------------------------------------- kernels


cdef inline void act_forward(int act, const floating* x, floating* y, Py_ssize_t size,
                             floating alpha, int n_threads) noexcept nogil:
    cdef Py_ssize_t b
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        _forward(act, x + b * BLOCK, y + b * BLOCK, min(BLOCK, size - b * BLOCK), alpha)


cdef inline void act_backward(int act, const floating* dy, const floating* y, floating* dx,
                              Py_ssize_t size, floating alpha, int n_threads) noexcept nogil:
    cdef Py_ssize_t b
    for b in prange(n_blocks(size, BLOCK), num_threads=n_threads, schedule='static',
                    use_threads_if=size >= PARALLEL_MIN):
        _backward(act, dy + b * BLOCK, y + b * BLOCK, dx + b * BLOCK,
                  min(BLOCK, size - b * BLOCK), alpha)


cdef inline void _forward(int act, const floating* x, floating* y, Py_ssize_t n,
                          floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    if act == RELU:
        for i in range(n):
            y[i] = relu(x[i])
    elif act == LEAKY_RELU:
        for i in range(n):
            y[i] = leaky(x[i], alpha)
    elif act == TANH:
        for i in range(n):
            y[i] = ftanh(x[i])
    else:
        for i in range(n):
            y[i] = sigmoid(x[i])


cdef inline void _backward(int act, const floating* dy, const floating* y, floating* dx,
                           Py_ssize_t n, floating alpha) noexcept nogil:
    cdef Py_ssize_t i
    if act == RELU:
        for i in range(n):
            dx[i] = mask(y[i], dy[i])
    elif act == LEAKY_RELU:
        for i in range(n):
            dx[i] = leaky_mask(y[i], dy[i], alpha)
    elif act == TANH:
        for i in range(n):
            dx[i] = dy[i] * (1 - y[i] * y[i])
    else:
        for i in range(n):
            dx[i] = dy[i] * y[i] * (1 - y[i])
