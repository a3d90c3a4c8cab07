"""bench/profile_w1.py sorts perf's samples into the parts of a training step.

The profile itself needs ``perf`` and whole seconds of training; what is
tested here is the sorting, on samples written as ``perf script -F
tid,ip,sym,dso`` prints them with call chains.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bench"))

import profile_w1  # noqa: E402

SCRIPT = """\
100 
\t    7f01 sgemm_kernel_HASWELL (/venv/lib/libscipy_openblas32.so)
\t    7f02 __pyx_f_6fastnn_8_kernels_8_network__step (/venv/fastnn/_kernels/_network.so)

100 
\t    7f03 __memmove_avx_unaligned_erms (/usr/lib/x86_64-linux-gnu/libc.so.6)
\t    7f04 __pyx_f_6fastnn_8_kernels_8_network__epoch (/venv/fastnn/_kernels/_network.so)

101 
\t    7f05 __pyx_f_6fastnn_8_kernels_6_optim_adam_rows (/venv/fastnn/_kernels/_optim.so)

101 
\tffffffff8100 asm_exc_page_fault ([kernel.kallsyms])
\t    7f06 __pyx_f_6fastnn_8_kernels_10_batchnorm_bn_forward (/venv/fastnn/_kernels/_network.so)

100 
\t    7f07 gomp_team_barrier_wait_end (/usr/lib/x86_64-linux-gnu/libgomp.so.1)

"""


def test_samples_go_to_their_parts_and_libc_to_its_caller():
    counts, main, symbols = profile_w1.attribute(SCRIPT, main_tid=100)
    assert counts == {"GEMMs (BLAS)": 1, "batch gather, epoch loop": 1, "optimizer update": 1,
                      "kernel": 1, "OpenMP fork, join, waiting": 1}
    assert main == {"GEMMs (BLAS)": 1, "batch gather, epoch loop": 1,
                    "OpenMP fork, join, waiting": 1}
    # the copy in libc is counted for the epoch loop that called it
    assert symbols["batch gather, epoch loop",
                   "__pyx_f_6fastnn_8_kernels_8_network__epoch"] == 1


def test_report_gives_shares_and_microseconds_per_step():
    counts, main, symbols = profile_w1.attribute(SCRIPT, main_tid=100)
    r = {"counts": counts, "main": main, "symbols": symbols, "steps": 10, "wall_us": 1.0,
         "freq": 1000, "epochs": 1}
    text = profile_w1.report(32, 1, r, top=2)
    # 5 samples at 1000 Hz over 10 steps: 500 us a step, 100 us each part
    assert "| GEMMs (BLAS) | 20.0% | 100.0 | 100.0 |" in text
    assert "| **outside GEMMs** | 80.0% | 400.0 | 200.0 |" in text
    assert "| all | 100% | 500.0 | 300.0 |" in text
