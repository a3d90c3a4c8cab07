# Elementwise math in the precision of the data, written so that gcc
# vectorizes it: the selects of ReLU-like code and the max as C ternaries,
# exp of a non-positive float32 as a polynomial (the only exps the kernels
# take are exp(z - max) and exp(-|x|)).
#
# Cython turns `a if c else b` into an if/else block, which gcc does not
# vectorize: on data with random signs every element then pays a branch
# misprediction (7.6 ns per element for a ReLU backward). A C ternary on
# plain values becomes a vector compare and mask. NaN keeps flowing: every
# select keeps v when its test is false for NaN.

from cython cimport floating
from libc.math cimport exp, tanh, tanhf

cdef extern from *:
    """
    #include <string.h>
    static inline float  fastnn_relu_f(float v)  { return v < 0.0f ? 0.0f : v; }
    static inline double fastnn_relu_d(double v) { return v < 0.0 ? 0.0 : v; }
    static inline float  fastnn_leaky_f(float v, float a)    { return v < 0.0f ? a * v : v; }
    static inline double fastnn_leaky_d(double v, double a)  { return v < 0.0 ? a * v : v; }
    static inline float  fastnn_mask_f(float m, float v)     { return m > 0.0f ? v : 0.0f; }
    static inline double fastnn_mask_d(double m, double v)   { return m > 0.0 ? v : 0.0; }
    static inline float  fastnn_leaky_mask_f(float m, float v, float a)    { return m > 0.0f ? v : a * v; }
    static inline double fastnn_leaky_mask_d(double m, double v, double a) { return m > 0.0 ? v : a * v; }
    static inline float  fastnn_max_f(float m, float v)   { return v > m ? v : m; }
    static inline double fastnn_max_d(double m, double v) { return v > m ? v : m; }
    /* exp(x) for x <= 0 (and NaN), float32, in plain arithmetic that gcc
       vectorizes (libm's expf is a call per element). Cephes' expf: x = n ln2 + r
       with |r| <= ln2 / 2, exp(r) by a degree-6 polynomial (about 1 ulp),
       2^n built in the exponent bits. Below -87.3 (exp of it is 1.2e-38, the
       smallest normal float) the result is 0; x is clamped first so that n
       always converts to int. Vectorizes with -fno-trapping-math (setup.py). */
    static inline float fastnn_expf_neg(float x) {
        float xc = x < -88.0f ? -88.0f : x;
        float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* round(x / ln2) */
        float r = (xc - n * 0.693359375f) + n * 2.12194440e-4f;
        float p = 1.9875691500e-4f;
        p = p * r + 1.3981999507e-3f;
        p = p * r + 8.3334519073e-3f;
        p = p * r + 4.1665795894e-2f;
        p = p * r + 1.6666665459e-1f;
        p = p * r + 5.0000001201e-1f;
        p = p * r * r + r + 1.0f;
        int bits = ((int) n + 127) << 23;
        float scale;
        memcpy(&scale, &bits, sizeof scale);
        return x < -87.3f ? 0.0f : p * scale;
    }
    /* 1 / (1 + exp(-x)) without overflow: e = exp(-|x|) <= 1 */
    static inline float  fastnn_sigmoid_f(float x)  { float e = fastnn_expf_neg(-fabsf(x)); float r = 1.0f / (1.0f + e); return x >= 0.0f ? r : e * r; }
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
    float fastnn_max_f(float m, float v) noexcept nogil
    double fastnn_max_d(double m, double v) noexcept nogil
    float fastnn_expf_neg(float x) noexcept nogil
    float fastnn_sigmoid_f(float x) noexcept nogil
    double fastnn_sigmoid_d(double x) noexcept nogil


cdef inline floating exp_neg(floating x) noexcept nogil:
    """exp(x) for x <= 0: vectorizable for float32 (fastnn_expf_neg), libm for float64."""
    if floating is float:
        return fastnn_expf_neg(x)
    else:
        return exp(x)


cdef inline floating fmax_(floating m, floating v) noexcept nogil:
    """v if v > m else m: a max gcc can vectorize as a reduction (NaN v is skipped)."""
    if floating is float:
        return fastnn_max_f(m, v)
    else:
        return fastnn_max_d(m, v)


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
