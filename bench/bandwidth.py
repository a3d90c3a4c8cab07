"""Copy bandwidth: ``np.copyto`` of a large float32 array, (bytes read + written) / time.

At 1 thread one ``np.copyto``; at ``t`` threads, ``t`` Python threads each
copying a slice (NumPy releases the GIL while it copies). The arrays are
larger than the last-level cache, so this is memory bandwidth.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from timing import best, interleave, time_calls

COPY_BYTES = 256 << 20      # per array
QUICK_COPY_BYTES = 64 << 20  # a quick run's: still twice a 32 MB last-level cache


def copy_bandwidth(threads: tuple[int, ...], repeats: int, nbytes: int = COPY_BYTES
                   ) -> dict[int, float]:
    """Bytes per second of a large copy at each thread count (best of interleaved repeats)."""
    src = np.ones(nbytes // 4, np.float32)
    dst = np.empty_like(src)
    pools = {t: ThreadPoolExecutor(t) for t in threads if t > 1}

    def copier(t: int):
        if t == 1:
            return lambda: np.copyto(dst, src)
        cuts = np.linspace(0, src.size, t + 1).astype(int)
        parts = [(dst[a:b], src[a:b]) for a, b in zip(cuts[:-1], cuts[1:])]
        return lambda: list(pools[t].map(lambda p: np.copyto(*p), parts))

    try:
        runs = {t: (lambda fn=copier(t): time_calls(fn, 3)) for t in threads}
        return {t: 2 * src.nbytes / s for t, s in best(interleave(runs, repeats)).items()}
    finally:
        for pool in pools.values():
            pool.shutdown()
