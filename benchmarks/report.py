"""A results document as a markdown table, the issue's targets, and a throughput-vs-batch plot.

Every comparison is a ratio between results of the same document (the same run): torch
against the best Keras engine for the same model, mode and input size, and achieved FLOP/s
against the matmul peak measured before and after the cases (the higher of the two).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import ENGINES

Result = dict[str, Any]
GROUP_FIELDS = ("preset", "mode", "batch", "timesteps", "height", "width", "channels", "device")
Group = tuple[Any, ...]  # a result's values of GROUP_FIELDS
MIB = 1024 * 1024


def summary(result: Result) -> str:
    """One progress line's worth: throughput and spread, or why there is none."""
    if result.get("status") != "ok":
        return f"{result.get('status')}: {result.get('reason')}"
    rate = result["samples_per_s"]
    return f"{rate['median']:,.0f} samples/s (middle half {rate['low']:,.0f}-{rate['high']:,.0f})"


def _group(result: Result) -> Group:
    return tuple(result["case"][field] for field in GROUP_FIELDS)


def _framework(result: Result) -> str:
    return ENGINES[result["case"]["engine"]].framework


def _rate(result: Result) -> float:
    return result["samples_per_s"]["median"]


def peak_gflops(doc: dict[str, Any], dtype: str) -> float | None:
    """The higher of the two same-run matmul peaks for ``dtype`` (None if neither measured it)."""
    values = [
        measured["peaks"][dtype]["gflops"]
        for measured in doc["peak"].values()
        if measured.get("status") == "ok" and dtype in measured["peaks"]
    ]
    return max(values) if values else None


def best_keras(doc: dict[str, Any]) -> dict[Group, Result]:
    """Per group (model, mode, input size), the fastest fp32 Keras result."""
    best: dict[Group, Result] = {}
    for result in doc["results"]:
        if result.get("status") != "ok" or _framework(result) != "keras" or result["case"]["dtype"] != "fp32":
            continue
        group = _group(result)
        if group not in best or _rate(result) > _rate(best[group]):
            best[group] = result
    return best


def marginal_memory(doc: dict[str, Any], result: Result) -> float | None:
    """Bytes per extra sample: the slope of peak memory between this case and the next smaller batch of the
    same engine, dtype, model, mode and sequence length in the run (fixed costs such as weights, library
    code paged in and compiled programs cancel out). None where the run has no smaller batch."""
    case = result["case"]
    same = [
        other
        for other in _find(doc, **{key: case[key] for key in ("engine", "dtype", *GROUP_FIELDS) if key != "batch"})
        if other["case"]["batch"] < case["batch"]
    ]
    if not same:
        return None
    smaller = max(same, key=lambda other: other["case"]["batch"])
    return (result["memory"]["peak_bytes"] - smaller["memory"]["peak_bytes"]) / (case["batch"] - smaller["case"]["batch"])


def _fmt(value: float | None, pattern: str) -> str:
    return "" if value is None else format(value, pattern)


def markdown(doc: dict[str, Any]) -> str:
    """The header (machine, versions, peaks), the targets, then one row per case."""
    machine, versions = doc["machine"], doc["versions"]
    peak32, peak16 = peak_gflops(doc, "fp32"), peak_gflops(doc, "bf16")
    lines = [
        f"# lstm2d bench: {machine['cpu']}",
        "",
        f"`{doc['command']}` at {doc['created']}; {machine['usable_cpus']} CPUs, flags {', '.join(machine['matmul_flags'])}; "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if version),
        "",
        f"Load average (1/5/15 min) before {doc['load_average']['before']}, after {doc['load_average'].get('after')}; "
        f"thread settings {_set_variables(doc)}.",
        "",
        f"Matmul peak (same run, higher of before/after): fp32 {_fmt(peak32, ',.0f')} GFLOP/s, "
        f"bf16 {_fmt(peak16, ',.0f')} GFLOP/s"
        + ("" if machine.get("native_bf16") else " (no native bf16 on this CPU: emulated)"),
        "",
    ]
    rows = targets(doc)
    if rows:
        lines += ["| target | measured | met |", "|---|---|---|"]
        lines += [f"| {row.target} | {row.measured} | {'yes' if row.met else 'NO'} |" for row in rows]
        lines.append("")
    lines += [
        "| model | mode | batch | T | engine | dtype | samples/s | middle half | x best Keras | GFLOP/s | % fp32 peak "
        "| peak MiB | KiB/sample | warm-up s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keras = best_keras(doc)
    for result in doc["results"]:
        case = result["case"]
        head = "| " + " | ".join(str(case[key]) for key in ("preset", "mode", "batch", "timesteps", "engine", "dtype")) + " |"
        if result.get("status") != "ok":
            lines.append(f"{head} {result.get('status')}: {result.get('reason')} |||||||||")
            continue
        rate, reference = result["samples_per_s"], keras.get(_group(result))
        gflops = result["flops"].get("achieved_gflops")
        memory = result["memory"]
        cells = [
            f"{rate['median']:,.0f}",
            f"{rate['low']:,.0f}-{rate['high']:,.0f}",
            _fmt(rate["median"] / _rate(reference) if reference else None, ".2f"),
            _fmt(gflops, ",.1f"),
            _fmt(100 * gflops / peak32 if gflops and peak32 else None, ".1f"),
            f"{memory['peak_bytes'] / MIB:,.1f}",
            _memory_cell(doc, result),
            f"{sum(result['warmup_s']):.1f}",
        ]
        lines.append(f"{head} {' | '.join(cells)} |")
    lines += [
        "",
        "samples/s: median over timed blocks (warm-up and compilation excluded); middle half: the range of the "
        "middle 50% of blocks. x best Keras: against the fastest fp32 Keras engine for the same model, mode and "
        "input size in this run. GFLOP/s: analytic matmul FLOPs per sample (benchmarks/flops.py) x samples/s. "
        f"peak MiB: {_memory_method(doc)}. KiB/sample: the slope of peak memory from the next smaller batch of "
        "the same engine in this run (fixed costs cancel), else peak / batch (marked *).",
        "",
    ]
    return "\n".join(lines)


def _set_variables(doc: dict[str, Any]) -> str:
    found = {name: value for name, value in doc["thread_environment"].items() if value is not None}
    return ", ".join(f"{name}={value}" for name, value in found.items()) or "framework defaults"


def _memory_method(doc: dict[str, Any]) -> str:
    methods = {result["memory"]["method"] for result in doc["results"] if result.get("status") == "ok"}
    return "; ".join(sorted(methods)) or "none measured"


def _memory_cell(doc: dict[str, Any], result: Result) -> str:
    slope = marginal_memory(doc, result)
    if slope is None:
        return f"{result['memory']['per_sample_bytes'] / 1024:,.1f}*"
    return f"{slope / 1024:,.1f}"


def _per_sample(doc: dict[str, Any], result: Result) -> float:
    """Marginal bytes per sample where the run allows (see :func:`marginal_memory`), else peak / batch."""
    slope = marginal_memory(doc, result)
    return result["memory"]["per_sample_bytes"] if slope is None else slope


@dataclass(frozen=True)
class Target:
    target: str
    measured: str
    met: bool


def _find(doc: dict[str, Any], **conditions: Any) -> list[Result]:
    return [
        result
        for result in doc["results"]
        if result.get("status") == "ok" and all(result["case"][key] == value for key, value in conditions.items())
    ]


def _best_torch(doc: dict[str, Any], dtype: str = "fp32", **conditions: Any) -> Result | None:
    candidates = [r for r in _find(doc, dtype=dtype, **conditions) if _framework(r) == "torch"]
    return max(candidates, key=_rate, default=None)


def targets(doc: dict[str, Any]) -> list[Target]:
    """The issue's targets, for whichever of them this run has the cases for (seed presets, T=100)."""
    rows: list[Target] = []
    keras = best_keras(doc)
    speedups = (("seed-cnn", "train", 8.0), ("seed-flat", "train", 4.0), ("seed-cnn", "infer", 2.0), ("seed-flat", "infer", 3.0))
    for preset, mode, factor in speedups:
        torch_result = _best_torch(doc, preset=preset, mode=mode, batch=64, timesteps=100)
        if torch_result is None or _group(torch_result) not in keras:
            continue
        keras_result = keras[_group(torch_result)]
        ratio = _rate(torch_result) / _rate(keras_result)
        rows.append(
            Target(
                f"{preset} {mode} B=64 T=100: torch >= {factor:g}x best Keras",
                f"{ratio:.2f}x ({torch_result['case']['engine']} {_rate(torch_result):,.0f} vs "
                f"{keras_result['case']['engine']} {_rate(keras_result):,.0f} samples/s)",
                ratio >= factor,
            )
        )
        torch_memory = _per_sample(doc, torch_result)
        keras_results = [r for r in _find(doc, dtype="fp32") if _framework(r) == "keras" and _group(r) == _group(torch_result)]
        keras_memory = min(_per_sample(doc, r) for r in keras_results)
        rows.append(
            Target(
                f"{preset} {mode} B=64: torch memory per sample <= best Keras",
                f"{torch_memory / 1024:,.1f} vs {keras_memory / 1024:,.1f} KiB/sample",
                torch_memory <= keras_memory,
            )
        )
    peak32 = peak_gflops(doc, "fp32")
    fp32 = _best_torch(doc, preset="seed-cnn", mode="train", batch=256, timesteps=100)
    if fp32 is not None and peak32:
        fraction = fp32["flops"]["achieved_gflops"] / peak32
        rows.append(
            Target(
                "seed-cnn train B=256: >= 40% of fp32 matmul peak",
                f"{100 * fraction:.1f}% ({fp32['case']['engine']} {fp32['flops']['achieved_gflops']:,.1f} "
                f"of {peak32:,.0f} GFLOP/s)",
                fraction >= 0.40,
            )
        )
    bf16 = _best_torch(doc, "bf16", preset="seed-cnn", mode="train", batch=256, timesteps=100)
    if fp32 is not None and bf16 is not None:
        ratio = _rate(bf16) / _rate(fp32)
        native = doc["machine"].get("native_bf16")
        rows.append(
            Target(
                "seed-cnn train B=256: bf16 >= 1.8x fp32" + ("" if native else " (CPU without native bf16: not applicable)"),
                f"{ratio:.2f}x ({bf16['case']['engine']} {_rate(bf16):,.0f} vs "
                f"{fp32['case']['engine']} {_rate(fp32):,.0f} samples/s)",
                ratio >= 1.8 or not native,
            )
        )
    return rows


def plot(doc: dict[str, Any], path: Path) -> None:
    """Throughput vs batch size, one panel per preset (rows) and mode (columns), one line per engine and dtype (log-log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[tuple[str, str], dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for result in doc["results"]:
        if result.get("status") == "ok":
            case = result["case"]
            line = case["engine"] + ("" if case["dtype"] == "fp32" else f" {case['dtype']}")
            panels[(case["preset"], case["mode"])][line].append((case["batch"], _rate(result)))
    if not panels:
        raise ValueError("no successful results to plot")
    presets = sorted({key[0] for key in panels})
    modes = sorted({key[1] for key in panels}, reverse=True)  # train, then infer
    lines = sorted({line for panel in panels.values() for line in panel})
    colors = {line: f"C{index % 10}" for index, line in enumerate(lines)}
    figure, axes = plt.subplots(len(presets), len(modes), figsize=(6 * len(modes), 4.2 * len(presets)), squeeze=False)
    for row, preset in enumerate(presets):
        for column, mode in enumerate(modes):
            axis = axes[row][column]
            for line, points in sorted(panels[(preset, mode)].items()):
                points.sort()
                style = "-" if line.startswith("torch") else "--"
                axis.plot([p[0] for p in points], [p[1] for p in points], style, marker="o", color=colors[line], label=line)
            batches = sorted({p[0] for points in panels[(preset, mode)].values() for p in points})
            axis.set(xscale="log", yscale="log", xlabel="batch size", ylabel="samples/s", title=f"{preset} {mode}")
            axis.set_xticks(batches or [1])
            axis.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
            axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            axis.grid(True, which="both", alpha=0.3)
            if panels[(preset, mode)]:
                axis.legend(fontsize=7)
    figure.suptitle(f"{doc['machine']['cpu']}, {doc['created']} (higher is better)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
