"""Deployable artifacts of a torch model: ONNX files and ``torch.export`` programs (``.pt2``).

Both come from one ``torch.export`` trace of the model's plain forward pass, on a CPU copy of the model in the
artifact's dtype, so the model given is never changed:

- no fused conv + max-pool op (``lstm2d::conv_max_pool`` is lstm2d's own CPU kernel; no runtime has it): every
  layer's module runs in turn, the same parameters and results;
- inputs stay batch-major (the time-major entry is a memory order for torch's CPU kernels);
- every mask runs on the recurrent layers' exact step loop (Keras' semantics for any mask; the fused path for
  right padding tells right padding from other masks by reading the mask's values, which a graph cannot do).

Names and layout. Inputs are named as the spec's inputs and taken in their order; outputs are named as the spec's
outputs (the Keras output layers' names). Frames and grids that feed convolutions or pooling are read in
``layout``: ``"keras"`` (the default: the Keras model's own ``data_format``, so the artifact is a drop-in for the
Keras model), ``"channels_last"`` or ``"channels_first"``; spatial outputs come back in it. Sequences, vectors and
masks are as Keras has them; masks are ``bool``.

Shapes. The batch axis is always dynamic (``"batch"``). A time axis the spec leaves open is dynamic (``"time"``)
where the exported graph allows it: torch's fused LSTM and GRU kernels run any length (export registers torch's
``while_loop`` decompositions for them, as ``torch.onnx`` does), but a layer that runs a Python step loop (a
recurrent layer with non-default activations, GRU ``reset_after=False``, any recurrent layer given a mask, ConvLSTM2D)
is unrolled, which fixes the length, and so does a strided ``same`` convolution or pooling over time (its padding
depends on the length): then ``timesteps`` must say which. A time axis the spec fixes stays fixed, as
in the Keras model.

Dtypes. ``fp32``; ``fp16`` for ONNX and ``.pt2``; ``bf16`` for ``.pt2`` only (ONNX's Conv has no bfloat16). The
weights are cast, inputs and outputs are in the dtype (masks stay ``bool``).

ONNX uses ``torch.onnx``'s ``torch.export``-based exporter (``dynamo=True``): it writes a fused LSTM or GRU as one
ONNX ``LSTM`` / ``GRU`` node (GRU with ``linear_before_reset=1``, torch's and Keras' ``reset_after=True`` cell:
onnxscript 0.7.2, the version pinned and tested, writes it; earlier ones wrote 0, pytorch#189225 and
onnxscript#2852, which ``tests/test_export.py`` would catch); a SimpleRNN becomes plain ops. The TorchScript exporter
(``dynamo=False``) was tried and is not used: in torch 2.13 it writes shapes it saw while tracing into the graph
wherever a per-frame layer feeds a recurrent one (the zero initial state keeps the example's batch size), so the
file fails or is wrong at other batch sizes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.fx.experimental.symbolic_shapes import is_concrete_int

from lstm2d.spec import ModelSpec, keras_dims
from torch_impl.adapter import LayoutAdapter
from torch_impl.layers.recurrent import KerasRecurrent
from torch_impl.model import Lstm2dNet
from torch_impl.runtime import TORCH_DTYPES, Dtype

ArtifactLayout = Literal["keras", "channels_last", "channels_first"]
ARTIFACT_LAYOUTS: tuple[str, ...] = ("keras", "channels_last", "channels_first")
FORMATS = {".onnx": "onnx", ".pt2": "pt2"}
FORMAT_DTYPES: dict[str, tuple[str, ...]] = {"onnx": ("fp32", "fp16"), "pt2": ("fp32", "fp16", "bf16")}
EXAMPLE_BATCH = 2  # torch.export treats sizes 0 and 1 as constants: trace with 2
EXAMPLE_TIMESTEPS = 3  # an open time axis traced with this length where no length is asked for
METADATA_KEY = "lstm2d"  # the artifact's description: ONNX metadata_props key, .pt2 extra file name
NUMPY_DTYPES = {"float32": np.float32, "float16": np.float16, "bool": np.bool_}


class ExportError(ValueError):
    """A model or setting that cannot be exported as asked; the message says why and what to change."""


@dataclass(frozen=True)
class ArtifactTensor:
    """One input or output of an artifact: its name, shape (``"batch"`` / ``"time"`` for dynamic axes), dtype
    (``float32``, ``float16``, ``bfloat16`` or ``bool``) and whether it is frames or a grid in the artifact's layout."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str
    spatial: bool

    def describe(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        return f"{self.name} ({dims}) {self.dtype}"


@dataclass(frozen=True)
class Artifact:
    """What an exported file takes and returns: ``layout`` is the frames layout (``channels_last`` or
    ``channels_first``), ``dtype`` the compute dtype (``fp32``, ``fp16``, ``bf16``); ``timesteps`` the sequence
    length the file fixes (None where the time axis is dynamic, ``"time"``, or there is none)."""

    path: Path
    format: str
    layout: str
    dtype: str
    inputs: tuple[ArtifactTensor, ...]
    outputs: tuple[ArtifactTensor, ...]
    timesteps: int | None

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "path": str(self.path)})

    @classmethod
    def from_json(cls, text: str, path: Path) -> Artifact:
        """The artifact a file describes (``path``: where the file is now)."""
        data = json.loads(text)
        tensors = {
            key: tuple(ArtifactTensor(**{**t, "shape": tuple(t["shape"])}) for t in data[key]) for key in ("inputs", "outputs")
        }
        return cls(Path(path), data["format"], data["layout"], data["dtype"], tensors["inputs"], tensors["outputs"],
                   data["timesteps"])  # fmt: skip


# -- exporting ------------------------------------------------------------------------------------------------


def export_onnx(
    model: Lstm2dNet,
    path: str | Path,
    *,
    layout: ArtifactLayout = "keras",
    dtype: Dtype = "fp32",
    timesteps: int | None = None,
    opset: int | None = None,
) -> Artifact:
    """Write ``model`` as an ONNX file at ``path`` (see the module docstring for names, layout, shapes and dtypes);
    ``opset``: the ONNX opset (default: the exporter's). Needs ``onnx`` and ``onnxscript``
    (``pip install 'lstm2d[export]'``). Returns what the file takes and returns."""
    _require("onnx", "onnxscript")
    program, artifact = _export(model, Path(path), "onnx", layout, dtype, timesteps)
    with _quiet(), _rnn_decompositions():  # the exporter re-traces the program to decompose it
        onnx_program = torch.onnx.export(program, (), dynamo=True, opset_version=opset, verbose=False)
    assert onnx_program is not None  # the dynamo exporter returns its program
    _name_onnx_graph(onnx_program.model, artifact, _axis_names(program))
    onnx_program.model.metadata_props[METADATA_KEY] = artifact.to_json()
    onnx_program.save(str(artifact.path))  # weights inside the file (beside it, as external data, past 2 GB)
    return artifact


def export_program(
    model: Lstm2dNet,
    path: str | Path,
    *,
    layout: ArtifactLayout = "keras",
    dtype: Dtype = "fp32",
    timesteps: int | None = None,
) -> Artifact:
    """Write ``model`` as a ``torch.export`` program at ``path`` (``.pt2``; see the module docstring). Load it with
    ``torch.export.load(path).module()`` and call it with the inputs positionally, in the spec's input order; it
    returns a tensor, or a tuple in the spec's output order. Returns what the program takes and returns."""
    program, artifact = _export(model, Path(path), "pt2", layout, dtype, timesteps)
    with _quiet():
        torch.export.save(program, str(artifact.path), extra_files={METADATA_KEY: artifact.to_json()})
    return artifact


def _export(
    model: Lstm2dNet, path: Path, fmt: str, layout: str, dtype: str, timesteps: int | None
) -> tuple[torch.export.ExportedProgram, Artifact]:
    """The exported program of ``model`` as ``fmt`` asks, and the artifact it makes at ``path``."""
    if FORMATS.get(path.suffix) != fmt:
        raise ExportError(f"{path}: expected a {next(s for s, f in FORMATS.items() if f == fmt)} file name")
    if layout not in ARTIFACT_LAYOUTS:
        raise ExportError(f"layout: expected one of {ARTIFACT_LAYOUTS}, got {layout!r}")
    if dtype not in FORMAT_DTYPES[fmt]:
        why = "; ONNX's Conv and LSTM have no bfloat16 type" if fmt == "onnx" and dtype == "bf16" else ""
        raise ExportError(f"dtype: a {path.suffix} artifact is one of {', '.join(FORMAT_DTYPES[fmt])}, got {dtype!r}{why}")
    spec = model.spec
    open_time = open_time_inputs(spec)
    if timesteps is not None and timesteps < 1:
        raise ExportError(f"timesteps: expected a positive int, got {timesteps}")
    if timesteps is not None and not open_time:
        raise ExportError(f"timesteps: model {spec.name!r} fixes its sequence length; it leaves no time axis open")
    frames_layout = spec.data_format if layout == "keras" else layout
    adapter = LayoutAdapter(_plain_copy(model, TORCH_DTYPES[dtype]), frames_layout).eval()
    example = _example_inputs(spec, frames_layout, adapter.spatial_inputs, TORCH_DTYPES[dtype], timesteps)
    batch, time = torch.export.Dim("batch"), torch.export.Dim("time")

    def dynamic(open_axes: Sequence[str]) -> tuple[dict[int, Any], ...]:
        return tuple({0: batch, **({1: time} if i.name in open_axes else {})} for i in spec.inputs)

    try:
        program = _trace(adapter, example, dynamic(open_time if timesteps is None else ()))
    except torch._dynamo.exc.UserError as exc:
        if timesteps is None and open_time and _traces(adapter, example, dynamic(())):
            raise ExportError(
                f"model {spec.name!r} leaves its time axis open, but its exported graph fixes the sequence length (a "
                "layer runs a step loop, unrolled in the graph: a recurrent layer with non-default activations, a GRU "
                "with reset_after=False, a recurrent layer given a mask, ConvLSTM1D/2D; or a strided 'same' "
                "convolution or pooling over time pads by an amount that depends on the length): give timesteps= "
                "(lstm2d export --timesteps N) for the length the artifact takes"
            ) from None
        raise ExportError(f"model {spec.name!r} cannot be exported with a dynamic batch axis: {exc}") from None
    return program, _describe(program, spec, path, fmt, frames_layout, dtype, adapter)


def _trace(adapter: LayoutAdapter, example: tuple[torch.Tensor, ...], dynamic: tuple[dict[int, Any], ...]) -> Any:
    """``torch.export`` of the adapter on ``example``, the axes in ``dynamic`` left symbolic."""
    if any(1 in axes for axes in dynamic):
        # torch's while_loop compiles its body with Dynamo, and an earlier export's compiled body, checked against
        # this one's symbolic length, would fix it (torch 2.13): clear Dynamo's compiled code first (the process'
        # other torch.compile'd functions compile again on their next call).
        torch._dynamo.reset_code_caches()
    with _quiet(), _rnn_decompositions(), torch.no_grad():
        return torch.export.export(adapter, example, dynamic_shapes=(dynamic,), strict=False)


def _traces(adapter: LayoutAdapter, example: tuple[torch.Tensor, ...], dynamic: tuple[dict[int, Any], ...]) -> bool:
    """Whether ``torch.export`` traces the adapter with only the axes in ``dynamic`` left symbolic."""
    try:
        _trace(adapter, example, dynamic)
    except torch._dynamo.exc.UserError:
        return False
    return True


def _plain_copy(model: Lstm2dNet, dtype: torch.dtype) -> Lstm2dNet:
    """A CPU copy of ``model`` in ``dtype``, in eval mode, that runs the plain forward pass (module docstring)."""
    plain = copy.deepcopy(model).to(device="cpu", dtype=dtype).eval()
    for module in plain.modules():
        if isinstance(module, Lstm2dNet):
            module.fuse_conv_pool(False)
            module.time_major_entry = False
        if isinstance(module, KerasRecurrent):
            module.packed_masks = False
    return plain


def _has_time_axis(shape: Sequence[int | None], dtype: str) -> bool:
    """Whether an input of this per-sample shape has a time axis first: frames (rank 4), a sequence (rank 2) or a mask."""
    return len(shape) in (2, 4) or dtype == "bool"


def open_time_inputs(spec: ModelSpec) -> list[str]:
    """The inputs whose time axis the spec leaves open (frames, sequences and masks of any length)."""
    return [i.name for i in spec.inputs if _has_time_axis(i.shape, i.dtype) and i.shape[0] is None]


def _example_inputs(
    spec: ModelSpec, layout: str, spatial: Sequence[bool], dtype: torch.dtype, timesteps: int | None
) -> tuple[torch.Tensor, ...]:
    """Seeded inputs to trace with, as the artifact takes them: spatial inputs in ``layout``, the others as Keras has
    them; masks all True (every step real)."""
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for spec_input, is_spatial in zip(spec.inputs, spatial, strict=True):
        dims = keras_dims(spec_input.per_sample, layout if is_spatial else spec.data_format)
        shape = (EXAMPLE_BATCH, *((timesteps or EXAMPLE_TIMESTEPS) if d is None else d for d in dims))
        if spec_input.dtype == "bool":
            tensors.append(torch.ones(shape, dtype=torch.bool))
        else:
            tensors.append(torch.randn(shape, generator=generator).to(dtype))
    return tuple(tensors)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's own notices while exporting, none of which is about the model: its while_loop decomposition calls a
    function torch deprecates, ``nn.RNNBase`` re-reads its flat weights (the swapped-in parameters, which is what makes
    the program use them), pytree and torch.onnx's registry (torchvision's ops) speak of their internals."""
    registry = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registry.level
    registry.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="_check_is_size will be removed", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            warnings.filterwarnings("ignore", message=r"The tensor attributes .*_flat_weights.* were assigned during export")
            yield
    finally:
        registry.setLevel(level)


@contextlib.contextmanager
def _rnn_decompositions() -> Iterator[None]:
    """torch's ``while_loop`` decompositions of ``aten.lstm`` and ``aten.gru`` while tracing, as ``torch.onnx`` registers
    them for dynamic shapes: the default ones unroll the time axis and fix its length. The graph keeps the fused op.
    (A private torch module since torch 2.10; without it, a recurrent layer fixes the length.)"""
    try:
        from torch.export._patches import register_gru_while_loop_decomposition, register_lstm_while_loop_decomposition
    except ImportError:
        yield
        return
    with register_lstm_while_loop_decomposition(), register_gru_while_loop_decomposition():
        yield


def _describe(
    program: torch.export.ExportedProgram, spec: ModelSpec, path: Path, fmt: str, layout: str, dtype: str, adapter: LayoutAdapter
) -> Artifact:
    """The artifact's inputs and outputs as ``program`` traced them: dynamic axes named ``batch`` and ``time``."""
    names = _axis_names(program)
    placeholders = _user_values(program, "inputs")
    outputs = _user_values(program, "outputs")

    def tensors(values: Sequence[torch.Tensor], refs: Sequence[str], spatial: Sequence[bool]) -> tuple[ArtifactTensor, ...]:
        return tuple(
            ArtifactTensor(ref, tuple(names.get(str(d), str(d)) if _symbolic(d) else int(d) for d in v.shape),
                           str(v.dtype).removeprefix("torch."), s)
            for v, ref, s in zip(values, refs, spatial, strict=True)
        )  # fmt: skip

    inputs = tensors(placeholders, spec.input_names, adapter.spatial_inputs)
    lengths = [t.shape[1] for t, i in zip(inputs, spec.inputs, strict=True) if _has_time_axis(i.shape, i.dtype)]
    fixed = next((n for n in lengths if isinstance(n, int)), None)
    return Artifact(path, fmt, layout, dtype, inputs, tensors(outputs, spec.outputs, adapter.spatial_outputs), fixed)


def _user_values(program: torch.export.ExportedProgram, kind: str) -> list[torch.Tensor]:
    """The fake tensors of the program's user inputs or outputs, in order."""
    signature = program.graph_signature
    if kind == "inputs":
        wanted = list(signature.user_inputs)
        by_name = {n.name: n.meta["val"] for n in program.graph.nodes if n.op == "placeholder"}
        return [by_name[name] for name in wanted]
    (output,) = (n for n in program.graph.nodes if n.op == "output")
    values = output.args[0]
    return [v.meta["val"] for v in values[len(values) - len(signature.user_outputs) :]]


def _symbolic(size: int | torch.SymInt) -> bool:
    """Whether a traced size is left open (a symbol, not a number)."""
    return not is_concrete_int(size)


def _axis_names(program: torch.export.ExportedProgram) -> dict[str, str]:
    """``{symbol: "batch" | "time"}``: the symbols of the user inputs' first two axes."""
    names: dict[str, str] = {}
    for value in _user_values(program, "inputs"):
        for axis, size in enumerate(value.shape[:2]):
            if _symbolic(size):
                names.setdefault(str(size), ("batch", "time")[axis])
    return names


def _name_onnx_graph(model: Any, artifact: Artifact, axes: Mapping[str, str]) -> None:
    """The ONNX graph's inputs and outputs named as the artifact's (an internal value already of such a name is renamed
    first: torch.onnx's own renaming would leave two values of one name), and its dynamic axes from the exporter's
    symbols (``s33``) to ``batch`` / ``time``. ``model``: the exporter's ``onnx_ir`` model, changed in place."""
    import onnx_ir as ir

    graph = model.graph
    boundary = [*graph.inputs, *graph.outputs]
    wanted = [t.name for t in (*artifact.inputs, *artifact.outputs)]
    values = [
        *graph.inputs,
        *graph.initializers.values(),
        *(out for node in ir.traversal.RecursiveGraphIterator(graph) for out in node.outputs),
    ]
    taken = {value.name for value in values}
    for value in values:
        if value.name in wanted and not any(value is b for b in boundary):
            value.name = next(f"{value.name}_{i}" for i in range(1, len(taken) + 2) if f"{value.name}_{i}" not in taken)
            taken.add(value.name)
    for value, name in zip(boundary, wanted, strict=True):
        value.name = name
    for value in values + list(graph.outputs):
        if value.shape is not None:
            value.shape = ir.Shape(
                [ir.SymbolicDim(axes.get(str(d.value), d.value)) if isinstance(d, ir.SymbolicDim) else d for d in value.shape]
            )


def _require(*packages: str) -> None:
    import importlib.util

    missing = [name for name in packages if importlib.util.find_spec(name) is None]
    if missing:
        raise ExportError(f"exporting needs {', '.join(missing)}: pip install 'lstm2d[export]'")


# -- running ----------------------------------------------------------------------------------------------------


Runner = Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]


def read_artifact(path: str | Path) -> Artifact:
    """The description an exported file carries (written by :func:`export_onnx` / :func:`export_program`)."""
    path = Path(path)
    if FORMATS.get(path.suffix) == "onnx":
        _require("onnx")
        import onnx

        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if METADATA_KEY not in props:
            raise ExportError(f"{path}: not written by lstm2d (no {METADATA_KEY!r} metadata)")
        return Artifact.from_json(props[METADATA_KEY], path)
    if FORMATS.get(path.suffix) == "pt2":
        extra = {METADATA_KEY: ""}
        with _quiet():
            torch.export.load(str(path), extra_files=extra)
        if not extra[METADATA_KEY]:
            raise ExportError(f"{path}: not written by lstm2d (no {METADATA_KEY!r} extra file)")
        return Artifact.from_json(extra[METADATA_KEY], path)
    raise ExportError(f"{path}: expected a .onnx or .pt2 file")


def open_artifact(artifact: Artifact, *, providers: Sequence[str] | None = None) -> Runner:
    """A function running the artifact's file: ``run({input name: array})`` -> the outputs in order, float32 arrays.

    Inputs are given as float32 (bool for masks) in the artifact's layout and cast to its dtype. ``.onnx`` runs in
    ONNX Runtime (``providers``: its execution providers, default CPU; an fp16 file on the CPU at
    ``ORT_ENABLE_EXTENDED``, see below), ``.pt2`` through ``torch.export.load`` on the CPU.
    """
    names = [t.name for t in artifact.inputs]
    if artifact.format == "onnx":
        _require("onnxruntime")
        import onnxruntime

        providers = list(providers or ["CPUExecutionProvider"])
        options = onnxruntime.SessionOptions()
        if artifact.dtype == "fp16" and providers == ["CPUExecutionProvider"]:
            # ONNX Runtime 1.32's CPU provider crashes (SIGSEGV) making a session for some fp16 graphs (a recurrent
            # layer's sequence into a Dense) with its layout optimizations, the default level's last stage.
            options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        session = onnxruntime.InferenceSession(str(artifact.path), options, providers=providers)
        dtypes = {t.name: NUMPY_DTYPES[t.dtype] for t in artifact.inputs}

        def run_onnx(inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
            feed: dict[str, np.ndarray] = {name: np.ascontiguousarray(inputs[name], dtype=dtypes[name]) for name in names}
            return [np.asarray(out, dtype=np.float32) for out in session.run(None, feed)]

        return run_onnx
    with _quiet():
        module = torch.export.load(str(artifact.path)).module()
    torch_dtypes = {t.name: getattr(torch, t.dtype) for t in artifact.inputs}

    def run_program(inputs: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        args = [torch.from_numpy(np.ascontiguousarray(inputs[name])).to(torch_dtypes[name]) for name in names]
        with torch.no_grad():
            out = module(*args)
        return [o.float().numpy() for o in (out if isinstance(out, tuple) else (out,))]

    return run_program


__all__ = [
    "ARTIFACT_LAYOUTS",
    "FORMATS",
    "FORMAT_DTYPES",
    "Artifact",
    "ArtifactLayout",
    "ArtifactTensor",
    "ExportError",
    "export_onnx",
    "export_program",
    "open_artifact",
    "open_time_inputs",
    "read_artifact",
]
