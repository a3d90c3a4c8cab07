# What the build gave: OpenMP or not, and OpenMP's thread count.

from fastnn._kernels._openmp cimport FASTNN_OPENMP, omp_get_max_threads


def openmp_enabled():
    return bool(FASTNN_OPENMP)


def openmp_max_threads():
    return omp_get_max_threads()
