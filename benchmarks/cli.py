"""``lstm2d bench``: its options and what it runs. Imports no framework until it runs."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from benchmarks.cases import DTYPES, ENGINES, FULL, MODES, QUICK, Sweep, own_length
from lstm2d.spec import ModelSpec


def _grid(text: str) -> tuple[int, int]:
    height, sep, width = text.lower().partition("x")
    if not sep or not height.isdigit() or not width.isdigit():
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH such as 10x10, got {text!r}")
    return int(height), int(width)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="seed-cnn, batch 64, torch vs Keras-TensorFlow: about a minute")
    size.add_argument("--full", action="store_true", help="the full sweep (the default): both seed presets, every engine")
    parser.add_argument("--out", type=Path, help="folder for results.json, results.md and throughput.png")
    parser.add_argument("--render", type=Path, metavar="RESULTS_JSON", help="only redraw the table and plot of a results.json")
    parser.add_argument("--presets", nargs="+", help=f"default: {' '.join(FULL.presets)}")
    parser.add_argument(
        "--from-keras",
        type=Path,
        metavar="FILE",
        help="time this Keras model (.keras or .h5) instead of presets: read by lstm2d (vetted) for torch, opened by "
        "Keras for the Keras engines; its own shapes (--timesteps fills the time axes it leaves open), seeded inputs",
    )
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), help=f"default: {' '.join(FULL.engines)}")
    parser.add_argument("--modes", nargs="+", choices=MODES)
    parser.add_argument("--batches", nargs="+", type=int, help=f"default: {' '.join(map(str, FULL.batches))}")
    parser.add_argument(
        "--timesteps", nargs="+", type=int, help="sequence lengths (default: 100; for --from-keras, open time axes only)"
    )
    parser.add_argument("--grid", type=_grid, help="frame size HEIGHTxWIDTH (default: each preset's own)")
    parser.add_argument("--channels", type=int, help="frame channels (default: each preset's own)")
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, help="torch dtypes (autocast; default: fp32 bf16)")
    parser.add_argument("--keras-dtypes", nargs="+", choices=DTYPES, help="Keras dtypes (mixed-precision policy; default: fp32)")
    parser.add_argument(
        "--compiled-batches", nargs="+", type=int, help="batches at which torch-compile runs (default --full: 256)"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: cuda if torch sees a GPU")
    parser.add_argument("--min-run-time", type=float, help="seconds timed per case (default: 2; --quick 0.5)")
    parser.add_argument("--min-blocks", type=int, help="timed blocks per case, at least (default: 5; --quick 3)")
    parser.add_argument("--warmup", type=int, help="untimed steps before timing, compilation included (default: 3)")
    parser.add_argument("--peak-sizes", nargs="+", type=int, help="matmul sizes for the peak (default: 1024 2048 3072)")


SWEEP_OPTIONS: tuple[str, ...] = ("presets", "engines", "modes", "batches", "timesteps", "grid", "channels", "dtypes")
SWEEP_OPTIONS += ("keras_dtypes", "compiled_batches")
SWEEP_OPTIONS += ("min_run_time", "min_blocks", "warmup")
"""Command-line options that are :class:`Sweep` fields of the same name."""


def sweep_from_args(args: argparse.Namespace, device: str) -> Sweep:
    """``--quick`` or the full sweep, with every option given on the command line applied over it (``--from-keras``
    in place of the presets)."""
    changes: dict[str, Any] = {}
    if args.from_keras is not None:
        if args.presets:
            raise ValueError("--from-keras times the file's model: leave out --presets")
        changes.update(presets=(), model_file=str(args.from_keras))
    for option in SWEEP_OPTIONS:
        value = getattr(args, option)
        if value is not None:
            changes[option] = tuple(value) if isinstance(value, list) else value
    return dataclasses.replace(QUICK if args.quick else FULL, device=device, **changes)


def file_model(args: argparse.Namespace) -> ModelSpec:
    """The spec of ``--from-keras FILE``, read by lstm2d (vetted); ValueError for a file lstm2d refuses, or a
    ``--timesteps`` the model cannot take."""
    from benchmarks.suite import read_model_file
    from torch_impl.files import ModelFileError

    try:
        spec = read_model_file(args.from_keras)
    except ModelFileError as exc:
        raise ValueError(f"--from-keras: {exc}") from None
    length = own_length(spec)
    if args.timesteps and length is not None and args.timesteps != [length]:
        raise ValueError(f"--timesteps: model {spec.name!r} fixes its sequence length at {length}; it leaves no time axis open")
    return spec


def run(args: argparse.Namespace) -> int:
    from benchmarks import report, suite

    if args.render is not None:
        doc = json.loads(args.render.read_text(encoding="utf-8"))
        out = args.out or args.render.parent
        (out / "results.md").write_text(report.markdown(doc))
        report.plot(doc, out / "throughput.png")
        print(f"wrote {out / 'results.md'} and {out / 'throughput.png'}")
        return 0
    try:
        sweep = sweep_from_args(args, suite.resolve_device(args.device))
        model = file_model(args) if args.from_keras is not None else None
    except ValueError as exc:  # SpecError (unknown preset) included
        print(f"lstm2d bench: error: {exc}", file=sys.stderr)
        return 2
    peak = suite.QUICK_PEAK if args.quick else suite.PeakSettings()
    if args.peak_sizes:
        peak = dataclasses.replace(peak, sizes=tuple(args.peak_sizes))
    command = "lstm2d bench " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["bench"] else "lstm2d bench"

    def checkpoint(doc: dict[str, Any]) -> None:
        if args.out is not None:
            suite.write_json(doc, args.out)

    doc = suite.run(
        sweep, model=model, peak=peak, command=command, progress=lambda line: print(line, flush=True), checkpoint=checkpoint
    )
    print()
    print(report.markdown(doc))
    if args.out is not None:
        for path in suite.write(doc, args.out):
            print(f"wrote {path}")
    failed = [r for r in doc["results"] if r.get("status") == "error"]
    return 1 if failed else 0
