"""Exported artifacts (``torch_impl.export``, ``lstm2d export``): ONNX files and torch.export programs that compute what
the torch model computes, for every layer kind, every parity spec and every preset; their names, layouts, dynamic
axes, dtypes and masks; the plain graph they hold; what is refused. No Keras needed (against Keras:
``parity_tests/test_cli_export.py``). ONNX tests skip where onnx, onnxscript or onnxruntime is not installed."""

from __future__ import annotations

import importlib.util
from collections import Counter

import numpy as np
import pytest
import torch

import torch_impl
from lstm2d.artifact_check import check_artifact
from lstm2d.cli import EXIT_OK, EXIT_USAGE, main
from lstm2d.parity import initial_weights, input_dict, random_inputs, torch_outputs
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import GRU, LAYER_KINDS, LSTM, Bidirectional, Dense, Flatten, InputSpec, ModelSpec
from parity_tests.specs import CHANNELS_FIRST_SPECS, LAYER_SPECS, MASKED_SPECS, ONE_D_SPECS, PARITY_SPECS
from tests.blocked_imports import run_with_blocked
from tests.graph_models import EVERY_GRAPH_KIND, EVERY_KIND, EVERY_SPATIAL_KIND, ONE_D_KINDS, TWO_HEADS
from torch_impl.export import ExportError, export_onnx, export_program, open_artifact, read_artifact
from torch_impl.layers.recurrent import KerasRecurrent

HAS_ONNX = all(importlib.util.find_spec(name) for name in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX, reason="needs onnx, onnxscript and onnxruntime (pip install 'lstm2d[export]')")
FORMATS = [pytest.param("onnx", marks=needs_onnx), "pt2"]
WRITERS = {"onnx": export_onnx, "pt2": export_program}
BY_NAME = {spec.name: spec for spec in (*PARITY_SPECS, *LAYER_SPECS, *MASKED_SPECS)}

SHAPE_NORM_FAST = ("channels_first-norms", "activation-layers", "normalization-rescaling", "rms-norm", "noise-identities",
                   "permute-frames")  # fmt: skip
"""The shape, normalisation, regularisation and activation kinds in parity specs, whose outputs are of order 1 (those
of ``tests.graph_models.SHAPE_NORM_KINDS``, of order 30, are off by a few float32 ulps, over the absolute tolerance)."""
SMALL_EVERY_KIND = EVERY_KIND.with_input(timesteps=3, height=5, width=4, channels=2)  # its step loops unroll 3 steps
FAST_SPECS = (
    SMALL_EVERY_KIND,
    EVERY_GRAPH_KIND,
    ONE_D_KINDS,
    EVERY_SPATIAL_KIND,
    *(BY_NAME[name] for name in SHAPE_NORM_FAST),
    BY_NAME["global-average-pool"],
    BY_NAME["open-timesteps"],
    TWO_HEADS,
)
"""Between them every layer kind, frames, grids, sequences and masks, an open time axis, several inputs and outputs,
nested models and shared layers, at sizes that export in seconds."""
PT2_FAST = (SMALL_EVERY_KIND, EVERY_GRAPH_KIND)
NEEDS_TIMESTEPS = {  # the export fixes their open time axis
    TWO_HEADS.name: 6,  # its masked LSTM runs the step loop
    "conv1d-open-time": 6,  # a strided 'same' Conv1D over time pads by an amount that depends on the length
}


def _model(spec: ModelSpec, seed: int = 0) -> torch_impl.Lstm2dNet:
    """The torch model of ``spec`` with random non-zero weights (both recurrent biases non-zero)."""
    model = torch_impl.build_model(spec).eval()
    torch_impl.load_state(model, initial_weights(spec, "torch_to_keras", seed=seed)[1])
    return model


def _export_and_check(spec: ModelSpec, fmt: str, tmp_path, **options):
    model = _model(spec)
    artifact = WRITERS[fmt](model, tmp_path / f"{spec.name}.{fmt}", timesteps=NEEDS_TIMESTEPS.get(spec.name), **options)
    reports = check_artifact(model, artifact)
    assert all(report.ok for report in reports), "\n".join(report.table() for report in reports)
    return model, artifact


def test_the_fast_specs_cover_every_layer_kind():
    assert {layer.kind for spec in FAST_SPECS for layer in spec.all_layers()} == set(LAYER_KINDS)


@pytest.mark.parametrize(
    ("spec", "fmt"),
    [  # every spec to ONNX (the graph most changed on the way: every op rewritten); to .pt2 under -m deep, but for
        # the every-kind specs
        *(pytest.param(spec, "onnx", marks=needs_onnx, id=f"{spec.name}-onnx") for spec in FAST_SPECS),
        *(
            pytest.param(spec, "pt2", marks=[] if spec in PT2_FAST else [pytest.mark.deep], id=f"{spec.name}-pt2")
            for spec in FAST_SPECS
        ),
    ],
)
def test_every_layer_kind_exports_and_computes_what_the_model_computes(spec, fmt, tmp_path):
    _, artifact = _export_and_check(spec, fmt, tmp_path)
    assert [t.name for t in artifact.inputs] == spec.input_names
    assert [t.name for t in artifact.outputs] == list(spec.outputs)
    assert read_artifact(artifact.path) == artifact


@pytest.mark.deep
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    "spec", [*PARITY_SPECS, *LAYER_SPECS, *MASKED_SPECS, *ONE_D_SPECS, EVERY_KIND], ids=lambda spec: spec.name
)
def test_every_parity_spec_and_preset_exports(spec, fmt, tmp_path):
    _export_and_check(spec, fmt, tmp_path)


@pytest.mark.deep
@pytest.mark.parametrize(("fmt", "dtype"), [pytest.param("onnx", "fp16", marks=needs_onnx), ("pt2", "fp16"), ("pt2", "bf16")])
@pytest.mark.parametrize("name", preset_names())
def test_presets_export_in_reduced_precision(name, fmt, dtype, tmp_path):
    _export_and_check(get_preset(name), fmt, tmp_path, dtype=dtype)


@pytest.mark.parametrize(("fmt", "dtype"), [pytest.param("onnx", "fp16", marks=needs_onnx), ("pt2", "bf16")])
def test_reduced_precision_is_within_its_tolerance(fmt, dtype, tmp_path):
    _, artifact = _export_and_check(BY_NAME["rect-multichannel"], fmt, tmp_path, dtype=dtype)
    assert artifact.dtype == dtype and artifact.inputs[0].dtype == {"fp16": "float16", "bf16": "bfloat16"}[dtype]


@needs_onnx
def test_onnx_keeps_lstm_and_gru_as_single_nodes_and_the_gru_resets_after(tmp_path):
    """torch's GRU is ONNX's with linear_before_reset=1 (Keras' reset_after=True); a wrong one is off by ~0.1."""
    import onnx

    spec = ModelSpec(
        InputSpec.sequence(None, 5),
        layers=(GRU(4, return_sequences=True), Bidirectional(LSTM(3, return_sequences=True)), GRU(3), Dense(2)),
        name="fused-recurrent",
    )
    _, artifact = _export_and_check(spec, "onnx", tmp_path)
    nodes = onnx.load(str(artifact.path)).graph.node
    recurrent = [node for node in nodes if node.op_type in ("LSTM", "GRU", "RNN", "Loop", "Scan")]
    assert [node.op_type for node in recurrent] == ["GRU", "LSTM", "GRU"]
    for node in (node for node in recurrent if node.op_type == "GRU"):  # ONNX's default is 0: it must be written
        attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert attributes.get("linear_before_reset") == 1, attributes
    assert artifact.inputs[0].shape == ("batch", "time", 5)  # fused kernels take any length


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_artifact_runs_the_plain_path_and_the_model_keeps_its_fusion(fmt, tmp_path):
    """No lstm2d op in the file (the fused conv + max-pool runs only in lstm2d on the CPU); the model given is untouched."""
    spec = BY_NAME["rect-multichannel"]  # Conv2D -> MaxPool(2) -> Flatten -> LSTM: fused on the CPU, time-major entry
    model = _model(spec)
    assert model.active_fusions() and model.time_major_entry
    artifact = WRITERS[fmt](model, tmp_path / f"model.{fmt}")
    if fmt == "onnx":
        import onnx

        graph = onnx.load(str(artifact.path)).graph
        assert {node.domain for node in graph.node} <= {"", "ai.onnx"}, Counter(node.domain for node in graph.node)
        assert "LSTM" in {node.op_type for node in graph.node}
    else:
        code = torch.export.load(str(artifact.path)).graph_module.code
        assert "lstm2d" not in code and "aten.lstm" in code
    assert model.active_fusions() and model.fuse and model.time_major_entry
    assert all(module.packed_masks for module in model.modules() if isinstance(module, KerasRecurrent))


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_open_time_axis_stays_dynamic_and_a_fixed_one_fixed(fmt, tmp_path):
    open_model = _model(BY_NAME["open-timesteps"])
    artifact = WRITERS[fmt](open_model, tmp_path / f"open.{fmt}")
    assert artifact.inputs[0].shape == ("batch", "time", 6, 6, 1) and artifact.timesteps is None
    fixed = WRITERS[fmt](open_model, tmp_path / f"fixed.{fmt}", timesteps=7)  # asked for: a fixed length
    assert fixed.inputs[0].shape == ("batch", 7, 6, 6, 1) and fixed.timesteps == 7
    if fmt == "onnx":
        import onnx

        (graph_input,) = onnx.load(str(artifact.path)).graph.input
        assert [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim] == ["batch", "time", 6, 6, 1]
    run = open_artifact(artifact)
    for steps in (2, 11):  # lengths the export never saw
        frames = np.random.default_rng(steps).standard_normal((4, steps, 6, 6, 1)).astype(np.float32)
        (expected,) = torch_outputs(open_model, frames, ["y"]).values()
        np.testing.assert_allclose(run({"frames": frames})[0], expected, rtol=0, atol=1e-5)


def test_a_step_loop_on_an_open_time_axis_asks_for_timesteps(tmp_path):
    with pytest.raises(ExportError, match=r"fixes the sequence length .* give timesteps="):
        export_program(_model(TWO_HEADS), tmp_path / "model.pt2")


@pytest.mark.parametrize("fmt", FORMATS)
def test_masks_of_any_pattern_give_what_the_model_gives(fmt, tmp_path):
    """The masked LSTM runs the exact step loop in the artifact: left padding and gaps too, not just right padding."""
    model = _model(TWO_HEADS)
    artifact = WRITERS[fmt](model, tmp_path / f"model.{fmt}", timesteps=6)
    assert [(t.name, t.shape, t.dtype) for t in artifact.inputs] == [
        ("frames", ("batch", 6, 6, 5, 2), "float32"), ("side", ("batch", 6, 3), "float32"), ("steps", ("batch", 6), "bool"),
    ]  # fmt: skip
    inputs = input_dict(TWO_HEADS, random_inputs(TWO_HEADS, np.random.default_rng(3), batch=3, timesteps=6))
    inputs["steps"] = np.array([[0, 0, 1, 1, 1, 1], [1, 0, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1]], dtype=bool)
    expected = torch_outputs(model, inputs, list(TWO_HEADS.outputs))
    for got, want in zip(open_artifact(artifact)(inputs), expected.values(), strict=True):
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("spec", "layout", "frames"),
    [
        (BY_NAME["rect-multichannel"], "keras", (6, 9, 7, 2)),  # a channels_last Keras model: its own layout
        (BY_NAME["rect-multichannel"], "channels_first", (6, 2, 9, 7)),
        (CHANNELS_FIRST_SPECS[0], "keras", (4, 2, 7, 5)),  # a channels_first Keras model
        (CHANNELS_FIRST_SPECS[0], "channels_last", (4, 7, 5, 2)),
    ],
    ids=["keras-last", "first", "keras-first", "last"],
)
def test_frames_come_in_the_layout_asked_for(spec, layout, frames, fmt, tmp_path):
    _, artifact = _export_and_check(spec, fmt, tmp_path, layout=layout)
    assert artifact.inputs[0].shape == ("batch", *frames)
    assert artifact.layout == (spec.data_format if layout == "keras" else layout)


def test_the_check_fails_against_a_model_the_file_was_not_made_from(tmp_path):
    spec = BY_NAME["rect-multichannel"]
    artifact = export_program(_model(spec, seed=0), tmp_path / "model.pt2")
    (report,) = check_artifact(_model(spec, seed=1), artifact)
    assert not report.ok


@pytest.mark.parametrize(
    ("path", "options", "message"),
    [
        ("model.onnx", {"dtype": "bf16"}, "ONNX's Conv and LSTM have no bfloat16"),
        ("model.pt2", {"dtype": "fp8"}, "one of fp32, fp16, bf16"),
        ("model.pt2", {"layout": "nhwc"}, "layout: expected one of"),
        ("model.pt2", {"timesteps": 7}, "fixes its sequence length"),
        ("model.onnx.zip", {}, r"expected a \.onnx file name"),
    ],
)
def test_what_cannot_be_exported_is_refused_naming_why(path, options, message, tmp_path):
    writer = export_onnx if ".onnx" in path else export_program
    with pytest.raises(ExportError, match=message):
        writer(_model(get_preset("seed-flat")), tmp_path / path, **options)


# -- the command line ------------------------------------------------------------------------------------------

SMALL = ModelSpec(InputSpec.frames(4, 6, 5, 2), layers=(Flatten(), LSTM(3), Dense(2)), name="small")


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_command_writes_checks_and_prints_the_error_table(fmt, tmp_path, capsys):
    torch_impl.to_keras(_model(SMALL), tmp_path / "model.keras")
    assert main(["export", str(tmp_path / "model.keras"), str(tmp_path / f"model.{fmt}")]) == EXIT_OK
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / f'model.{fmt}'}" in out and "input  frames (batch, 4, 6, 5, 2) float32" in out
    for case in ("B=1 T=4", "B=3 T=4"):
        assert f"dense_1 ({case})" in out
    assert "all outputs within tolerance" in out


def test_export_command_reads_safetensors_and_refuses_what_it_cannot_do(tmp_path, capsys):
    torch_impl.save_safetensors(_model(SMALL), tmp_path / "model.safetensors")
    assert main(["export", str(tmp_path / "model.safetensors"), str(tmp_path / "model.pt2"), "--dtype", "fp16"]) == EXIT_OK
    capsys.readouterr()
    for argv, message in (
        ([str(tmp_path / "model.safetensors"), str(tmp_path / "model.tflite")], "expected OUT to be NAME.onnx or NAME.pt2"),
        ([str(tmp_path / "model.safetensors"), str(tmp_path / "m.pt2"), "--against-keras"], "needs a Keras file"),
        ([str(tmp_path / "model.safetensors"), str(tmp_path / "m.pt2"), "--timesteps", "5"], "fixes its sequence length"),
        ([str(tmp_path / "missing.keras"), str(tmp_path / "m.pt2")], "missing.keras"),
    ):
        assert main(["export", *argv]) == EXIT_USAGE
        assert message in capsys.readouterr().err


@needs_onnx
def test_export_works_with_keras_and_tensorflow_blocked(tmp_path):
    done = run_with_blocked(
        "keras,tensorflow,jax,keras_ref",
        """
        import sys
        from lstm2d.cli import main
        from lstm2d.presets import get_preset
        import torch_impl

        torch_impl.save_safetensors(torch_impl.build_model(get_preset("seed-flat")), sys.argv[2] + "/m.safetensors")
        assert main(["export", sys.argv[2] + "/m.safetensors", sys.argv[2] + "/m.onnx"]) == 0
        assert not imported({"keras", "tensorflow", "jax", "keras_ref"})
        print("ok")
        """,
        str(tmp_path),
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]
