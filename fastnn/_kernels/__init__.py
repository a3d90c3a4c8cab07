"""Compiled kernels, loaded in the best variant this CPU runs.

The kernel modules (``_ops``: the wrappers behind ``fastnn.ops``;
``_network``: the compiled training loop and inference) are built for
several instruction sets: baseline x86-64 (SSE2), AVX2 with FMA, and
AVX-512, as ``_ops``, ``_ops_avx2``, ``_ops_avx512`` and so on. On first
use (``fastnn._kernels.ops``) the best one the CPU supports is loaded and
exposed as ``ops`` and ``network``; ``isa`` names it. ``FASTNN_ISA=baseline|avx2|avx512`` forces
one (an error if this CPU or build lacks it). Before that, the BLAS their
GEMMs call is chosen and bound (``_backends``: ``FASTNN_BLAS``). The kernels
trust their inputs: call them through fastnn.ops or a model.
"""

import importlib
import os
import sys

# How long an idle OpenMP thread spins before it sleeps. libgomp's default
# (300,000 spins) is right on a quiet machine and ruinous on a shared one:
# a thread spinning at a barrier while its partner waits for a core that
# another process holds halved throughput beside one busy process
# (bench/RESULTS.md, W6). 1,000 spins cost nothing measurable when quiet.
# libgomp reads GOMP_SPINCOUNT once, when it loads, which is here (the first
# module linked with OpenMP); a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins,
# and the variable is removed again so that child processes do not inherit it.
SPIN_COUNT = "1000"


def _libgomp_loaded() -> bool | None:
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:
        return None


DISTRIBUTION = "fastnn-mlp"   # the name pip knows fastnn by (PyPI's "fastnn" is another project)


def _not_built_message() -> str:
    """What happened when the fastnn being imported has no compiled kernels, and what to do."""
    import json
    import shlex

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tree = os.path.dirname(here)
    build = f"pip install -e {shlex.quote(tree)}"
    elsewhere = [p for p in sys.path if os.path.abspath(p or os.curdir) != tree]
    try:                    # the installed copy, not the build's metadata left in the tree
        from importlib.metadata import distributions

        dist = next(iter(distributions(name=DISTRIBUTION, path=elsewhere)))
        origin = json.loads(dist.read_text("direct_url.json") or "{}")
        installed = os.path.abspath(os.fspath(dist.locate_file("")))
    except (ImportError, StopIteration, ValueError):
        origin, installed = {}, None
    if origin.get("dir_info", {}).get("editable") and origin.get("url") == f"file://{tree}":
        return (f"fastnn's compiled kernels are missing from {here} (an editable install): "
                f"build them again with: {build}")
    found = f"; {DISTRIBUTION} is installed in {installed}" if installed else ""
    return (f"fastnn was imported from the source tree {tree}, whose compiled kernels are not "
            f"built (the current folder or sys.path puts that tree's fastnn/ first{found}). "
            f"Run Python from another folder to use the installed fastnn, or build the kernels "
            f"in the tree with: {build}")


def _load_info():
    """Import _info (and so the OpenMP runtime); return (module, how waiting was set)."""
    if importlib.util.find_spec(f"{__name__}._info") is None:
        raise ImportError(_not_built_message())
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        how = "as the environment sets it"
    elif _libgomp_loaded() is not False:
        how = "the OpenMP runtime's (it was loaded before fastnn)"
    else:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
        how = f"GOMP_SPINCOUNT={SPIN_COUNT} (fastnn's default)"
    try:
        from fastnn._kernels import _info as module
    finally:
        if how.startswith("GOMP_SPINCOUNT"):
            del os.environ["GOMP_SPINCOUNT"]
    return module, how


_info, wait_policy = _load_info()

ISAS = ("avx512", "avx2", "baseline")
_SUFFIX = {"avx512": "_avx512", "avx2": "_avx2", "baseline": ""}


def _load(isa: str):
    suffix = _SUFFIX[isa]
    return (importlib.import_module(f"fastnn._kernels._ops{suffix}"),
            importlib.import_module(f"fastnn._kernels._network{suffix}"))


def available_isas() -> list[str]:
    """Variants both this CPU and this build can run, best first (imports each)."""
    found = []
    for isa in _info.cpu_isas():
        try:
            _load(isa)
        except ImportError:
            continue
        found.append(isa)
    return found


def _select() -> tuple[str, object, object]:
    """The variant to use: FASTNN_ISA's, or the best that loads; the BLAS bound first."""
    from fastnn._kernels import _backends       # here, not at import: it loads ctypes

    _backends.select()
    forced = os.environ.get("FASTNN_ISA", "").strip().lower()
    if forced:
        if forced not in ISAS:
            raise ImportError(f"FASTNN_ISA={forced!r}: expected one of {', '.join(ISAS)}")
        if forced not in _info.cpu_isas():
            raise ImportError(f"FASTNN_ISA={forced}: this CPU cannot run it "
                              f"(it runs {', '.join(_info.cpu_isas())})")
        try:
            return (forced, *_load(forced))
        except ImportError as exc:
            raise ImportError(f"fastnn's {forced} kernels are not in this build ({exc}); "
                              "unset FASTNN_ISA or rebuild") from None
    for isa in _info.cpu_isas():
        try:
            return (isa, *_load(isa))
        except ImportError:
            if isa == "baseline":
                raise


def __getattr__(name: str):
    # The kernels load on first use, not at `import fastnn`: with them the BLAS
    # library (fastnn._kernels._backends), which takes most of a cold import.
    if name in ("isa", "ops", "network"):
        globals()["isa"], globals()["ops"], globals()["network"] = _select()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
