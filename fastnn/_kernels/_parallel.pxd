# How work is cut up for threads, shared by every kernel.
#
# Elementwise work: blocks of BLOCK elements (or rows), handed out by a
# static prange, which forks only when the whole job has at least
# PARALLEL_MIN elements: below that, forking costs more than it saves.
#
# Reductions (column sums over a batch): the rows are cut into chunks of
# about CHUNK_ELEMS elements (at most MAX_CHUNKS chunks), whose bounds depend
# on the shape alone; each chunk writes its own partial sums and the
# partials are merged in chunk order. So a reduction gives the same bits
# with 1 thread or 2. A chunk is small enough to stay in cache for a second
# pass over it (batch norm's squared deviations).

cdef enum:
    PARALLEL_MIN = 32768     # elements; below this a kernel runs serially
    BLOCK = 8192             # elements per block of elementwise work
    CHUNK_ELEMS = 65536      # elements per reduction chunk, about
    MAX_CHUNKS = 256         # reduction chunks at most


cdef inline Py_ssize_t n_blocks(Py_ssize_t n, Py_ssize_t block) noexcept nogil:
    return (n + block - 1) // block


cdef inline Py_ssize_t n_chunks(Py_ssize_t n_rows, Py_ssize_t d) noexcept nogil:
    cdef Py_ssize_t rows = max(1, CHUNK_ELEMS // max(d, 1))
    return min(max(1, (n_rows + rows - 1) // rows), MAX_CHUNKS)


cdef inline Py_ssize_t chunk_start(Py_ssize_t c, Py_ssize_t n_chunks_, Py_ssize_t n_rows) noexcept nogil:
    return c * n_rows // n_chunks_
