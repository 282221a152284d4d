"""Which fused kernels a torch step really ran, read from the profiler rather than assumed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

KERNELS = {
    "aten::mkldnn_rnn_layer": "oneDNN LSTM",
    "aten::_cudnn_rnn": "cuDNN LSTM",
    "aten::lstm_cell": "LSTM cell per step (unfused)",
    "lstm2d::conv_max_pool": "lstm2d conv + max-pool (chunked im2col matmul)",
    "aten::mkldnn_convolution": "oneDNN convolution",
    "aten::cudnn_convolution": "cuDNN convolution",
    "aten::max_pool2d_with_indices": "max-pool",
    "aten::addmm": "addmm",
    "aten::mm": "mm",
}
"""Ops whose presence says which kernels a step used (dispatched ops are visible compiled or not)."""


def kernels_used(step: Callable[[], Any], device: torch.device) -> list[str]:
    """The :data:`KERNELS` one call of ``step`` dispatches (none under CUDA graphs: a replay dispatches nothing)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        step()
    names = {event.key for event in prof.key_averages()}
    return [f"{label} ({op})" for op, label in KERNELS.items() if op in names]
