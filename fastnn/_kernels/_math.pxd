# Elementwise math in the precision of the data (expf for float32, exp for
# float64), and the selects of ReLU-like code (and the two-sided sigmoid)
# written as C ternaries.
#
# Cython turns `a if c else b` into an if/else block, which gcc does not
# vectorize: on data with random signs every element then pays a branch
# misprediction (7.6 ns per element for a ReLU backward). A C ternary on
# plain values becomes a vector compare and mask. NaN keeps flowing: every
# select keeps v when its test is false for NaN.

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf

cdef extern from *:
    """
    static inline float  fastnn_relu_f(float v)  { return v < 0.0f ? 0.0f : v; }
    static inline double fastnn_relu_d(double v) { return v < 0.0 ? 0.0 : v; }
    static inline float  fastnn_leaky_f(float v, float a)    { return v < 0.0f ? a * v : v; }
    static inline double fastnn_leaky_d(double v, double a)  { return v < 0.0 ? a * v : v; }
    static inline float  fastnn_mask_f(float m, float v)     { return m > 0.0f ? v : 0.0f; }
    static inline double fastnn_mask_d(double m, double v)   { return m > 0.0 ? v : 0.0; }
    static inline float  fastnn_leaky_mask_f(float m, float v, float a)    { return m > 0.0f ? v : a * v; }
    static inline double fastnn_leaky_mask_d(double m, double v, double a) { return m > 0.0 ? v : a * v; }
    /* 1 / (1 + exp(-x)) without overflow: e = exp(-|x|) <= 1 */
    static inline float  fastnn_sigmoid_f(float x)  { float e = expf(-fabsf(x)); float r = 1.0f / (1.0f + e); return x >= 0.0f ? r : e * r; }
    static inline double fastnn_sigmoid_d(double x) { double e = exp(-fabs(x)); double r = 1.0 / (1.0 + e); return x >= 0.0 ? r : e * r; }
    """
    float fastnn_relu_f(float v) noexcept nogil
    double fastnn_relu_d(double v) noexcept nogil
    float fastnn_leaky_f(float v, float a) noexcept nogil
    double fastnn_leaky_d(double v, double a) noexcept nogil
    float fastnn_mask_f(float m, float v) noexcept nogil
    double fastnn_mask_d(double m, double v) noexcept nogil
    float fastnn_leaky_mask_f(float m, float v, float a) noexcept nogil
    double fastnn_leaky_mask_d(double m, double v, double a) noexcept nogil
    float fastnn_sigmoid_f(float x) noexcept nogil
    double fastnn_sigmoid_d(double x) noexcept nogil


cdef inline floating fexp(floating x) noexcept nogil:
    if floating is float:
        return expf(x)
    else:
        return exp(x)


cdef inline floating ftanh(floating x) noexcept nogil:
    if floating is float:
        return tanhf(x)
    else:
        return tanh(x)


cdef inline floating relu(floating v) noexcept nogil:
    """max(v, 0), NaN kept."""
    if floating is float:
        return fastnn_relu_f(v)
    else:
        return fastnn_relu_d(v)


cdef inline floating leaky(floating v, floating a) noexcept nogil:
    """v if v >= 0 else a * v."""
    if floating is float:
        return fastnn_leaky_f(v, a)
    else:
        return fastnn_leaky_d(v, a)


cdef inline floating mask(floating m, floating v) noexcept nogil:
    """v where m > 0, else 0 (a ReLU's gradient, m its output)."""
    if floating is float:
        return fastnn_mask_f(m, v)
    else:
        return fastnn_mask_d(m, v)


cdef inline floating leaky_mask(floating m, floating v, floating a) noexcept nogil:
    """v where m > 0, else a * v (a leaky ReLU's gradient, m its output)."""
    if floating is float:
        return fastnn_leaky_mask_f(m, v, a)
    else:
        return fastnn_leaky_mask_d(m, v, a)


cdef inline floating sigmoid(floating x) noexcept nogil:
    """1 / (1 + exp(-x)), without overflow for any x."""
    if floating is float:
        return fastnn_sigmoid_f(x)
    else:
        return fastnn_sigmoid_d(x)
