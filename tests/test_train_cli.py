"""``lstm2d train`` from the command line: every data source end to end, usage errors, Ctrl-C, and torchrun with DDP."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import torch_impl
from lstm2d.cli import main
from lstm2d.presets import get_preset
from lstm2d.spec import LSTM, Dense, InputSpec, ModelSpec
from lstm2d.train import checkpoint, loop
from tests.blocked_imports import run_with_blocked
from tests.graph_models import TWO_HEADS

TINY = ["--timesteps", "4", "--samples", "40", "--epochs", "2", "--batch-size", "8", "--device", "cpu"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    """One thread here and in the subprocesses: tiny models train fastest so on a shared 2-core machine, and runs
    compared bit for bit (Ctrl-C and resume against an uninterrupted run) use the same kernels."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(threads)


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch_impl.load_safetensors(out / "model.safetensors").state_dict()


def test_help_documents_the_train_options(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    options = "--preset --spec --from-keras --data --epochs --batch-size --lr --device --amp --compile --out --resume"
    options += " --export-keras --seed --layout --clip-grad-norm --lr-schedule --samples --timesteps --frame --workers"
    for option in options.split():
        assert option in out, option


def test_train_runs_without_keras_or_tensorflow(tmp_path):
    """The real entry point, in a fresh process where Keras, TensorFlow and JAX cannot be imported."""
    done = run_with_blocked(
        "keras,tensorflow,jax,keras_ref",
        """
        import importlib.util, sys
        # Blocked packages look absent to probes too (torch.optim's lazy dynamo import asks find_spec about tensorflow).
        real_find_spec = importlib.util.find_spec
        blocked = set(sys.argv[1].split(","))
        importlib.util.find_spec = lambda name, *a: None if name.split(".")[0] in blocked else real_find_spec(name, *a)
        from lstm2d.cli import main
        code = main(["train", "--preset", "seed-cnn", "--data", "sensor-grid", "--out", sys.argv[2], *sys.argv[3:]])
        assert not imported({"keras", "tensorflow", "jax"})
        raise SystemExit(code)
        """,
        str(tmp_path),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    assert "trivial baseline on validation: mse" in done.stdout
    assert [line.split()[1] for line in done.stdout.splitlines() if line.startswith("epoch ")] == ["1/2", "2/2"]
    assert {"model.safetensors", "metrics.csv", "loss.png", "summary.json", "checkpoints"} <= {p.name for p in tmp_path.iterdir()}


def test_train_without_matplotlib_trains_and_skips_only_the_plot(tmp_path):
    done = run_with_blocked(
        "matplotlib",
        """
        from lstm2d.cli import main
        raise SystemExit(main(["train", "--preset", "seed-flat", "--data", "sensor-grid", "--out", sys.argv[2], *sys.argv[3:]]))
        """,
        str(tmp_path),
        *TINY,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("loss.png skipped: matplotlib is not installed") == 1, done.stdout
    assert "wrote model.safetensors, metrics.csv, summary.json" in done.stdout
    written = {p.name for p in tmp_path.iterdir()}
    assert {"model.safetensors", "metrics.csv", "summary.json"} <= written and "loss.png" not in written


def _npz(path: Path, layout: str) -> Path:
    rng = np.random.default_rng(0)
    x = rng.random((24, 4, 6, 5, 2), dtype=np.float32)  # (N, T, H, W, C)
    y = x[:, -1, :, :, 0].mean(axis=(1, 2))  # regression: the last frame's mean of channel 0
    np.savez(path, x=x if layout == "channels_last" else x.transpose(0, 1, 4, 2, 3), y=y)
    return path


@pytest.mark.parametrize(
    ("model_kind", "data"),
    [
        ("preset", "moving-digits"),
        ("spec", "sensor-grid"),
        ("preset", "npz-channels_last"),
        ("preset", "npz-channels_first"),
        ("keras", "moving-digits"),
    ],
)
def test_every_model_and_data_source_end_to_end(tmp_path, capsys, model_kind, data):
    args = ["train", "--out", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "8", "--device", "cpu"]
    if model_kind == "preset":
        args += ["--preset", "seed-flat"]
    elif model_kind == "spec":
        assert main(["spec", "seed-cnn-rgb"]) == 0
        (tmp_path / "spec.json").write_text(capsys.readouterr().out)
        args += ["--spec", str(tmp_path / "spec.json")]
    else:
        torch_impl.to_keras(torch_impl.build_model(get_preset("seed-cnn")), tmp_path / "start.keras")
        args += ["--from-keras", str(tmp_path / "start.keras"), "--export-keras", str(tmp_path / "trained.keras")]
    if data.startswith("npz"):
        layout = data.removeprefix("npz-")
        args += ["--data", str(_npz(tmp_path / "data.npz", layout)), "--layout", layout]
    else:
        args += ["--data", data, "--samples", "40", "--timesteps", "4"]
        args += ["--frame", "9x9"] if data == "moving-digits" and model_kind == "preset" else []
    assert main(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["epochs"] == 2
    expected_task = "10-class classification per sample" if data == "moving-digits" else "regression of 1 value(s) per sample"
    assert summary["task"] == expected_task
    if model_kind == "keras":
        assert "adapted: output 'dense_1' units: 1 -> 10, for the task" in out
        assert re.search(r"fresh weights \(do not fit the task\): \S+\.bias, \S+\.weight\n", out), out
        assert torch_impl.from_keras(tmp_path / "trained.keras").spec.output_shape() == (10,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "digits.csv"], "expected sensor-grid or moving-digits or moving-pattern or a .npz file, got 'digits.csv'"),
        (
            ["--data", "moving-pattern"],
            "the model gives one output per sample but the data has a frame per timestep; use a model",
        ),
        (["--data", "BAD_NPZ"], "expected the same number of samples in every array, 5 as in x, found x 5, y 4"),
        (["--data", "BAD_NPZ", "--samples", "10"], "--samples only applies to the built-in sources"),
        (["--data", "sensor-grid", "--amp", "fp16"], "--amp fp16 is for CUDA"),
        (["--data", "sensor-grid", "--epochs", "0"], "--epochs: expected at least 1, got 0"),
        (["--data", "sensor-grid", "--val-fraction", "1.5"], "--val-fraction: expected a number between 0 and 1, got 1.5"),
        (["--data", "moving-digits", "--frame", "6x6"], "moving-digits: expected frames of at least 8x8"),
        (["--data", "sensor-grid", "--resume"], "--resume: no checkpoint in"),
    ],
)
def test_bad_requests_fail_with_one_clear_line(tmp_path, capsys, args, message):
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 2, 3, 3, 1), np.float32), y=np.zeros(4, np.float32))
    args = [str(tmp_path / "bad.npz") if a == "BAD_NPZ" else a for a in args]
    assert main(["train", "--preset", "seed-cnn", "--out", str(tmp_path / "run"), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm2d train: error: ") and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_frame_must_be_height_x_width(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--preset", "seed-cnn", "--data", "sensor-grid", "--out", "x", "--frame", "16"])
    assert "expected HEIGHTxWIDTH such as 16x16, got '16'" in capsys.readouterr().err


def test_ctrl_c_mid_epoch_writes_a_checkpoint_that_resumes_exactly(tmp_path, monkeypatch, capsys):
    """A real SIGINT, sent after a chosen step (not after a sleep, whose step depends on the machine's speed): the
    run finishes that step, checkpoints exactly there, exits 130, and the resumed run ends bit for bit where an
    uninterrupted one does."""
    args = ["--preset", "seed-cnn", "--data", "sensor-grid", "--timesteps", "4", "--samples", "400", "--epochs", "4"]
    args += ["--batch-size", "8", "--device", "cpu", "--lr", "3e-3", "--lr-schedule", "cosine", "--workers", "1"]
    steps_per_epoch, stop_epoch, stop_batch = 40, 1, 13  # 320 training samples / 8; SIGINT in batch 13 of epoch 2
    train_step = loop.TrainingRun._step
    steps_taken = itertools.count(1)

    def step_then_ctrl_c(run: loop.TrainingRun, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        sums = train_step(run, x, y)
        if next(steps_taken) == stop_epoch * steps_per_epoch + stop_batch:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the handler runs before this step's bookkeeping ends
        return sums

    cut = tmp_path / "cut"
    with monkeypatch.context() as patch:
        patch.setattr(loop.TrainingRun, "_step", step_then_ctrl_c)
        assert main(["train", *args, "--out", str(cut)]) == 130
    out, err = capsys.readouterr()
    assert "SIGINT: finishing this step, then writing a checkpoint" in err
    assert f"stopped at epoch {stop_epoch + 1}, batch {stop_batch}/{steps_per_epoch}" in out
    assert "continue with the same command and --resume" in out and "Traceback" not in err
    state = json.loads((cut / checkpoint.FOLDER / "latest.json").read_text())
    position = json.loads((cut / checkpoint.FOLDER / state["checkpoint"] / "state.json").read_text())["position"]
    assert (position["epoch"], position["batch"]) == (stop_epoch, stop_batch)  # mid-epoch, where the signal came
    assert position["step"] == stop_epoch * steps_per_epoch + stop_batch

    assert main(["train", *args, "--out", str(cut), "--resume"]) == 0
    assert f"resuming at epoch {stop_epoch + 1}, batch {stop_batch}" in capsys.readouterr().out
    assert main(["train", *args, "--out", str(tmp_path / "straight")]) == 0
    resumed, straight = weights(cut), weights(tmp_path / "straight")
    assert all(torch.equal(resumed[key], straight[key]) for key in straight)


def test_torchrun_ddp_on_two_cpu_processes_matches_one_process(tmp_path):
    """gloo, 2 processes of 8 samples per step against 1 process of 16: the same batches, the same training."""
    args = ["--preset", "seed-cnn", "--data", "sensor-grid", "--timesteps", "4", "--samples", "100", "--epochs", "2"]
    args += ["--batch-size", "16", "--device", "cpu", "--lr", "3e-3"]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "lstm2d",
            "train",
            *args,
            "--out",
            str(tmp_path / "ddp"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 processes of 8 samples per step" in done.stdout
    assert main(["train", *args, "--out", str(tmp_path / "single")]) == 0
    ddp, single = weights(tmp_path / "ddp"), weights(tmp_path / "single")
    for key, value in single.items():
        torch.testing.assert_close(ddp[key], value, rtol=0, atol=1e-5, msg=key)
    history = [json.loads((tmp_path / run / "summary.json").read_text())["final"] for run in ("ddp", "single")]
    assert history[0]["step"] == history[1]["step"] == 2 * 5
    assert history[0]["val_mse"] == pytest.approx(history[1]["val_mse"], rel=1e-4)
    assert history[0]["train_mse"] == pytest.approx(history[1]["train_mse"], rel=1e-4)


def test_readme_train_commands_parse():
    """Every `lstm2d train` line in README's Train section is a valid request (parsed, not run)."""
    from lstm2d.cli import _parser
    from lstm2d.train.arguments import config_from_args

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Train\n") : readme.index("\n## ", readme.index("## Train\n") + 1)]
    lines = [line.split("#")[0].split() for line in section.splitlines() if "lstm2d train" in line and "--" in line]
    commands = [words[words.index("train") :] for words in lines if words[0] in ("lstm2d", "torchrun")]
    assert len(commands) >= 4
    for words in commands:
        config = config_from_args(_parser().parse_args(words))
        assert config.out.parts[0] == "runs"


def test_next_frame_preset_trains_on_moving_pattern_and_exports_keras(tmp_path, capsys):
    """Issue 8: the ConvLSTM2D next-frame preset, trained end to end on the built-in moving-pattern data."""
    out = tmp_path / "run"
    args = ["train", "--preset", "next-frame", "--data", "moving-pattern", "--frame", "8x8", "--out", str(out)]
    args += [*TINY, "--export-keras", str(tmp_path / "next_frame.keras")]
    assert main(args) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["task"] == "next-frame prediction (1 channel(s)) at every timestep"
    assert "trivial baseline on validation: mse" in printed
    assert torch_impl.from_keras(tmp_path / "next_frame.keras").spec.output_shape() == (4, 8, 8, 1)


def _graph_npz(path: Path, n: int = 24, steps: int = 4) -> Path:
    """Inputs of TWO_HEADS by name (frames in Keras' layout, a right-padding mask) and a target per output: the mean of
    the last real step's side features (regression) and, per step, which side feature is largest (3 classes)."""
    rng = np.random.default_rng(0)
    side = rng.random((n, steps, 3), dtype=np.float32)
    lengths = rng.integers(1, steps + 1, n)
    mask = np.arange(steps)[None, :] < lengths[:, None]
    arrays = {
        "frames": rng.random((n, steps, 6, 5, 2), dtype=np.float32),
        "side": side,
        "steps": mask,
        "y_out": side[np.arange(n), lengths - 1].mean(axis=1),
        "y_per_step": side.argmax(axis=2),
    }
    np.savez(path, **arrays)
    return path


def test_a_keras_graph_of_several_inputs_and_outputs_trains_from_npz_and_resumes(tmp_path, capsys):
    torch_impl.to_keras(torch_impl.build_model(TWO_HEADS), tmp_path / "graph.keras")
    data = _graph_npz(tmp_path / "data.npz")
    args = ["train", "--from-keras", str(tmp_path / "graph.keras"), "--data", str(data), "--batch-size", "8"]
    args += ["--device", "cpu", "--lr", "3e-3"]
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "straight"), "--export-keras", str(tmp_path / "t.keras")]) == 0
    out = capsys.readouterr().out
    assert "inputs per sample: frames (*, 6, 5, 2), side (*, 3), steps (*,)" in out  # open time axes stay open
    assert "data: data.npz: 24 samples of frames (4, 6, 5, 2), side (4, 3), steps (4,); out: regression of 1 value(s) per " in out
    assert "per_step: 3-class classification per timestep" in out
    epoch = next(line for line in out.splitlines() if line.startswith("epoch 2/2"))
    assert re.search(r"val loss \S+ \(out: mse \S+ mae \S+; per_step: cross_entropy \S+ accuracy \S+\)", epoch), epoch
    rows = list(csv.DictReader((tmp_path / "straight" / "metrics.csv").open()))
    assert list(rows[0])[3:9] == ["train_loss", "train_out_mse", "train_out_mae", "train_per_step_cross_entropy",
                                  "train_per_step_accuracy", "val_loss"]  # fmt: skip
    assert float(rows[-1]["val_loss"]) == pytest.approx(
        float(rows[-1]["val_out_mse"]) + float(rows[-1]["val_per_step_cross_entropy"])
    )
    summary = json.loads((tmp_path / "straight" / "summary.json").read_text())
    assert set(summary["baseline"]["outputs"]) == {"out", "per_step"} and summary["baseline"]["metric"] is None
    exported = torch_impl.from_keras(tmp_path / "t.keras").spec
    assert exported.inputs == TWO_HEADS.inputs  # still any sequence length
    assert set(exported.layers) == set(TWO_HEADS.layers) and exported.outputs == TWO_HEADS.outputs

    assert main([*args, "--epochs", "1", "--out", str(tmp_path / "cut")]) == 0  # constant LR: more epochs may follow
    assert main([*args, "--epochs", "2", "--out", str(tmp_path / "cut"), "--resume"]) == 0
    resumed, straight = weights(tmp_path / "cut"), weights(tmp_path / "straight")
    assert all(torch.equal(resumed[key], straight[key]) for key in straight)


def test_a_plain_sequence_keras_model_trains_from_npz(tmp_path, capsys):
    """The article's first model: each 10x10 frame flattened to 100 features, a sequence (T, 100) into an LSTM (small here)."""
    spec = ModelSpec(InputSpec.sequence(None, 6), (LSTM(4), Dense(1)), name="sequence-lstm")
    torch_impl.to_keras(torch_impl.build_model(spec), tmp_path / "seq.keras")
    rng = np.random.default_rng(0)
    x = rng.random((20, 5, 6), dtype=np.float32)
    np.savez(tmp_path / "seq.npz", x=x, y=x[:, -1].sum(axis=1))
    args = ["train", "--from-keras", str(tmp_path / "seq.keras"), "--data", str(tmp_path / "seq.npz"), "--epochs", "2"]
    assert main([*args, "--batch-size", "8", "--device", "cpu", "--out", str(tmp_path / "run")]) == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["task"] == "regression of 1 value(s) per sample" and summary["epochs"] == 2
    assert set(summary["final"]) >= {"val_mse", "val_mae", "baseline_mse"}


def test_builtin_data_refuses_a_model_that_is_not_frames_in_one_output(tmp_path, capsys):
    (tmp_path / "graph.json").write_text(TWO_HEADS.to_json())
    args = ["train", "--spec", str(tmp_path / "graph.json"), "--data", "sensor-grid", "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("lstm2d train: error: --data sensor-grid makes frames (time, height, width, channels) for a model")
    assert "train it on a .npz file with an array per input and a target per output" in err and len(err.splitlines()) == 1
