"""The training loop in-process: exact resume, mixed precision on the CPU, what --out holds, refusals, no torch.load."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import torch_impl
from lstm2d.train import checkpoint
from lstm2d.train.config import DataConfig, ModelSource, TrainConfig
from lstm2d.train.errors import CheckpointError, TrainError
from lstm2d.train.loop import train
from lstm2d.train.progress import ProgressBar


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models train fastest on one thread, and a shared 2-core CI machine has no second one to spare."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(out: Path, preset: str = "seed-cnn", source: str = "sensor-grid", **changes) -> TrainConfig:
    """A run of a few seconds: 40 sequences of 4 frames, 3 epochs of 4 steps."""
    frame = (8, 8) if source == "moving-digits" else None
    config = TrainConfig(
        model=ModelSource("preset", preset),
        data=DataConfig(source, samples=40, timesteps=4, frame=frame),
        out=out,
        epochs=3,
        batch_size=8,
        lr=3e-3,
        device="cpu",
    )
    return replace(config, **changes)


def quiet(line: str) -> None:
    pass


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch_impl.load_safetensors(out / "model.safetensors").state_dict()


def latest_state(out: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    folder = out / checkpoint.FOLDER / json.loads((out / checkpoint.FOLDER / checkpoint.LATEST).read_text())["checkpoint"]
    return json.loads((folder / "state.json").read_text()), load_file(str(folder / "state.safetensors"))


RESUME_CASES = {
    "cnn-sensor-cosine-clip": {"lr_schedule": "cosine", "clip_grad_norm": 0.5},
    "flat-digits-onecycle": {"preset": "seed-flat", "source": "moving-digits", "lr_schedule": "onecycle"},
    "rgb-sensor-bf16-decay": {"preset": "seed-cnn-rgb", "amp": "bf16", "weight_decay": 0.1},
}


@pytest.mark.parametrize("case", RESUME_CASES)
def test_resume_after_an_interruption_ends_with_the_same_weights(tmp_path, case):
    config = tiny(tmp_path / "straight", **RESUME_CASES[case])
    straight = train(config, echo=quiet)
    interrupted = train(replace(config, out=tmp_path / "cut"), on_epoch_end=lambda row: row["epoch"] == 1, echo=quiet)
    assert interrupted.interrupted and len(interrupted.history) == 1
    assert not (tmp_path / "cut" / "model.safetensors").exists()
    resumed = train(replace(config, out=tmp_path / "cut", resume=True), echo=quiet)
    assert not resumed.interrupted
    final, reference = weights(tmp_path / "cut"), weights(tmp_path / "straight")
    for key, value in reference.items():
        assert torch.equal(final[key], value), key
    assert [row["val_" + k] for row in resumed.history for k in ("mse", "mae") if "val_" + k in row] == [
        row["val_" + k] for row in straight.history for k in ("mse", "mae") if "val_" + k in row
    ]
    state, tensors = latest_state(tmp_path / "cut")
    state_ref, tensors_ref = latest_state(tmp_path / "straight")
    assert state["scheduler"] == state_ref["scheduler"] and state["scaler"] == state_ref["scaler"]
    assert state["optimizer"] == state_ref["optimizer"]
    assert tensors.keys() == tensors_ref.keys() and all(torch.equal(tensors[k], tensors_ref[k]) for k in tensors)


def test_bf16_mixed_precision_on_the_cpu(tmp_path):
    amp = "bf16"
    train(tiny(tmp_path / "fp32", epochs=2), echo=quiet)
    mixed = train(tiny(tmp_path / amp, epochs=2, amp=amp), echo=quiet)
    assert all(torch.isfinite(torch.tensor(list(row.values()))).all() for row in mixed.history)
    assert mixed.final.loss < mixed.baseline.loss
    low, high = weights(tmp_path / amp), weights(tmp_path / "fp32")
    assert all(v.dtype == torch.float32 for v in low.values())  # master weights stay float32
    difference = max((low[k] - high[k]).abs().max().item() for k in low)
    assert 0 < difference < 0.05, "autocast must change the numbers (it ran), but only by rounding"


def test_fp16_is_refused_on_the_cpu(tmp_path):
    with pytest.raises(TrainError, match=r"--amp fp16 is for CUDA .* use --amp bf16 on the CPU"):
        train(tiny(tmp_path, amp="fp16"), echo=quiet)


def test_out_holds_metrics_plot_summary_model_and_checkpoints(tmp_path):
    result = train(tiny(tmp_path, epochs=3, export_keras=tmp_path / "trained.keras"), echo=quiet)
    rows = list(csv.DictReader((tmp_path / "metrics.csv").open()))
    assert [int(row["epoch"]) for row in rows] == [1, 2, 3]
    assert set(rows[0]) >= {"step", "lr", "train_mse", "train_mae", "val_mse", "val_mae", "baseline_mse", "samples_per_s"}
    assert float(rows[-1]["val_mse"]) == pytest.approx(result.final.loss)
    assert (tmp_path / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["final"]["val_mse"] == result.final.loss and summary["baseline"]["loss"] == result.baseline.loss
    assert len(list((tmp_path / checkpoint.FOLDER).glob("step-*"))) == checkpoint.KEEP
    trained = torch_impl.load_safetensors(tmp_path / "model.safetensors")
    exported = torch_impl.from_keras(tmp_path / "trained.keras")
    x = torch.randn(3, 4, 1, 10, 10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(exported(x), trained(x), rtol=0, atol=1e-6)


def test_validation_and_baseline_are_reported_each_epoch(tmp_path):
    lines: list[str] = []
    result = train(tiny(tmp_path, source="moving-digits", epochs=2), echo=lines.append)
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2
    assert all("val cross_entropy" in line and "(baseline cross_entropy" in line and "samples/s" in line for line in epoch_lines)
    assert 0 < result.baseline.metric < 0.5 and result.baseline.loss == pytest.approx(2.3, abs=0.2)


def test_resume_needs_a_checkpoint_and_the_same_settings(tmp_path):
    with pytest.raises(CheckpointError, match=r"--resume: no checkpoint in .*checkpoints"):
        train(tiny(tmp_path, resume=True), echo=quiet)
    train(tiny(tmp_path, epochs=1, lr_schedule="cosine"), echo=quiet)
    with pytest.raises(CheckpointError, match=r"holds a checkpoint of an earlier run: add --resume"):
        train(tiny(tmp_path, epochs=1, lr_schedule="cosine"), echo=quiet)
    with pytest.raises(
        CheckpointError, match=r"different run \(settings.epochs: checkpoint 1, now 2; settings.lr: checkpoint 0.003, now 0.01\)"
    ):
        train(tiny(tmp_path, epochs=2, lr=0.01, lr_schedule="cosine", resume=True), echo=quiet)


def test_more_epochs_continue_a_constant_learning_rate_run(tmp_path):
    train(tiny(tmp_path, epochs=1), echo=quiet)
    result = train(tiny(tmp_path, epochs=2, resume=True), echo=quiet)
    assert [row["epoch"] for row in result.history] == [1, 2]


def test_checkpoints_load_without_torch_load(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", refuse)
    train(tiny(tmp_path, epochs=2), on_epoch_end=lambda row: True, echo=quiet)
    assert train(tiny(tmp_path, epochs=2, resume=True), echo=quiet).final is not None


def test_global_batch_must_split_over_the_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(TrainError, match=r"--batch-size 8 is the global batch: expected a multiple of the process count 3"):
        train(tiny(tmp_path), echo=quiet)


@pytest.mark.slow
def test_compiled_training_matches_eager(tmp_path):
    """--compile (torch.compile, inductor on the CPU): the same training up to float rounding (about 30 s: compilation)."""
    eager = train(tiny(tmp_path / "eager", epochs=1), echo=quiet)
    compiled = train(tiny(tmp_path / "compiled", epochs=1, compile=True), echo=quiet)
    assert compiled.final.loss == pytest.approx(eager.final.loss, rel=1e-4)
    low, high = weights(tmp_path / "compiled"), weights(tmp_path / "eager")
    for key, value in high.items():
        torch.testing.assert_close(low[key], value, rtol=0, atol=1e-5, msg=key)


def test_a_damaged_checkpoint_is_refused_by_name(tmp_path):
    train(tiny(tmp_path, epochs=2), on_epoch_end=lambda row: True, echo=quiet)
    state_json = next((tmp_path / checkpoint.FOLDER).glob("step-*/state.json"))
    state_json.write_text("{ not json")
    with pytest.raises(CheckpointError, match=r"--resume: checkpoint .*step-00000004 is unreadable"):
        train(tiny(tmp_path, epochs=2, resume=True), echo=quiet)


def test_progress_bar_on_a_terminal_shows_loss_and_rate():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(label="epoch 1/3", total=4, stream=stream)
    for done in range(1, 5):
        bar.update(done, samples=8 * done, loss=lambda: 0.125)
    bar.close()
    drawn = stream.getvalue()
    assert "epoch 1/3 [" in drawn and "] 4/4 loss 0.125 " in drawn and "samples/s" in drawn
    assert ProgressBar(label="x", total=1, stream=io.StringIO()).enabled is False  # logs get the epoch lines only
