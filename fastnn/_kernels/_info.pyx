# What the build gave (OpenMP or not, OpenMP's thread count) and what the
# CPU can run (which instruction-set variant of the kernels to load).

from fastnn._kernels._openmp cimport FASTNN_OPENMP, omp_get_max_threads

cdef extern from *:
    """
    /* 2: AVX-512 (F, CD, BW, DQ, VL), 1: AVX2 with FMA, 0: neither (or not x86-64).
       gcc's and clang's __builtin_cpu_supports also check that the OS saves the
       wide registers. */
    static int fastnn_cpu_level(void) {
    #if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
        __builtin_cpu_init();
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd")
                && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq")
                && __builtin_cpu_supports("avx512vl"))
            return 2;
        if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            return 1;
    #endif
        return 0;
    }
    """
    int fastnn_cpu_level() noexcept nogil


def openmp_enabled():
    return bool(FASTNN_OPENMP)


def openmp_max_threads():
    return omp_get_max_threads()


def cpu_isas():
    """The kernel variants this CPU can run, best first."""
    return ("avx512", "avx2", "baseline")[2 - fastnn_cpu_level():]


# An exported symbol by which threadpoolctl tells fastnn's library from other
# "_info" modules (fastnn._threads registers a controller for it).
cdef public int fastnn_threadpool_api = 1
