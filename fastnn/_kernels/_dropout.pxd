# Inverted dropout, training only: y = x * keep / (1 - rate), with keep
# drawn per element, so test time needs nothing (the op is the identity).
#
# The keep mask comes from a counter-based generator: element (row, unit)
# of training step `step` in dropout layer `layer` is kept when
#     h = mix(mix(mix(seed + step * G1 + layer) ^ row * G2) + unit * G1)
#     h >> 32 >= floor(rate * 2^32)
# with mix the splitmix64 finalizer (Steele, Lea & Flood 2014). Nothing is
# stored: the backward pass draws the same mask again, dx = dy * keep /
# (1 - rate). The mask depends on (seed, step, layer, row, unit) alone, so
# it is the same at any thread count and on any machine, and
# fastnn._reference.dropout_mask computes it in NumPy.
#
# Cores: raw pointers, no GIL.

from cython cimport floating
from cython.parallel cimport prange
from libc.stdint cimport int64_t, uint32_t, uint64_t

from fastnn._kernels._op cimport Ctx, Op, OpKind, no_arrays, no_scratch
from fastnn._kernels._parallel cimport PARALLEL_MIN

cdef extern from *:
    """
    #define FASTNN_G1 0x9E3779B97F4A7C15ULL
    #define FASTNN_G2 0xD1B54A32D192ED03ULL
    static inline unsigned long long fastnn_mix64(unsigned long long z) {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    """
    uint64_t fastnn_mix64(uint64_t z) noexcept nogil
    uint64_t G1 "FASTNN_G1"
    uint64_t G2 "FASTNN_G2"

cdef enum:
    DROP_LAYER = 0           # f[0]: the layer's index, so two dropout layers draw apart


cdef inline uint64_t dropout_row_key(uint64_t seed, int64_t step, int layer,
                                     Py_ssize_t row) noexcept nogil:
    cdef uint64_t k = fastnn_mix64(seed + <uint64_t> step * G1 + <uint64_t> layer)
    return fastnn_mix64(k ^ (<uint64_t> row * G2))


cdef inline uint32_t dropout_threshold(double rate) noexcept nogil:
    return <uint32_t> (rate * 4294967296.0)


cdef inline void dropout_rows(const floating* x,     # IN  (n, d)
                              floating* y,           # OUT (n, d); may be x
                              Py_ssize_t n, Py_ssize_t d, double rate,
                              uint64_t seed, int64_t step, int layer,
                              int n_threads) noexcept nogil:
    """y = x * keep / (1 - rate): the forward pass, and (with dy for x) the backward."""
    cdef Py_ssize_t i
    cdef uint32_t thr = dropout_threshold(rate)
    cdef floating scale = <floating> (1.0 / (1.0 - rate))
    for i in prange(n, num_threads=n_threads, schedule='static',
                    use_threads_if=n * d >= PARALLEL_MIN):
        _drop_row(x + i * d, y + i * d, d, dropout_row_key(seed, step, layer, i), thr, scale)


cdef inline void _drop_row(const floating* x, floating* y, Py_ssize_t d, uint64_t key,
                           uint32_t thr, floating scale) noexcept nogil:
    cdef Py_ssize_t j
    cdef uint32_t u
    for j in range(d):
        u = <uint32_t> (fastnn_mix64(key + <uint64_t> j * G1) >> 32)
        y[j] = x[j] * (<floating> (u >= thr) * scale)


# ---------------------------------------------------------------- the op
# No arrays. v[0] the rate in [0, 1); f[0] the layer's index.

cdef inline void _op_forward(const Op* op, const char* x, char* y, const Ctx* c) noexcept nogil:
    if c.is_double:
        dropout_rows(<const double*> x, <double*> y, c.n, op.n_out, op.v[0], c.seed, c.step,
                     op.f[DROP_LAYER], c.n_threads)
    else:
        dropout_rows(<const float*> x, <float*> y, c.n, op.n_out, op.v[0], c.seed, c.step,
                     op.f[DROP_LAYER], c.n_threads)


cdef inline void _op_backward(const Op* op, const char* x, const char* y, char* dy, char* dx,
                              const Ctx* c) noexcept nogil:
    if dx != NULL:
        _op_forward(op, dy, dx, c)


cdef inline OpKind dropout_kind() noexcept nogil:
    cdef OpKind k
    k.forward, k.backward, k.infer = _op_forward, _op_backward, NULL
    k.scratch, k.array_size = no_scratch, no_arrays
    return k
