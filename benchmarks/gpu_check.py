"""The first run on a CUDA machine, as one call: the CUDA tests, the GPU benchmark and a short training run.

``python3 -m benchmarks.gpu_check OUT`` (``make gpu-check OUT=...``), from the repository root, on a machine with a
CUDA GPU, torch >= 2.6 and no network. Nothing is installed from an index: Keras and the small packages it needs
beyond what such a machine has travel as wheels in ``.whl/`` (``make gpu-wheels`` downloads them here); they are
installed into a folder of their own, so the Keras stages run on its JAX and torch backends, and are skipped, saying
so, without them. TensorFlow is never needed.

Stages run one after another, each in processes of its own under a time limit cut from one overall budget
(:data:`BUDGET_S`, inside the 8 minutes the first GPU call may take), so a stage that hangs cannot eat the ones
after it. Everything lands in OUT, in five files: ``gpu-check.log`` (every stage's full output), ``summary.md``
(each stage's status and time, then the benchmark table) and the benchmark's ``bench/results.json``,
``bench/results.md`` and ``bench/throughput.png`` (the JSON is rewritten after every case, so a benchmark cut
short keeps what it measured). Exit status 0 when every stage passed, else 1.

``--device cpu --tiny`` runs the same stages on the CPU at toy sizes (the CUDA tests skip): how the check is tested
without a GPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import report

BUDGET_S = 450.0
"""Seconds for all stages together: 7.5 of the 8 minutes, the rest for start-up and the wheels."""
MIN_STAGE_S = 5.0
"""A stage that would get less than this is skipped: the budget is spent."""

WHEELS = Path(".whl")
KERAS_BACKENDS = ("jax", "torch")
CUDA_TEST_FILES = ("tests/test_runtime.py", "tests/test_conv_pool.py")
CUDA_PARITY_FILE = "parity_tests/test_cuda_parity.py"
GPU_ENGINES = ("torch", "torch-cudagraphs", "torch-compile", "keras-jax", "keras-torch")


@dataclasses.dataclass(frozen=True)
class Stage:
    """One step of the check: a command (run from the repository root) with extra environment and a time limit in
    seconds (cut to what is left of the budget when it starts). ``skip``: why it cannot run here, if it cannot."""

    name: str
    command: tuple[str, ...]
    limit_s: float
    env: tuple[tuple[str, str], ...] = ()
    skip: str | None = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    stage: str
    status: str  # passed | failed | timed out | skipped
    seconds: float
    detail: str = ""


def keras_missing(python: str, env: dict[str, str]) -> str | None:
    """Why Keras cannot be imported by ``python`` in ``env`` (wheels missing), or None."""
    probe = subprocess.run([python, "-c", "import keras"], env=dict(env, KERAS_BACKEND="torch"), capture_output=True, text=True)
    if probe.returncode == 0:
        return None
    last = (probe.stderr.strip().splitlines() or ["no output"])[-1]
    return f"Keras does not import ({last}); run `make gpu-wheels` here and carry .whl"


ENVIRONMENT = (
    "import json, torch\n"
    "from benchmarks import environment, peak\n"
    "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
    "print(json.dumps({'machine': environment.machine(), 'versions': environment.versions(),"
    " 'torch': peak.torch_runtime(device)}, indent=1))"
)
"""The environment stage's program: the machine, package versions and what torch runs with (GPU, CUDA, cuDNN)."""


def _options(options: dict[str, object]) -> list[str]:
    """``{"--batches": (64, 256), "--out": path}`` as command-line words."""
    words: list[str] = []
    for name, value in options.items():
        words += [name, *map(str, value if isinstance(value, tuple) else (value,))]
    return words


def stages(python: str, device: str, tiny: bool, out: Path, scratch: Path, no_keras: str | None) -> list[Stage]:
    """The check's stages, in the order they run. Keras stages carry ``no_keras`` as their skip reason.

    The parity tests compare torch on CUDA with Keras on the CPU (``test_cuda_parity``'s premise: JAX kept on the
    CPU, Keras' torch backend given the CPU as its device), so TF32 or a GPU kernel on the Keras side cannot blur them.
    """
    tests = (python, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    keras_on_cpu = (("JAX_PLATFORMS", "cpu"), ("KERAS_TORCH_DEVICE", "cpu"))
    result = [
        Stage("environment", (python, "-c", ENVIRONMENT), 60),
        Stage("nvidia-smi", ("nvidia-smi",), 30, skip=None if device == "cuda" else "no GPU asked for"),
        Stage("cuda tests (torch)", (*tests, "-k", "cuda", *CUDA_TEST_FILES), 150),
    ]
    result += [
        Stage(
            f"cuda parity (Keras on {backend}, CPU)",
            (*tests, CUDA_PARITY_FILE),
            120,
            env=(("KERAS_BACKEND", backend), *keras_on_cpu),
            skip=no_keras,
        )
        for backend in KERAS_BACKENDS
    ]
    train: dict[str, object] = {"--preset": "seed-cnn", "--data": "sensor-grid", "--device": device}
    train |= {"--samples": 64, "--epochs": 1, "--timesteps": 4} if tiny else {"--samples": 2048, "--epochs": 2}
    if device == "cuda":
        train["--amp"] = "bf16"
    train["--out"] = scratch / "train"
    result.append(Stage("train (seed-cnn)", (python, "-m", "lstm2d", "train", *_options(train)), 90))
    bench: dict[str, object] = {"--device": device, "--presets": ("seed-flat", "seed-cnn"), "--modes": ("train", "infer")}
    if tiny:
        bench |= {"--engines": "torch", "--dtypes": "fp32", "--batches": 2, "--timesteps": 3, "--peak-sizes": 64}
        bench |= {"--min-run-time": 0.01, "--min-blocks": 2, "--warmup": 1}
    else:
        # One batch size, so that every engine and dtype fits in the budget; the Keras engines skip themselves
        # (saying so in the table) where Keras is missing.
        bench |= {"--engines": GPU_ENGINES, "--dtypes": ("fp32", "bf16", "fp16"), "--batches": 256}
        bench |= {"--min-run-time": 0.5, "--min-blocks": 3, "--warmup": 2}
    bench["--out"] = out / "bench"
    result.append(Stage("bench", (python, "-m", "lstm2d", "bench", *_options(bench)), BUDGET_S))
    return result


def run_stage(stage: Stage, env: dict[str, str], limit_s: float, log: list[str]) -> Outcome:
    """Run ``stage`` for at most ``limit_s`` seconds, appending its output to ``log``."""
    log.append(f"\n===== {stage.name}: {' '.join(stage.command)}\n")
    if stage.skip is not None:
        log.append(f"skipped: {stage.skip}\n")
        return Outcome(stage.name, "skipped", 0.0, stage.skip)
    if limit_s < MIN_STAGE_S:
        log.append("skipped: the time budget is spent\n")
        return Outcome(stage.name, "skipped", 0.0, "the time budget is spent")
    start = time.monotonic()
    try:
        done = subprocess.run(
            stage.command,
            env=dict(env, **dict(stage.env)),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=limit_s,
        )
    except subprocess.TimeoutExpired as exc:
        output = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
        log.append(output)
        return Outcome(stage.name, "timed out", time.monotonic() - start, f"stopped after {limit_s:.0f} s")
    log.append(done.stdout)
    lines = done.stdout.strip().splitlines()
    status = "passed" if done.returncode == 0 else "failed"
    return Outcome(stage.name, status, time.monotonic() - start, lines[-1] if lines else "")


def install_wheels(python: str, target: Path, log: list[str]) -> None:
    """Install ``.whl/*.whl`` (no index, no dependencies) into ``target``; a failure is logged, and the Keras stages
    then skip, saying why."""
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        log.append("no wheels in .whl/: the Keras stages run only if Keras is installed already\n")
        return
    command = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir"]
    done = subprocess.run([*command, "--target", str(target), *map(str, wheels)], capture_output=True, text=True)
    log.append(f"pip install {' '.join(w.name for w in wheels)}: exit {done.returncode}\n{done.stdout}{done.stderr}")


def summary(outcomes: Sequence[Outcome], out: Path, total_s: float) -> str:
    lines = ["# GPU check", "", f"{total_s:.0f} s in all, budget {BUDGET_S:.0f} s.", ""]
    lines += ["| stage | status | seconds | last line |", "|---|---|---|---|"]
    lines += [f"| {o.stage} | {o.status} | {o.seconds:.0f} | {o.detail.replace('|', '/')} |" for o in outcomes]
    results = out / "bench" / "results.json"
    if results.exists():  # complete, or as far as the benchmark got within its time
        doc = json.loads(results.read_text(encoding="utf-8"))
        lines += ["", f"Benchmark: {len(doc['results'])} cases measured.", "", report.markdown(doc)]
    return "\n".join(lines) + "\n"


def check(out: Path, device: str, tiny: bool) -> int:
    """Run every stage, write ``gpu-check.log`` and ``summary.md`` in ``out``; 0 when all passed."""
    python = sys.executable
    out.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lstm2d-gpu-check-") as scratch_name:
        scratch = Path(scratch_name)
        site = scratch / "site"
        install_wheels(python, site, log)
        path = os.pathsep.join(p for p in (os.getcwd(), str(site), os.environ.get("PYTHONPATH", "")) if p)
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1", TF_CPP_MIN_LOG_LEVEL="2")
        env.update(XLA_PYTHON_CLIENT_PREALLOCATE="false", TORCHINDUCTOR_CACHE_DIR=str(scratch / "inductor"))
        outcomes = []
        for stage in stages(python, device, tiny, out, scratch, keras_missing(python, env)):
            left = BUDGET_S - (time.monotonic() - started)
            outcome = run_stage(stage, env, min(stage.limit_s, left), log)
            outcomes.append(outcome)
            print(f"{outcome.stage}: {outcome.status} ({outcome.seconds:.0f} s) {outcome.detail}", flush=True)
    (out / "gpu-check.log").write_text("".join(log), encoding="utf-8")
    (out / "summary.md").write_text(summary(outcomes, out, time.monotonic() - started), encoding="utf-8")
    return 0 if all(o.status in ("passed", "skipped") for o in outcomes) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder for gpu-check.log, summary.md and bench/")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: test the check itself")
    parser.add_argument("--tiny", action="store_true", help="toy sizes (with --device cpu)")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print(
                "gpu_check: error: torch sees no CUDA GPU (torch.cuda.is_available() is False); expected a machine "
                "with a CUDA GPU, or --device cpu --tiny to test the check itself",
                file=sys.stderr,
            )
            return 2
    return check(args.out, args.device, args.tiny)


if __name__ == "__main__":
    sys.exit(main())
