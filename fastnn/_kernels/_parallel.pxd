# How work is cut up for threads, shared by every kernel.
#
# Elementwise work: blocks of BLOCK elements (or rows), handed out by a
# static prange, which forks only when the whole job has at least
# PARALLEL_MIN elements: below that, forking costs more than it saves.
#
# Reductions (column sums over a batch): the rows are cut into at most
# MAX_CHUNKS chunks whose bounds depend on the number of rows alone; each
# chunk writes its own partial sums and the partials are merged in chunk
# order. So a reduction gives the same bits with 1 thread or 2.

cdef enum:
    PARALLEL_MIN = 32768     # elements; below this a kernel runs serially
    BLOCK = 8192             # elements per block of elementwise work
    MAX_CHUNKS = 16          # reduction chunks at most
    CHUNK_MIN_ROWS = 32      # rows per reduction chunk at least


cdef inline Py_ssize_t n_blocks(Py_ssize_t n, Py_ssize_t block) noexcept nogil:
    return (n + block - 1) // block


cdef inline Py_ssize_t n_chunks(Py_ssize_t n_rows) noexcept nogil:
    cdef Py_ssize_t c = n_rows // CHUNK_MIN_ROWS
    if c < 1:
        return 1
    if c > MAX_CHUNKS:
        return MAX_CHUNKS
    return c


cdef inline Py_ssize_t chunk_start(Py_ssize_t c, Py_ssize_t n_chunks_, Py_ssize_t n_rows) noexcept nogil:
    return c * n_rows // n_chunks_
