# Every omp_* call goes through this shim, so the kernels build (and run
# serially) without OpenMP. `prange` needs no shim: without -fopenmp its
# pragmas are ignored and the loop runs on the calling thread.

cdef extern from *:
    """
    #ifdef _OPENMP
        #include <omp.h>
        #define FASTNN_OPENMP 1
    #else
        #define FASTNN_OPENMP 0
        static inline int omp_get_max_threads(void) { return 1; }
        static inline int omp_get_thread_num(void) { return 0; }
    #endif
    """
    bint FASTNN_OPENMP
    int omp_get_max_threads() noexcept nogil
    int omp_get_thread_num() noexcept nogil
