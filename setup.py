"""Build the compiled kernels.

OpenMP: the build compiles a tiny OpenMP program first. If that fails it
warns and builds serial kernels (every ``prange`` then runs on one thread).
Environment variables:

- ``FASTNN_NO_OPENMP=1``: build serial kernels even if OpenMP works;
- ``FASTNN_REQUIRE_OPENMP=1``: a missing OpenMP is an error;
- ``FASTNN_MARCH_NATIVE=1``: add ``-march=native`` (the wheel then runs
  only on CPUs like the build machine's).
"""

import os
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = Path("fastnn") / "_kernels"
OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n == omp_get_max_threads() ? 0 : 1;
    }
    """
)


def _flag(name):
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _openmp_flags(compiler):
    """Return the compile/link flags that turn OpenMP on, or None if it does not work."""
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    for cflags, ldflags in candidates:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "omp_probe.c"
            src.write_text(OPENMP_TEST)
            try:
                objs = compiler.compile([str(src)], output_dir=tmp, extra_postargs=cflags)
                exe = str(Path(tmp) / "omp_probe")
                compiler.link_executable(objs, exe, extra_postargs=ldflags)
            except Exception:  # any compiler or linker failure means "no OpenMP"
                continue
        return cflags, ldflags
    return None


class BuildExt(build_ext):
    def build_extensions(self):
        cflags, ldflags = [], []
        if _flag("FASTNN_NO_OPENMP"):
            print("fastnn: FASTNN_NO_OPENMP set, building serial kernels")
        else:
            found = _openmp_flags(self.compiler)
            if found is not None:
                cflags, ldflags = found
                print(f"fastnn: OpenMP enabled ({' '.join(cflags)})")
            elif _flag("FASTNN_REQUIRE_OPENMP"):
                sys.exit("fastnn: FASTNN_REQUIRE_OPENMP is set but the compiler cannot build OpenMP code")
            else:
                warnings.warn(
                    "fastnn: the compiler cannot build OpenMP code; building serial kernels "
                    "(install an OpenMP runtime, e.g. libgomp, for multi-threaded kernels)"
                )
        if self.compiler.compiler_type != "msvc":
            # -fno-math-errno lets sqrt vectorize, -fno-trapping-math lets selects
            # next to float-to-int conversions vectorize (the exp in softmax);
            # neither changes a result: the kernels never read errno or FP flags
            cflags = ["-O3", "-fno-math-errno", "-fno-trapping-math", *cflags]
            if _flag("FASTNN_MARCH_NATIVE"):
                cflags.append("-march=native")
        for ext in self.extensions:
            ext.extra_compile_args = [*ext.extra_compile_args, *cflags]
            ext.extra_link_args = [*ext.extra_link_args, *ldflags]
        super().build_extensions()


def extensions():
    from Cython.Build import cythonize

    exts = [
        Extension(f"fastnn._kernels.{pyx.stem}", [str(pyx)])
        for pyx in sorted(KERNELS.glob("*.pyx"))
    ]
    return cythonize(
        exts,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "freethreading_compatible": True,
        },
    )


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExt})
