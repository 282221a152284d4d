"""``benchmarks.gpu_check``: the first GPU call's plan, its time limits and its report, tested on the CPU."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from benchmarks import gpu_check
from lstm2d.cli import _parser


@pytest.mark.parametrize("tiny", [False, True], ids=["gpu-sizes", "tiny"])
def test_every_stage_is_a_command_that_exists(tmp_path, tiny):
    stages = gpu_check.stages(sys.executable, "cuda", tiny, tmp_path / "out", tmp_path, no_keras=None)
    assert [s.name for s in stages][:3] == ["environment", "nvidia-smi", "cuda tests (torch)"]
    for stage in stages:
        if stage.command[1:3] == ("-m", "lstm2d"):
            args = _parser().parse_args(stage.command[3:])  # a renamed option fails here, not on the GPU machine
            assert args.device == "cuda"
        if stage.command[1:3] == ("-m", "pytest"):
            assert all(Path(word).exists() for word in stage.command if word.endswith(".py"))
    bench = _parser().parse_args(stages[-1].command[3:])
    assert bench.out == tmp_path / "out" / "bench"
    if not tiny:
        assert set(bench.engines) == {"torch", "torch-compile", "torch-cudagraphs", "keras-jax", "keras-torch"}
        assert set(bench.dtypes) == {"fp32", "bf16", "fp16"}


def test_keras_stages_skip_saying_why_and_run_keras_on_the_cpu(tmp_path):
    stages = gpu_check.stages(sys.executable, "cuda", False, tmp_path, tmp_path, no_keras="Keras does not import")
    parity = [s for s in stages if s.name.startswith("cuda parity")]
    assert [dict(s.env)["KERAS_BACKEND"] for s in parity] == ["jax", "torch"]
    assert all(s.skip == "Keras does not import" for s in parity)
    assert all(dict(s.env)["JAX_PLATFORMS"] == "cpu" and dict(s.env)["KERAS_TORCH_DEVICE"] == "cpu" for s in parity)


def test_a_stage_past_its_limit_is_stopped_and_reported(monkeypatch):
    monkeypatch.setattr(gpu_check, "MIN_STAGE_S", 0.0)
    log: list[str] = []
    sleeper = gpu_check.Stage("sleeps", (sys.executable, "-c", "print('started', flush=True); import time; time.sleep(60)"), 60)
    outcome = gpu_check.run_stage(sleeper, {}, limit_s=3.0, log=log)
    assert (outcome.status, outcome.detail) == ("timed out", "stopped after 3 s")
    assert outcome.seconds < 30
    assert "started" in "".join(log)
    failing = gpu_check.Stage("fails", (sys.executable, "-c", "raise SystemExit('broken')"), 60)
    assert gpu_check.run_stage(failing, {}, limit_s=30.0, log=log).status == "failed"
    spent = gpu_check.run_stage(failing, {}, limit_s=-1.0, log=log)
    assert (spent.status, spent.detail) == ("skipped", "the time budget is spent")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without a GPU")
def test_without_a_gpu_it_refuses_and_says_how_to_test_it(tmp_path, capsys):
    assert gpu_check.main([str(tmp_path)]) == 2
    assert "--device cpu --tiny" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


@pytest.mark.deep
def test_the_whole_check_runs_on_the_cpu_at_toy_sizes(tmp_path):
    """About a minute and a half: every stage for real (the CUDA tests skip)."""
    out = tmp_path / "out"
    assert gpu_check.main([str(out), "--device", "cpu", "--tiny"]) == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files[:2] == ["bench/results.json", "bench/results.md"] and files[-2:] == ["gpu-check.log", "summary.md"]
    summary = (out / "summary.md").read_text()
    assert "| cuda tests (torch) | passed |" in summary and "| bench | passed |" in summary
    assert len(json.loads((out / "bench" / "results.json").read_text())["results"]) == 4
