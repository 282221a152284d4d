"""The machine and the software a run measured: CPU model and flags, memory, package versions. Imports no framework."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from pathlib import Path

THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "KMP_BLOCKTIME",
    "MKL_NUM_THREADS",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
    "XLA_FLAGS",
)
"""Environment variables that change how the frameworks thread (recorded with every run)."""
PACKAGES = ("torch", "numpy", "keras", "tensorflow-cpu", "tensorflow", "jax", "jaxlib", "matplotlib")
MATMUL_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    """E.g. ``AMD EPYC 9R14 96-Core Processor`` (``AMD EPYC`` in VMs that hide the exact part)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_flags() -> set[str]:
    return set(_cpuinfo().get("flags", "").split())


def native_bf16() -> bool:
    """Whether the CPU multiplies bf16 in hardware (AVX512-BF16 or AMX-BF16)."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def memory_bytes() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def machine() -> dict[str, object]:
    flags = cpu_flags()
    return {
        "cpu": cpu_model(),
        "cpu_vendor": _cpuinfo().get("vendor_id", ""),
        "cpu_family_model": f"{_cpuinfo().get('cpu family', '?')}/{_cpuinfo().get('model', '?')}",
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "matmul_flags": sorted(flag for flag in MATMUL_FLAGS if flag in flags),
        "native_bf16": native_bf16(),
        "memory_bytes": memory_bytes(),
        "os": platform.platform(),
    }


def versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (nothing is imported)."""
    found: dict[str, str | None] = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def thread_environment() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}


def load_average() -> list[float] | None:
    """1, 5 and 15-minute load averages: other work on the machine while it was measured."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None
