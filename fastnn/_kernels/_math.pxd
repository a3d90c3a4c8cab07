# exp and tanh in the precision of the data: expf for float32, exp for float64.

from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf


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
