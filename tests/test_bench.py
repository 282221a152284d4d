"""The benchmark harness: FLOP counts against hand counts, sweeps, the report, and `lstm2d bench` end to end on tiny sizes."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import replace

import numpy as np
import pytest

import torch_impl
from benchmarks import report
from benchmarks.cases import ENGINES, FULL, QUICK, Case, Sweep
from benchmarks.data import make_batch
from benchmarks.flops import COUNTERS, count_layers, step_flops
from benchmarks.suite import SCHEMA, run_worker
from lstm2d.cli import main
from lstm2d.presets import get_preset
from lstm2d.spec import (
    GRU,
    LAYER_KINDS,
    LSTM,
    Bidirectional,
    Conv1D,
    Conv1DTranspose,
    Conv2D,
    Conv3D,
    ConvLSTM1D,
    ConvLSTM2D,
    Dense,
    Flatten,
    GlobalPool1D,
    InputSpec,
    LayerNorm,
    ModelSpec,
    Pool1D,
    Pool2D,
    PReLU,
    SimpleRNN,
)
from tests.graph_models import TWO_HEADS


def test_seed_cnn_flops_match_a_hand_count():
    # Conv2D(32, 3x3) on 10x10x1: 8x8x32 outputs, 9 multiply-adds each, 100 frames
    conv = 2 * (8 * 8 * 32) * 9 * 100  # 3,686,400
    # LSTM(64) on 4*4*32 = 512 features: gates x_t @ (512 x 256) and h @ (64 x 256), 100 steps
    lstm_input, lstm_recurrent = 2 * 512 * 256 * 100, 2 * 64 * 256 * 100  # 26,214,400 and 3,276,800
    dense = 2 * 64  # Dense(1) on the last state
    forward = conv + lstm_input + lstm_recurrent + dense
    assert forward == 33_177_728
    # backward: every weight gradient; input gradients for all but the conv (its input is the data)
    backward = (conv + lstm_input + lstm_recurrent + dense) + (lstm_input + lstm_recurrent + dense)
    flops = step_flops(get_preset("seed-cnn"))
    assert (flops.inference, flops.training) == (forward, forward + backward) == (33_177_728, 95_846_784)


def test_seed_flat_flops_skip_the_gradient_into_the_data():
    lstm_input, lstm_recurrent, dense = 2 * 100 * 256 * 100, 2 * 64 * 256 * 100, 2 * 64
    forward = lstm_input + lstm_recurrent + dense
    backward = (lstm_input + lstm_recurrent + dense) + lstm_recurrent + dense  # no x_t gradient: x is data
    flops = step_flops(get_preset("seed-flat"))
    assert (flops.inference, flops.training) == (forward, forward + backward)


def test_strided_conv_channels_pooling_and_sequences_are_counted_by_shape():
    spec = ModelSpec(
        InputSpec.frames(7, 9, 8, 3),
        (Pool2D("max", 1), Conv2D(4, (3, 2), strides=2, padding="same"), Pool2D("avg", 2), Flatten(),
         LSTM(5, return_sequences=True), Dense(2)),
    )  # fmt: skip
    layers = {f.name: f for f in count_layers(spec, timesteps=11)}
    assert layers["conv2d_1"].forward == 2 * 11 * (5 * 4 * 4) * (3 * 2 * 3)  # 'same' stride 2: 9x8 -> 5x4
    assert layers["pool2d_2"].forward == 0
    assert layers["lstm_1"].forward == 2 * 11 * (2 * 2 * 4 + 5) * 20  # features 2x2x4 after the 2x2 average pool
    assert layers["dense_1"].forward == 2 * 11 * 5 * 2  # return_sequences: a Dense per timestep
    # the leading pool has no weights, so the conv behind it still needs no input gradient
    flops = step_flops(spec, timesteps=11)
    backward_inputs = layers["lstm_1"].backward_input + layers["dense_1"].backward_input
    internal = layers["lstm_1"].backward_internal
    assert flops.training == 2 * flops.inference + backward_inputs + internal


def test_recurrent_kinds_count_their_gates_and_directions():
    spec = ModelSpec(
        InputSpec.frames(6, 4, 4, 1),
        (Flatten(), GRU(3, return_sequences=True), Bidirectional(SimpleRNN(2)), Dense(1)),
    )
    layers = {f.name: f for f in count_layers(spec)}
    assert layers["gru_1"].forward == 2 * 6 * (16 + 3) * (3 * 3)  # gates z, r, h
    assert layers["bidirectional_1"].forward == 2 * 2 * 6 * (3 + 2) * 2  # two directions, one gate
    assert layers["bidirectional_1"].backward_internal == 2 * 2 * 6 * 2 * 2
    assert layers["dense_1"].forward == 2 * 4 * 1  # concat: 2 x 2 features


def test_conv_lstm_and_conv3d_count_every_cell_gate_and_step():
    spec = ModelSpec(
        InputSpec.frames(5, 8, 8, 2),
        (ConvLSTM2D(3, 3, padding="same", return_sequences=True), Conv3D(1, (3, 3, 3), padding="same")),
    )
    layers = {f.name: f for f in count_layers(spec)}
    cells_gates = 5 * 8 * 8 * 4 * 3 * 3 * 3  # timesteps x cells x (4 gates x 3 filters) x kernel
    assert layers["conv_lstm2d_1"].forward == 2 * cells_gates * (2 + 3)  # input (2 channels) and recurrent (3) kernels
    assert layers["conv_lstm2d_1"].backward_input == 2 * cells_gates * 2
    assert layers["conv3d_1"].forward == 2 * (5 * 8 * 8) * 1 * (27 * 3)


def test_dense_on_frames_is_a_matmul_per_pixel_and_normalisation_none():
    spec = ModelSpec(InputSpec.frames(3, 5, 4, 2), (Dense(6), LayerNorm(), PReLU(), Flatten(whole=True), Dense(2)))
    layers = {f.name: f for f in count_layers(spec)}
    assert layers["dense_1"].forward == 2 * (3 * 5 * 4) * 2 * 6  # a 2 x 6 matmul at each of 3 x 5 x 4 pixels
    assert layers["layer_norm_1"].forward == layers["prelu_1"].forward == 0
    assert layers["dense_2"].forward == 2 * (3 * 5 * 4 * 6) * 2  # the whole sequence, flattened


def test_one_d_layers_count_every_output_position_filter_and_step():
    series = ModelSpec(
        InputSpec.sequence(9, 4),
        (Conv1D(6, 3, strides=2, padding="same", groups=2), Pool1D("max", 2), Conv1DTranspose(3, 2, strides=2), GlobalPool1D()),
    )
    layers = {f.name: f for f in count_layers(series)}
    assert layers["conv1d_1"].forward == 2 * 5 * 6 * 3 * (4 // 2)  # 'same' stride 2: 9 -> 5 positions; 2 channels a group
    assert layers["conv1d_transpose_1"].forward == 2 * 2 * 6 * 3 * 2  # each of 2 input positions x the whole kernel
    assert layers["pool1d_1"].forward == layers["global_pool1d_1"].forward == 0
    signals = ModelSpec(InputSpec((5, 8, 2), name="signals"), (Conv1D(3, 2), ConvLSTM1D(4, 3, padding="same")))
    layers = {f.name: f for f in count_layers(signals)}
    assert layers["conv1d_1"].forward == 2 * 5 * 7 * 3 * 2 * 2  # per step: 5 signals of 7 positions
    cells_gates = 5 * 7 * 4 * 4 * 3  # timesteps x positions x (4 gates x 4 filters) x kernel
    assert layers["conv_lstm1d_1"].forward == 2 * cells_gates * (3 + 4)  # input (3 channels) and recurrent (4) kernels
    assert layers["conv_lstm1d_1"].backward_internal == 2 * cells_gates * 4


@pytest.mark.parametrize("kind", sorted(LAYER_KINDS.keys() | COUNTERS.keys()))
def test_every_layer_kind_has_a_flop_counter(kind):
    assert kind in LAYER_KINDS, f"FLOP counter {kind!r} for a kind lstm2d.spec does not define"
    assert callable(COUNTERS.get(kind)), f"no FLOP counter for layer kind {kind!r}: add one to benchmarks.flops.COUNTERS"


def test_open_sequence_length_needs_timesteps():
    spec = get_preset("seed-cnn").with_input(timesteps=None)
    with pytest.raises(ValueError, match="pass timesteps"):
        step_flops(spec)
    assert step_flops(spec, 100) == step_flops(get_preset("seed-cnn"))


def test_sweep_enumerates_engine_dtype_pairs_and_drops_cuda_only_engines_on_cpu():
    sweep = Sweep(presets=("seed-cnn",), engines=("torch", "torch-cudagraphs", "keras-jax"), modes=("infer",), batches=(2, 4))
    cases = sweep.cases()
    assert [(c.batch, c.engine, c.dtype) for c in cases] == [
        (2, "torch", "fp32"), (2, "torch", "bf16"), (2, "keras-jax", "fp32"),
        (4, "torch", "fp32"), (4, "torch", "bf16"), (4, "keras-jax", "fp32"),
    ]  # fmt: skip
    assert {c.engine for c in Sweep(engines=("torch-cudagraphs",), device="cuda").cases()} == {"torch-cudagraphs"}
    compiled = Sweep(engines=("torch", "torch-compile"), dtypes=("fp32",), batches=(16, 256), compiled_batches=(256,))
    assert {(c.engine, c.batch) for c in compiled.cases()} == {("torch", 16), ("torch", 256), ("torch-compile", 256)}
    assert Case.from_dict(cases[0].to_dict()) == cases[0]
    assert cases[0].spec() == get_preset("seed-cnn")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"engines": ("mxnet",)}, "unknown engines"),
        ({"dtypes": ("fp8",)}, "dtype 'fp8'"),
        ({"batches": (0,)}, "must be positive"),
        ({"device": "auto"}, "resolve 'auto' first"),
        ({"presets": ("seed-rnn",)}, "unknown preset"),
    ],
)
def test_sweep_refuses_what_it_cannot_run(changes, message):
    with pytest.raises(ValueError, match=message):
        Sweep(**changes)


def test_onnxruntime_only_infers_in_fp32_or_fp16():
    sweep = Sweep(presets=("seed-cnn",), engines=("torch", "onnxruntime"), batches=(2,), dtypes=("fp32", "bf16", "fp16"))
    assert [(c.mode, c.engine, c.dtype) for c in sweep.cases()] == [
        ("train", "torch", "fp32"), ("train", "torch", "bf16"), ("train", "torch", "fp16"),
        ("infer", "torch", "fp32"), ("infer", "torch", "bf16"), ("infer", "torch", "fp16"),
        ("infer", "onnxruntime", "fp32"), ("infer", "onnxruntime", "fp16"),
    ]  # fmt: skip
    assert "onnxruntime" in FULL.engines


def test_a_missing_runtime_is_skipped_saying_what_to_install(monkeypatch):
    from benchmarks import suite

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    (case,) = Sweep(presets=("seed-cnn",), engines=("onnxruntime",), modes=("infer",), batches=(2,)).cases()
    assert suite._installed(case) == "not installed: onnxruntime (pip install 'lstm2d[export]')"


@pytest.mark.slow
@pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime")),
    reason="needs lstm2d[export]",
)
def test_onnxruntime_engine_end_to_end_beside_torch(tmp_path):
    out = tmp_path / "results"
    argv = ["bench", "--presets", "seed-cnn", "--engines", "torch", "onnxruntime", "--modes", "infer", "--batches", "2"]
    argv += ["--timesteps", "3", "--dtypes", "fp32", "--min-run-time", "0.01", "--min-blocks", "2", "--warmup", "1"]
    argv += ["--device", "cpu", "--peak-sizes", "64", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    assert [(r["case"]["engine"], r["status"]) for r in doc["results"]] == [("torch", "ok"), ("onnxruntime", "ok")]
    ort = doc["results"][1]
    assert ort["framework_version"].startswith("onnxruntime ") and ort["runtime"]["providers"] == ["CPUExecutionProvider"]
    assert ort["runtime"]["onnx_operators"]["LSTM"] == 1
    assert "| seed-cnn | infer | 2 | 3 | onnxruntime | fp32 |" in (out / "results.md").read_text()


def test_quick_sweep_stays_small():
    assert len(QUICK.cases()) == 4
    assert {ENGINES[c.engine].framework for c in QUICK.cases()} == {"torch", "keras"}


def _result(engine, mode, batch, rate, peak_bytes, preset="seed-cnn", dtype="fp32"):
    spec = get_preset(preset)
    case = Case(engine, preset, mode, batch, 100, spec.input.height, spec.input.width, spec.input.channels, dtype)
    flops = step_flops(spec)
    per_sample = flops.training if mode == "train" else flops.inference
    return {
        "case": case.to_dict(),
        "status": "ok",
        "samples_per_s": {"median": rate, "low": rate * 0.9, "high": rate * 1.1},
        "warmup_s": [0.5],
        "memory": {"peak_bytes": peak_bytes, "per_sample_bytes": peak_bytes / batch, "method": "test"},
        "flops": {"per_sample": per_sample, "achieved_gflops": rate * per_sample / 1e9},
    }


def _doc(results, peak32=100.0, peak16=200.0, native=True):
    peaks = {"status": "ok", "peaks": {"fp32": {"gflops": peak32}, "bf16": {"gflops": peak16}}}
    return {
        "schema": SCHEMA,
        "created": "now",
        "command": "lstm2d bench",
        "machine": {"cpu": "Test CPU", "usable_cpus": 2, "matmul_flags": ["avx2"], "native_bf16": native},
        "versions": {"torch": "x"},
        "thread_environment": {"OMP_NUM_THREADS": None},
        "load_average": {"before": [0.0, 0.0, 0.0], "after": [0.0, 0.0, 0.0]},
        "peak": {"before": peaks, "after": {"status": "error", "reason": "x"}},
        "results": results,
    }


def test_report_ratios_targets_and_marginal_memory():
    mib = 1 << 20
    doc = _doc(
        [
            _result("torch", "train", 16, 300.0, 40 * mib),
            _result("torch", "train", 64, 900.0, 100 * mib),
            _result("keras-jax", "train", 64, 100.0, 300 * mib),
            _result("keras-tensorflow", "train", 64, 50.0, 90 * mib),
            _result("keras-tensorflow", "train", 16, 20.0, 30 * mib),
            _result("torch", "train", 256, 500.0, 300 * mib),
            _result("torch", "train", 256, 950.0, 150 * mib, dtype="bf16"),
            {"case": Case("keras-torch", "seed-cnn", "infer", 64, 100, 10, 10, 1).to_dict(), "status": "skipped", "reason": "no"},
        ]
    )
    rows = {row.target: row for row in report.targets(doc)}
    speed = rows["seed-cnn train B=64 T=100: torch >= 8x best Keras"]
    assert speed.measured.startswith("9.00x (torch 900 vs keras-jax 100") and speed.met
    # marginal memory: torch (100-40)/48 MiB per sample; keras-tensorflow (90-30)/48; keras-jax has no smaller batch
    memory = rows["seed-cnn train B=64: torch memory per sample <= best Keras"]
    assert memory.measured == f"{60 * 1024 / 48:,.1f} vs {60 * 1024 / 48:,.1f} KiB/sample" and memory.met
    fraction = rows["seed-cnn train B=256: >= 40% of fp32 matmul peak"]
    assert fraction.measured.startswith(f"{100 * 500 * step_flops(get_preset('seed-cnn')).training / 1e9 / 100:.1f}%")
    assert (
        rows["seed-cnn train B=256: bf16 >= 1.8x fp32"].measured.startswith("1.90x")
        and rows["seed-cnn train B=256: bf16 >= 1.8x fp32"].met
    )
    text = report.markdown(doc)
    assert "| seed-cnn | train | 64 | 100 | torch | fp32 | 900 | 810-990 | 9.00 |" in text
    assert "| seed-cnn | infer | 64 | 100 | keras-torch | fp32 | skipped: no |" in text
    assert "fp32 100 GFLOP/s, bf16 200 GFLOP/s" in text


def test_onnxruntime_results_are_not_torch_results_in_the_targets():
    doc = _doc(
        [
            _result("torch", "infer", 64, 900.0, 1),
            _result("onnxruntime", "infer", 64, 5000.0, 1),
            _result("keras-tensorflow-graph", "infer", 64, 300.0, 1),
        ]
    )
    rows = {row.target: row for row in report.targets(doc)}
    assert rows["seed-cnn infer B=64 T=100: torch >= 2x best Keras"].measured.startswith("3.00x (torch 900 vs keras")
    assert "| seed-cnn | infer | 64 | 100 | onnxruntime | fp32 | 5,000 | 4,500-5,500 | 16.67 |" in report.markdown(doc)


def test_bf16_target_does_not_apply_without_native_bf16():
    doc = _doc([_result("torch", "train", 256, 500.0, 1), _result("torch", "train", 256, 600.0, 1, dtype="bf16")], native=False)
    (row,) = report.targets(doc)[-1:]
    assert "not applicable" in row.target and row.met


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None, reason="needs matplotlib (lstm2d[bench])")
def test_plot_writes_a_png(tmp_path):
    doc = _doc([_result("torch", "train", 16, 300.0, 1), _result("torch", "train", 64, 900.0, 1)])
    report.plot(doc, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("preset", "layer_by_layer", "frontend_op"),
    [("seed-cnn", False, True), ("seed-cnn", True, True), ("seed-flat", False, False)],
)
def test_profile_splits_a_step_into_its_parts(preset, layer_by_layer, frontend_op):
    from benchmarks.profile import breakdown

    spec = get_preset(preset)
    case = Case("torch", preset, "train", 2, 3, spec.input.height, spec.input.width, spec.input.channels, warmup=1)
    parts = breakdown(case, steps=2, layer_by_layer=layer_by_layer)
    assert parts["LSTM"] > 0 and parts["optimizer"] > 0
    assert (parts["frontend (conv, pool, activation)"] > 0) is frontend_op
    assert sum(value for key, value in parts.items() if key != "total") == pytest.approx(parts["total"])


def test_a_failing_worker_is_a_result_not_a_crash():
    result = run_worker("case", {"engine": "torch", "preset": "seed-rnn"}, env={})
    assert result["status"] == "error"
    assert "TypeError" in result["reason"] or "unknown preset" in result["reason"]


def _check_schema(doc):
    """The results document's shape: what every consumer (table, plot, the lead's comparisons) reads."""
    assert doc["schema"] == SCHEMA
    for key in ("created", "command", "machine", "versions", "thread_environment", "load_average", "sweep", "peak", "results"):
        assert key in doc, key
    assert isinstance(doc["machine"]["cpu"], str) and doc["machine"]["logical_cpus"] >= 1
    assert doc["versions"]["torch"]
    for when in ("before", "after"):
        peak = doc["peak"][when]
        assert peak["status"] == "ok"
        assert peak["peaks"]["fp32"]["gflops"] > 0
        assert {"threads", "mkldnn", "float32_matmul_precision"} <= set(peak["torch"])
    for result in doc["results"]:
        assert Case.from_dict(result["case"])
        assert result["flops"]["per_sample"] > 0
        if result["status"] != "ok":
            continue
        rate = result["samples_per_s"]
        assert 0 < rate["low"] <= rate["median"] <= rate["high"]
        assert result["blocks"] >= 2 and result["steps_per_block"] >= 1
        assert result["memory"]["method"] and isinstance(result["memory"]["peak_bytes"], int)
        assert result["flops"]["achieved_gflops"] > 0
        assert result["compiler"] and result["framework_version"]


def test_bench_command_end_to_end_on_tiny_sizes(tmp_path):
    out = tmp_path / "results"
    argv = ["bench", "--presets", "seed-cnn", "--engines", "torch", "--batches", "2", "--timesteps", "3"]
    argv += ["--dtypes", "fp32", "--min-run-time", "0.01", "--min-blocks", "2", "--warmup", "1", "--device", "cpu"]
    argv += ["--peak-sizes", "64", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    assert [(r["case"]["mode"], r["status"]) for r in doc["results"]] == [("train", "ok"), ("infer", "ok")]
    for result in doc["results"]:
        kernels = " ".join(result["kernels"])
        assert "lstm2d::conv_max_pool" in kernels
        assert any(lstm in kernels for lstm in ("aten::mkldnn_rnn_layer", "aten::lstm")), kernels  # oneDNN's, or ATen's
        assert result["tf32"] is False
    assert "| seed-cnn | train | 2 | 3 | torch | fp32 |" in (out / "results.md").read_text()
    if importlib.util.find_spec("matplotlib") is not None:
        assert (out / "throughput.png").stat().st_size > 0
    assert main(["bench", "--render", str(out / "results.json")]) == 0


def test_bench_refuses_a_bad_option(capsys):
    assert main(["bench", "--presets", "seed-rnn", "--device", "cpu"]) == 2
    assert "unknown preset 'seed-rnn'" in capsys.readouterr().err


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason="needs the Keras side")
def test_keras_engines_run_each_backend_in_its_own_process():
    from benchmarks.suite import _worker_env

    names = ("keras-tensorflow-graph", "keras-jax", "keras-torch")
    engines = [name for name in names if importlib.util.find_spec(ENGINES[name].backend)]
    sweep = Sweep(presets=("seed-flat",), engines=tuple(engines), modes=("infer",), batches=(2,), timesteps=(3,), warmup=1)
    cases = [Case.from_dict(case.to_dict() | {"min_run_time": 0.01, "min_blocks": 2}) for case in sweep.cases()]
    results = [run_worker("case", case.to_dict(), _worker_env(case, "cpu")) for case in cases]
    for case, result in zip(cases, results, strict=True):
        assert result["status"] == "ok", (case.engine, result)
        assert result["framework_version"].startswith("keras ")
        assert result["compiler"] == ENGINES[case.engine].compiler
        assert result["samples_per_s"]["median"] > 0 and result["memory"]["peak_bytes"] != 0
    by_engine = dict(zip(engines, results, strict=True))
    if "keras-tensorflow-graph" in by_engine:
        assert "onednn" in by_engine["keras-tensorflow-graph"]["runtime"]
    if "keras-torch" in by_engine:
        assert by_engine["keras-torch"]["kernels"]  # the torch backend's ops, read from the profiler


# -- a user's own model: lstm2d bench --from-keras FILE ------------------------------------------------------------


def test_a_model_file_sweep_runs_the_file_at_its_own_shapes(tmp_path):
    sweep = Sweep(model_file=str(tmp_path / "graph.keras"), presets=(), engines=("torch", "keras-jax"), modes=("train",))
    sweep = replace(sweep, batches=(2,), timesteps=(3, 5), dtypes=("fp32",))
    cases = sweep.cases(TWO_HEADS)  # open time axes: one case per --timesteps
    assert [(c.preset, c.timesteps, c.engine, c.height) for c in cases] == [
        ("graph.keras", 3, "torch", None), ("graph.keras", 3, "keras-jax", None),
        ("graph.keras", 5, "torch", None), ("graph.keras", 5, "keras-jax", None),
    ]  # fmt: skip
    assert {c.model_file for c in cases} == {str(tmp_path / "graph.keras")}
    assert cases[0].label == "torch fp32 graph.keras train B=2 T=3 cpu" and Case.from_dict(cases[0].to_dict()) == cases[0]
    assert cases[2].spec(TWO_HEADS).inputs == TWO_HEADS.with_timesteps(5).inputs  # open axes filled, fixed ones kept
    fixed = TWO_HEADS.with_timesteps(7)
    assert {c.timesteps for c in sweep.cases(fixed)} == {7}  # a file that fixes its length runs at it
    with pytest.raises(ValueError, match="needs the file's spec"):
        sweep.cases()
    with pytest.raises(ValueError, match="the model file's spec"):
        cases[0].spec()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"presets": ("seed-cnn",)}, "leave out presets"),
        ({"grid": (8, 8), "channels": 2}, "leave out grid, channels"),
        ({"keras_dtypes": ("bf16",)}, "keras_dtypes must be fp32"),
    ],
)
def test_a_model_file_sweep_refuses_preset_options(changes, message):
    with pytest.raises(ValueError, match=message):
        Sweep(**{"model_file": "m.keras", "presets": (), **changes})


def test_the_batch_is_seeded_per_input_name_with_right_padded_masks():
    spec = TWO_HEADS.with_timesteps(6)
    inputs, targets = make_batch(spec, 5)
    again, _ = make_batch(spec, 5)
    assert {name: array.shape for name, array in inputs.items()} == {
        "frames": (5, 6, 6, 5, 2),
        "side": (5, 6, 3),
        "steps": (5, 6),
    }
    assert all(np.array_equal(inputs[name], again[name]) for name in inputs)
    mask = inputs["steps"]
    assert mask.dtype == bool and mask[:, 0].all() and (np.diff(mask.astype(int), axis=1) <= 0).all()  # True, then False
    assert [target.shape for target in targets] == [(5, 1), (5, 6, 3)]


@pytest.mark.deep  # about 20 s; the file sweep's cases: test_a_model_file_sweep_runs_the_file_at_its_own_shapes
def test_bench_from_keras_end_to_end_on_tiny_sizes(tmp_path):
    """torch, and Keras on TensorFlow where it is installed, on a file of three inputs (a mask among them) and two
    outputs; the results document names the file as the model."""
    torch_impl.to_keras(torch_impl.build_model(TWO_HEADS), tmp_path / "graph.keras")
    keras = importlib.util.find_spec("keras") is not None and importlib.util.find_spec("tensorflow") is not None
    engines = ["torch", *(["keras-tensorflow-graph"] if keras else [])]
    out = tmp_path / "results"
    argv = ["bench", "--from-keras", str(tmp_path / "graph.keras"), "--engines", *engines, "--modes", "train"]
    argv += ["--batches", "2", "--timesteps", "3", "--dtypes", "fp32", "--min-run-time", "0.01", "--min-blocks", "2"]
    argv += ["--warmup", "1", "--device", "cpu", "--peak-sizes", "64", "--out", str(out)]
    assert main(argv) == 0
    doc = json.loads((out / "results.json").read_text())
    _check_schema(doc)
    assert doc["sweep"]["model_file"] == str(tmp_path / "graph.keras")
    assert [(r["case"]["engine"], r["status"]) for r in doc["results"]] == [(engine, "ok") for engine in engines]
    expected = step_flops(TWO_HEADS.with_timesteps(3)).training
    assert all(r["flops"]["per_sample"] == expected for r in doc["results"])
    assert "| graph.keras | train | 2 | 3 | torch | fp32 |" in (out / "results.md").read_text()


def test_bench_from_keras_refuses_what_it_cannot_time(tmp_path, capsys):
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert main(["bench", "--from-keras", str(tmp_path / "junk.keras"), "--device", "cpu"]) == 2
    assert "lstm2d bench: error: --from-keras: " in capsys.readouterr().err
    torch_impl.to_keras(torch_impl.build_model(get_preset("seed-flat")), tmp_path / "flat.keras")
    assert main(["bench", "--from-keras", str(tmp_path / "flat.keras"), "--presets", "seed-cnn", "--device", "cpu"]) == 2
    assert "--from-keras times the file's model: leave out --presets" in capsys.readouterr().err
    assert main(["bench", "--from-keras", str(tmp_path / "flat.keras"), "--timesteps", "5", "--device", "cpu"]) == 2
    assert "fixes its sequence length at 100; it leaves no time axis open" in capsys.readouterr().err


def test_a_run_hands_over_its_results_after_every_case(monkeypatch):
    """``--out`` rewrites results.json after each case through this hook: a run cut short keeps what it measured."""
    from benchmarks import suite

    monkeypatch.setattr(suite, "run_worker", lambda kind, payload, env: {"status": "error", "reason": f"no {kind} here"})
    sweep = Sweep(presets=("seed-flat",), engines=("torch",), batches=(2, 4), dtypes=("fp32",))
    seen: list[int] = []
    doc = suite.run(sweep, progress=lambda line: None, checkpoint=lambda doc: seen.append(len(doc["results"])))
    assert seen == [1, 2, 3, 4] and len(doc["results"]) == 4
