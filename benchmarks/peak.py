"""The machine's measured matrix-multiply peak, the reference every throughput is read against.

Square ``torch.mm`` at a few sizes (oneDNN/MKL on CPU, cuBLAS on CUDA), timed like the model
steps; the best size's FLOP/s is the peak. fp32 always; bf16 on the CPU (flagged whether the
CPU has native bf16 instructions: without them the figure is an emulation's); on CUDA also TF32
and fp16. Also what torch itself runs with: threads, oneDNN, cuDNN and the TF32 switches.
"""

from __future__ import annotations

from typing import Any

import torch

from benchmarks.environment import native_bf16
from benchmarks.timing import time_step

SIZES = (1024, 2048, 3072)


def matmul_gflops(n: int, dtype: torch.dtype, device: torch.device, *, min_run_time: float) -> float:
    """GFLOP/s of an ``n x n @ n x n`` product (2 n^3 FLOPs)."""
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, generator=generator, device=device).to(dtype)
    b = torch.randn(n, n, generator=generator, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults
    timing = time_step(lambda: torch.mm(a, b), min_run_time=min_run_time, min_blocks=3, device=device.type)
    return 2 * n**3 / timing.median / 1e9


def _peak(dtype: torch.dtype, device: torch.device, sizes: tuple[int, ...], min_run_time: float) -> dict[str, Any]:
    by_size = {str(n): round(matmul_gflops(n, dtype, device, min_run_time=min_run_time), 2) for n in sizes}
    best = max(by_size, key=lambda n: by_size[n])
    return {"gflops": by_size[best], "size": int(best), "by_size": by_size}


def measure_peaks(device: torch.device, *, sizes: tuple[int, ...] = SIZES, min_run_time: float = 1.0) -> dict[str, Any]:
    """``{"fp32": {"gflops": ..., "size": ..., "by_size": {...}}, "bf16": {...}, ...}`` for ``device``."""
    peaks: dict[str, Any] = {}
    if device.type == "cuda":
        saved = torch.backends.cuda.matmul.allow_tf32
        try:
            for name, tf32, dtype in (("fp32", False, torch.float32), ("tf32", True, torch.float32)):
                torch.backends.cuda.matmul.allow_tf32 = tf32
                peaks[name] = _peak(dtype, device, sizes, min_run_time)
        finally:
            torch.backends.cuda.matmul.allow_tf32 = saved
        peaks["bf16"] = _peak(torch.bfloat16, device, sizes, min_run_time)
        peaks["fp16"] = _peak(torch.float16, device, sizes, min_run_time)
        return peaks
    peaks["fp32"] = _peak(torch.float32, device, sizes, min_run_time)
    peaks["bf16"] = _peak(torch.bfloat16, device, sizes, min_run_time) | {"native": native_bf16()}
    return peaks


def torch_runtime(device: torch.device) -> dict[str, Any]:
    """What torch runs with: threads, oneDNN/MKL, cuDNN and TF32 (TF32 is what a plain fp32 step gets)."""
    info: dict[str, Any] = {
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
        "mkl": torch.backends.mkl.is_available(),
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    }
    if device.type == "cuda":
        info |= {
            "gpu": torch.cuda.get_device_name(device),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_enabled": torch.backends.cudnn.enabled,
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        }
    return info
