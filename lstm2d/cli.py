"""The ``lstm2d`` command line.

The Keras side is imported lazily, inside the commands that need it, after the Keras
backend has been chosen (Keras reads ``KERAS_BACKEND`` once, at import).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import benchmarks.cli
from lstm2d.model_summary import file_layers, format_rows, graph_summary, keras_classes
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import ModelSpec, SpecError, dims_text
from lstm2d.tolerances import FP32_CPU_FORWARD_ATOL
from lstm2d.train.arguments import add_train_parser

if TYPE_CHECKING:
    from lstm2d.parity import ParityReport
    from torch_impl import Lstm2dNet

BACKENDS = ("tensorflow", "jax", "torch")
DEMO_PRESETS = ("seed-flat", "seed-cnn", "seed-cnn-rgb")
EXIT_OK, EXIT_OVER_TOLERANCE, EXIT_USAGE, EXIT_UNSUPPORTED = 0, 1, 2, 3
EXIT_CODES = (
    f"exit codes: {EXIT_OK} success; {EXIT_OVER_TOLERANCE} a parity error over tolerance (verify, demo, export) or a "
    f"failed benchmark case (bench); {EXIT_USAGE} bad usage, an unreadable or unsafe file, a model that cannot be "
    "exported as asked, or a missing dependency; "
    f"{EXIT_UNSUPPORTED} the model holds layers or settings lstm2d does not convert (inspect); 130 training "
    "interrupted after writing a checkpoint (train)"
)


class CliError(Exception):
    """A user mistake or a missing dependency: printed as one line, exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.run(args)
    except (CliError, SpecError) as exc:
        print(f"lstm2d {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lstm2d",
        description="Native PyTorch models for sequences of 2D grids, with numerical parity against Keras.",
        epilog=EXIT_CODES,
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")

    verify = commands.add_parser(
        "verify",
        help="check Keras <-> torch parity for presets or spec files and print the error table",
        description="Build the Keras and the torch model from one description, copy random non-zero weights "
        "each way, run both on seeded inputs and print the max abs / rel error per output. With FILE: read the "
        "file with lstm2d (vetted, no Keras) and with Keras, and compare the two on seeded input. "
        f"Exits {EXIT_OVER_TOLERANCE} if any error is over the tolerance.",
    )
    verify.add_argument(
        "file", nargs="?", type=Path, help="a Keras model file (.keras or legacy .h5) to check instead of presets"
    )
    verify.add_argument("--preset", action="append", default=[], choices=preset_names(), help="a named preset (repeatable)")
    verify.add_argument("--spec", action="append", default=[], type=Path, help="a ModelSpec JSON file (repeatable)")
    verify.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    verify.add_argument("--direction", choices=("both", "keras_to_torch", "torch_to_keras"), default="both")
    verify.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    verify.add_argument("--batch", type=int, default=4, help="batch size of the test input (default 4)")
    verify.add_argument(
        "--timesteps", type=int, default=8, help="steps of every input whose time axis the model leaves open (default 8)"
    )
    verify.add_argument("--json", action="store_true", help="print the results as JSON")
    verify.set_defaults(run=_run_verify)

    demo = commands.add_parser(
        "demo",
        help="the tour: parity on every Keras backend, a short training run, a quick benchmark, and a report",
        description="Runs `lstm2d verify` on the seed presets once per installed Keras backend (each in its own process) "
        "and prints one table; trains seed-flat and seed-cnn on sensor-grid beside the trivial baseline; runs "
        "`lstm2d bench --quick`; and writes everything, loss curves included, to lstm2d-report/report.md. "
        f"Exits {EXIT_OVER_TOLERANCE} if a parity check is over tolerance or training does not beat the baseline.",
    )
    demo.set_defaults(run=_run_demo)

    convert = commands.add_parser(
        "convert",
        help="convert a Keras file to torch safetensors, or safetensors to a .keras file",
        description="IN .keras/.h5 -> OUT .safetensors (weights-only .weights.h5 need --spec); "
        "IN .safetensors -> OUT .keras. Files are read without Keras and never run code.",
    )
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=Path)
    convert.add_argument("--spec", help="for .weights.h5 input: a preset name or a spec JSON file")
    convert.add_argument("--allow-nonfinite", action="store_true", help="accept NaN/Inf weights")
    convert.set_defaults(run=_run_convert)

    inspect = commands.add_parser(
        "inspect",
        help="print a model file's graph (inputs, layer calls, shapes, parameters, outputs), loading nothing executable",
        description="Prints the graph of a .keras, .h5 or lstm2d .safetensors file: its inputs (shape per sample in the "
        "Keras layout, dtype), a row per layer call (a shared layer's later calls as name@1, ...; a nested model's layers "
        "indented) with what lstm2d makes of it, the tensors it takes, its output shapes per sample and its parameters, "
        "then the outputs and the total. For a file lstm2d cannot convert, every layer with what lstm2d makes of it or "
        f"why not. Exits {EXIT_OK} when lstm2d converts the whole model, {EXIT_UNSUPPORTED} when some layer or setting "
        f"is unsupported, {EXIT_USAGE} when the file cannot be read or is refused as unsafe.",
    )
    inspect.add_argument("file", type=Path)
    inspect.set_defaults(run=_run_inspect)

    export = commands.add_parser(
        "export",
        help="export a model file to ONNX (.onnx) or a torch.export program (.pt2), verified against the model",
        description="Reads IN (.keras, .h5 or lstm2d .safetensors; vetted, nothing in it runs) and writes OUT: .onnx "
        "(ONNX Runtime and other ONNX runtimes) or .pt2 (torch.export.load). Inputs and outputs are named as in the "
        "Keras model and taken as it takes them (frames in its own data_format unless --layout says otherwise; masks "
        "bool); the batch axis is dynamic, and an open time axis too where the exported graph allows it. Then runs OUT "
        "(ONNX Runtime, or torch.export.load) on seeded inputs at two batch sizes (and two sequence lengths where OUT "
        "takes any) against the torch model, and against Keras with --against-keras, and prints the max abs error per "
        f"output. Exits {EXIT_OVER_TOLERANCE} if any error is over the tolerance of OUT's dtype, {EXIT_USAGE} if the "
        "model cannot be exported as asked or a package is missing (pip install 'lstm2d[export]').",
    )
    export.add_argument("input", type=Path, help="a Keras model file (.keras or legacy .h5) or an lstm2d .safetensors file")
    export.add_argument("output", type=Path, help="the artifact to write: NAME.onnx or NAME.pt2")
    export.add_argument(
        "--layout",
        choices=("keras", "channels_last", "channels_first"),
        default="keras",
        help="frames and grids of spatial layers, in and out (default keras: the Keras model's own data_format)",
    )
    export.add_argument(
        "--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="fp32 (default); fp16 (.onnx, .pt2); bf16 (.pt2)"
    )
    export.add_argument(
        "--timesteps",
        type=int,
        help="for a model that leaves its time axis open: fix it at this length (needed where the exported graph "
        "unrolls a step loop or pads by a length-dependent amount; default: a dynamic time axis)",
    )
    export.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's)")
    export.add_argument("--seed", type=int, default=0, help="seed of the check's inputs (default 0)")
    export.add_argument(
        "--against-keras", action="store_true", help="check OUT against the Keras model too (needs a Keras file and Keras)"
    )
    export.add_argument(
        "--backend", choices=BACKENDS, help="Keras backend for --against-keras (default: $KERAS_BACKEND, else tensorflow)"
    )
    export.add_argument("--allow-nonfinite", action="store_true", help="accept NaN/Inf weights")
    export.set_defaults(run=_run_export)

    bench = commands.add_parser(
        "bench",
        help="training and inference throughput and peak memory: torch vs Keras on each backend",
        description="Times training steps and inference of the same model, batch and data on torch and on Keras' "
        "TensorFlow, JAX and torch backends, each case in its own process, with the matmul peak measured in the same "
        "run; prints a table, and with --out writes results.json, results.md and throughput.png. "
        "Exits 1 if any case failed.",
    )
    benchmarks.cli.add_arguments(bench)
    bench.set_defaults(run=benchmarks.cli.run)

    presets = commands.add_parser("presets", help="list the named presets")
    presets.set_defaults(run=_run_presets)

    spec = commands.add_parser("spec", help="print a preset's description as JSON (a starting point for --spec files)")
    spec.add_argument("preset", choices=preset_names())
    spec.set_defaults(run=_run_spec)

    add_train_parser(commands)
    return parser


# -- verify -----------------------------------------------------------------------------


def _run_verify(args: argparse.Namespace) -> int:
    for option in ("batch", "timesteps"):
        if getattr(args, option) < 1:
            raise CliError(f"--{option}: expected a positive int, got {getattr(args, option)}")
    if args.file is not None:
        if args.preset or args.spec:
            raise CliError("give either FILE or --preset/--spec, not both")
        return _verify_file(args)
    specs = [get_preset(name) for name in args.preset] + [_read_spec(path) for path in args.spec]
    if not specs:
        raise CliError("nothing to verify: give FILE, --preset NAME or --spec FILE")
    backend = _select_keras_backend(args.backend)
    from lstm2d.parity import DIRECTIONS, check_spec

    directions = DIRECTIONS if args.direction == "both" else (args.direction,)
    reports = []
    for spec in specs:
        for direction in directions:
            reports.append(check_spec(spec, direction, seed=args.seed, batch=args.batch, timesteps=args.timesteps))
    return _print_reports(backend, reports, args.json)


def _print_reports(backend: str, reports: list[ParityReport], as_json: bool) -> int:
    ok = all(report.ok for report in reports)
    if as_json:
        import keras

        print(json.dumps({"backend": backend, "keras": keras.__version__, "ok": ok, "reports": [r.to_dict() for r in reports]}))
        return EXIT_OK if ok else EXIT_OVER_TOLERANCE
    return _print_tables(f"Keras backend: {backend}; fp32 CPU; tolerance: max abs error <= {FP32_CPU_FORWARD_ATOL:.0e}", reports)


def _print_tables(header: str, reports: list[ParityReport]) -> int:
    """``header``, each report's table and the verdict; the exit code."""
    print(header)
    for report in reports:
        print(report.table())
    ok = all(report.ok for report in reports)
    print("all outputs within tolerance" if ok else "OVER TOLERANCE: see the rows marked NO")
    return EXIT_OK if ok else EXIT_OVER_TOLERANCE


def _verify_file(args: argparse.Namespace) -> int:
    """lstm2d's reading of a Keras file against Keras' own, on seeded input."""
    import numpy as np

    from torch_impl.files import ModelFileError, from_keras

    try:
        torch_model = from_keras(args.file)  # vets the file: nothing in it runs
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    backend = _select_keras_backend(args.backend)
    import keras_ref
    from lstm2d.parity import compare, keras_outputs, random_inputs, torch_outputs

    try:
        keras_model = keras_ref.load_vetted_model(args.file)
    except keras_ref.KerasLoadError as exc:
        raise CliError(str(exc)) from None
    inputs = random_inputs(torch_model.spec, np.random.default_rng(args.seed), batch=args.batch, timesteps=args.timesteps)
    reference = keras_outputs(keras_model, inputs)
    report = compare(
        reference,
        torch_outputs(torch_model, inputs, list(reference)),
        atol=FP32_CPU_FORWARD_ATOL,
        label=f"{args.file}: {type(keras_model).__module__.split('.')[0]} vs lstm2d",
    )
    return _print_reports(backend, [report], args.json)


def _read_spec(path: Path) -> ModelSpec:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot read spec file {path}: {exc.strerror}") from None
    return ModelSpec.from_json(text)


def _select_keras_backend(requested: str | None) -> str:
    """Set KERAS_BACKEND before Keras is imported; refuse if Keras already runs another backend."""
    backend = requested or os.environ.get("KERAS_BACKEND") or "tensorflow"
    if backend not in BACKENDS:
        raise CliError(f"Keras backend {backend!r} is not supported; expected one of {', '.join(BACKENDS)}")
    _require_keras_backend(backend)
    if "keras" in sys.modules:
        active = sys.modules["keras"].backend.backend()
        if active != backend:
            raise CliError(f"Keras is already running the {active} backend in this process; run again with --backend {active}")
    os.environ["KERAS_BACKEND"] = backend
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return backend


def _require_keras_backend(backend: str) -> None:
    """Keras and the backend's own package (named like the backend) must be installed."""
    if importlib.util.find_spec("keras") is None or importlib.util.find_spec(backend) is None:
        raise CliError(f"the Keras side with the {backend} backend is not installed: pip install 'lstm2d[keras]'")


# -- demo -------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    print("lstm2d demo: the article's three models, Keras vs native PyTorch")
    print(f"random non-zero weights copied each way, seeded input (batch 4, 100 timesteps), fp32 CPU; "
          f"tolerance: max abs error <= {FP32_CPU_FORWARD_ATOL:.0e}\n")  # fmt: skip
    results: dict[str, dict[str, Any] | str] = {}
    for backend in BACKENDS:
        started = time.perf_counter()
        print(f"  checking with Keras on {backend} ...", end="", flush=True)
        results[backend] = _verify_in_subprocess(backend)
        print(f" {time.perf_counter() - started:.0f} s")
    print()
    rows: list[tuple[str, ...]] = [("preset", "direction", *BACKENDS)]
    for preset in DEMO_PRESETS:
        for arrow in ("keras -> torch", "torch -> keras"):
            cells = []
            for backend in BACKENDS:
                result = results[backend]
                if isinstance(result, str):
                    cells.append(result)
                    continue
                report = next(r for r in result["reports"] if r["label"] == f"{preset} {arrow}")
                error = max(o["max_abs"] for o in report["outputs"])
                cells.append(f"{error:.1e} {'ok' if report['ok'] else 'OVER'}")
            rows.append((preset, arrow, *cells))
    _print_rows(rows)
    ran = [r for r in results.values() if isinstance(r, dict)]
    failed = [name for name, r in results.items() if isinstance(r, str) and r != "not installed"]
    ok = bool(ran) and not failed and all(r["ok"] for r in ran)
    print()
    print(
        "max abs error of the model output (Dense head), Keras vs torch, per preset and Keras backend.\n"
        "The torch models are native: channels-first frames, the CNN over batch*time frames, nn.LSTM;\n"
        "the (H, W, C) vs (C, H, W) flatten, the kernel layouts and the LSTM's bias are absorbed\n"
        "by the weight converter. Reproduce one column: lstm2d verify --preset seed-cnn --backend jax"
    )
    from lstm2d.demo_report import REPORT_DIR, markdown_table, write_report
    from lstm2d.train.demo import run_training_demo

    training = run_training_demo(REPORT_DIR)
    parity = "## Parity, Keras vs PyTorch\n\nMax abs error of the model output.\n\n" + markdown_table(rows)
    report = write_report(REPORT_DIR, [parity, training.markdown, _demo_benchmarks()])
    print(f"\nreport: {report.resolve()}")
    verdict = "every check within tolerance" if ok else "SOME CHECKS FAILED"
    print(f"\nresult: {verdict}; training {'as expected' if training.ok else 'NOT AS EXPECTED'}")
    return EXIT_OK if ok and training.ok else EXIT_OVER_TOLERANCE


def _demo_benchmarks() -> str:
    """``lstm2d bench --quick`` (about a minute): its table printed, and returned as a markdown section of the report."""
    from benchmarks.suite import run_quick

    print("\nbenchmarks: lstm2d bench --quick (seed-cnn, batch 64, torch vs Keras-TensorFlow) ...")
    table = run_quick(progress=lambda line: print(f"  {line}", flush=True))
    print()
    print(table)
    return "## Benchmarks (`lstm2d bench --quick`)\n\n" + table


def _verify_in_subprocess(backend: str) -> dict[str, Any] | str:
    """``lstm2d verify --json`` on the demo presets with one Keras backend; a short reason string on failure."""
    try:
        _require_keras_backend(backend)
    except CliError:
        return "not installed"
    command = [sys.executable, "-m", "lstm2d", "verify", "--json", "--backend", backend]
    for preset in DEMO_PRESETS:
        command += ["--preset", preset]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode not in (EXIT_OK, EXIT_OVER_TOLERANCE) or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"\n    {backend}: verify failed: {tail}", end="")
        return "error"
    return json.loads(lines[-1])


# -- convert / inspect -----------------------------------------------------------------


def _run_convert(args: argparse.Namespace) -> int:
    from torch_impl.files import ModelFileError, from_keras, load_safetensors, save_safetensors, to_keras

    source, target = args.input, args.output
    try:
        if target.suffix == ".safetensors" and source.suffix in (".keras", ".h5"):
            model = from_keras(source, spec=args.spec, allow_nonfinite=args.allow_nonfinite)
            save_safetensors(model, target)
        elif target.suffix == ".keras" and source.suffix == ".safetensors":
            if args.spec:
                raise CliError("--spec is only for .weights.h5 input; a .safetensors file from lstm2d carries its spec")
            model = load_safetensors(source, allow_nonfinite=args.allow_nonfinite)
            to_keras(model, target)
        else:
            raise CliError(
                f"cannot convert {source.suffix or 'no extension'} to {target.suffix or 'no extension'}: "
                "expected .keras/.h5 -> .safetensors or .safetensors -> .keras"
            )
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    print(f"wrote {target}: model {model.spec.name!r}, {len(model.state_dict())} tensors")
    return EXIT_OK


def _run_inspect(args: argparse.Namespace) -> int:
    from torch_impl.files import ModelFileError, describe_keras_file, load_safetensors, read_keras_file

    path: Path = args.file
    try:
        if path.suffix == ".safetensors":
            spec = load_safetensors(path).spec
            print(f"{path}: lstm2d safetensors")
            _print_lines([_model_line(spec), "", *graph_summary(spec)])
            return EXIT_OK
        kind, layers = describe_keras_file(path)
        if not all(layer.supported for layer in layers):
            unsupported = sum(1 for top in layers for _, layer in top.walk() if layer.problems)
            print(f"{path}: {kind}; lstm2d cannot convert {unsupported} of its layers (marked NOT SUPPORTED)")
            _print_lines(file_layers(layers))
            return EXIT_UNSUPPORTED
        spec = read_keras_file(path).spec
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    print(f"{path}: {kind}; lstm2d converts every layer")
    _print_lines([_model_line(spec), "", *graph_summary(spec, keras_classes(layers))])
    return EXIT_OK


# -- export -----------------------------------------------------------------------------


def _run_export(args: argparse.Namespace) -> int:
    from torch_impl.export import ExportError, export_onnx, export_program

    source, target = args.input, args.output
    writers = {".onnx": export_onnx, ".pt2": export_program}
    if target.suffix not in writers:
        raise CliError(f"cannot export to {target.suffix or 'no extension'}: expected OUT to be NAME.onnx or NAME.pt2")
    if args.against_keras and source.suffix not in (".keras", ".h5"):
        raise CliError(f"--against-keras needs a Keras file (.keras or .h5) as IN, got {source.suffix or 'no extension'}")
    model = _read_model_file(source, args.allow_nonfinite)
    started = time.perf_counter()
    options: dict[str, Any] = {"layout": args.layout, "dtype": args.dtype, "timesteps": args.timesteps}
    if args.opset is not None:
        if target.suffix != ".onnx":
            raise CliError("--opset is for .onnx output")
        options["opset"] = args.opset
    try:
        artifact = writers[target.suffix](model, target, **options)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(
        f"wrote {target} in {time.perf_counter() - started:.1f} s: {artifact.format}, {artifact.dtype}, frames {artifact.layout}"
    )
    _print_lines([f"  input  {t.describe()}" for t in artifact.inputs] + [f"  output {t.describe()}" for t in artifact.outputs])
    keras_model = None
    if args.against_keras:
        _select_keras_backend(args.backend)
        import keras_ref

        try:
            keras_model = keras_ref.load_vetted_model(source)
        except keras_ref.KerasLoadError as exc:
            raise CliError(str(exc)) from None
    from lstm2d.artifact_check import ARTIFACT_TOLERANCES, check_artifact

    try:
        reports = check_artifact(model, artifact, seed=args.seed, keras_model=keras_model)
    except ExportError as exc:  # the runtime is missing
        raise CliError(str(exc)) from None
    runner = "ONNX Runtime (CPU)" if artifact.format == "onnx" else "torch.export.load (CPU)"
    atol = ARTIFACT_TOLERANCES[artifact.dtype]
    return _print_tables(f"\n{target} run by {runner} vs the fp32 model; tolerance: max abs error <= {atol:.0e}", reports)


def _read_model_file(path: Path, allow_nonfinite: bool) -> Lstm2dNet:
    """The torch model of a Keras file (vetted) or an lstm2d safetensors file; a CliError for anything unreadable."""
    from torch_impl.files import ModelFileError, from_keras, load_safetensors

    try:
        if path.suffix == ".safetensors":
            return load_safetensors(path, allow_nonfinite=allow_nonfinite)
        if path.suffix in (".keras", ".h5"):
            return from_keras(path, allow_nonfinite=allow_nonfinite)
    except ModelFileError as exc:
        raise CliError(str(exc)) from None
    raise CliError(f"cannot read {path.suffix or 'a file without extension'}: expected .keras, .h5 or .safetensors")


def _model_line(spec: ModelSpec) -> str:
    def count(n: int, what: str) -> str:
        return f"{n} {what}{'s' if n != 1 else ''}"

    calls = f" ({count(len(spec.nodes), 'call')})" if len(spec.nodes) != len(spec.layers) else ""
    parts = [count(len(spec.inputs), "input"), count(len(spec.layers), "layer") + calls, count(len(spec.outputs), "output")]
    return f"model {spec.name!r} ({spec.data_format}): {', '.join(parts)}"


def _print_lines(lines: Sequence[str]) -> None:
    for line in lines:
        print(line)


def _print_rows(rows: Sequence[tuple[str, ...]]) -> None:
    _print_lines(format_rows(rows))


# -- presets / spec ---------------------------------------------------------------------


def _run_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        spec = get_preset(name)
        inputs = ", ".join(f"{i.name} {dims_text(i.per_sample)}" for i in spec.inputs)
        layers = " -> ".join(layer.describe() for layer in spec.layers) if spec.is_stack else _model_line(spec)
        print(f"{name:14s} {inputs}: {layers}")
    return EXIT_OK


def _run_spec(args: argparse.Namespace) -> int:
    print(get_preset(args.preset).to_json())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
