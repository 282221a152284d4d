"""Where a torch step's time goes: ``python -m benchmarks.profile --preset seed-cnn --batch 256 --mode train``.

Runs the same step as the ``torch`` engine (``torch_impl.runtime``), profiles a few steps with
``torch.profiler`` and splits the wall time into the parts the README discusses: the per-frame
frontend (fused conv + max-pool, or conv, pool and activation ops), the LSTM, the optimizer, and
the rest. ``--layer-by-layer`` runs the frontend unfused, as before the fused op.
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from benchmarks.cases import Case
from benchmarks.torch_runner import build_step
from lstm2d.presets import get_preset

PARTS = {
    "frontend (conv, pool, activation)": (
        "lstm2d::conv_max_pool",
        "aten::conv2d",
        "aten::convolution_backward",
        "aten::max_pool2d",
        "aten::max_pool2d_with_indices_backward",
        "aten::relu",
        "aten::threshold_backward",
    ),
    "LSTM": ("aten::lstm", "aten::mkldnn_rnn_layer", "aten::_cudnn_rnn"),
    "optimizer": ("Optimizer.step",),
}


def _part(name: str) -> str | None:
    for part, prefixes in PARTS.items():
        if any(name.startswith(prefix) for prefix in prefixes):
            return part
    return None


def breakdown(case: Case, *, steps: int = 3, layer_by_layer: bool = False) -> dict[str, float]:
    """Seconds per step in each part (outermost matching op, so nothing counts twice) and in total."""
    device = torch.device(case.device)
    step = build_step(case, case.spec(), device, layer_by_layer=layer_by_layer)
    for _ in range(case.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for _ in range(steps):
            with record_function("step"):
                step()
        total = time.perf_counter() - started
    seconds: dict[str, float] = defaultdict(float)
    for event in prof.events():
        part = _part(event.name)
        if part is None:
            continue
        parent = event.cpu_parent
        while parent is not None and _part(parent.name) is None:
            parent = parent.cpu_parent
        if parent is None:  # outermost op of its part
            seconds[part] += event.cpu_time_total / 1e6 / steps
    result = {part: seconds.get(part, 0.0) for part in PARTS}
    result["other"] = total / steps - sum(result.values())
    result["total"] = total / steps
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="seed-cnn")
    parser.add_argument("--mode", choices=("train", "infer"), default="train")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--timesteps", type=int, default=100)
    parser.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--layer-by-layer", action="store_true", help="run the frontend unfused")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    inp = get_preset(args.preset).input
    case = Case("torch", args.preset, args.mode, args.batch, args.timesteps, inp.height, inp.width, inp.channels, args.dtype)
    parts = breakdown(case, layer_by_layer=args.layer_by_layer)
    total = parts.pop("total")
    print(f"{case.label}, {torch.get_num_threads()} threads{', layer by layer' if args.layer_by_layer else ''}:")
    print(f"  {'step':36s} {1e3 * total:8.1f} ms  {case.batch / total:8.0f} samples/s")
    for part, seconds in parts.items():
        print(f"  {part:36s} {1e3 * seconds:8.1f} ms  {100 * seconds / total:5.1f}%")


if __name__ == "__main__":
    main()
