"""What every test run prints first: the CPU and the limits on the kernels each framework may pick on it.

Results that depend on the kernels (oneDNN, MKL, Eigen and XLA choose by instruction set: AVX2, AVX-512,
AMX) must not decide a test; the header says which ones a failing run had, and ``make test-portable``
limits them all to AVX2.
"""

from __future__ import annotations

import os

KERNEL_LIMITS = ("ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY", "XLA_FLAGS")


def pytest_report_header() -> str:
    import torch

    from benchmarks.environment import cpu_flags, cpu_model

    isa = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in cpu_flags()]
    limits = ", ".join(f"{name}={os.environ[name]}" for name in KERNEL_LIMITS if name in os.environ) or "none"
    return (
        f"cpu: {cpu_model()} ({' '.join(isa) or 'no AVX2'}); torch CPU kernels {torch.backends.cpu.get_cpu_capability()}; "
        f"kernel limits: {limits}"
    )
