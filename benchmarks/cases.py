"""What one benchmark run measures: engines, cases and sweeps. Imports no framework.

An *engine* is a framework in one configuration (``torch``, ``torch-compile``,
``keras-tensorflow`` ...). A *case* is one engine on one model, mode, batch, sequence length,
grid, dtype and device: it runs in a process of its own, so every case starts from the same
memory baseline and each Keras backend gets the process it needs (Keras reads
``KERAS_BACKEND`` once, at import).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from lstm2d.presets import get_preset
from lstm2d.spec import ModelSpec

Mode = Literal["train", "infer"]
MODES: tuple[Mode, ...] = ("train", "infer")
Dtype = Literal["fp32", "bf16", "fp16"]  # torch_impl.runtime's Dtype; for Keras engines, the mixed-precision policy
DTYPES: tuple[Dtype, ...] = ("fp32", "bf16", "fp16")


@dataclass(frozen=True)
class Engine:
    """A framework in one configuration; ``compiler`` says what compiles the step, if anything."""

    name: str
    framework: Literal["torch", "keras", "onnxruntime"]
    compiler: str
    backend: str | None = None  # the Keras backend
    jit_compile: bool | None = None  # what Keras' model.compile gets
    devices: tuple[str, ...] = ("cpu", "cuda")
    slow_compile: bool = False  # compiling a 100-step model's training step takes minutes per shape
    modes: tuple[Mode, ...] = MODES
    dtypes: tuple[Dtype, ...] = DTYPES  # of the sweep's dtypes for its framework, the ones this engine runs


ENGINES: dict[str, Engine] = {
    engine.name: engine
    for engine in (
        Engine("torch", "torch", "none (eager)"),
        Engine("torch-compile", "torch", "torch.compile (inductor)", slow_compile=True),
        Engine("torch-cudagraphs", "torch", "CUDA graphs (whole step captured once, replayed)", devices=("cuda",)),
        Engine("keras-tensorflow", "keras", "XLA (jit_compile=True)", "tensorflow", True),
        Engine(
            "keras-tensorflow-graph", "keras", "tf.function, no XLA (jit_compile=False: Keras' CPU default)", "tensorflow", False
        ),
        Engine("keras-jax", "keras", "XLA (jit_compile=True, Keras' default)", "jax", True),
        Engine("keras-torch", "keras", "none (eager; jit_compile=False, Keras' default)", "torch", False),
        Engine("keras-torch-compile", "keras", "torch.compile (jit_compile=True)", "torch", True, slow_compile=True),
        Engine(
            "onnxruntime",
            "onnxruntime",
            "ONNX Runtime (the model exported by torch_impl.export_onnx; CPU, or the CUDA execution provider on cuda)",
            modes=("infer",),
            dtypes=("fp32", "fp16"),
        ),
    )
}
DEFAULT_ENGINES = (
    "torch",
    "torch-compile",
    "torch-cudagraphs",
    "onnxruntime",
    "keras-tensorflow",
    "keras-tensorflow-graph",
    "keras-jax",
    "keras-torch",
)


@dataclass(frozen=True)
class Case:
    """One measurement: an engine on one model and input size. ``device`` is ``cpu`` or ``cuda`` (resolved).

    The model is a preset (``preset`` names it; frames of ``timesteps`` x ``height`` x ``width`` x ``channels``) or the
    Keras file at ``model_file`` (``preset`` is the file's name; ``height``, ``width`` and ``channels`` are ``None``, the
    file fixes its shapes; ``timesteps`` is the length of every time axis it leaves open, or its own length).
    """

    engine: str
    preset: str
    mode: Mode
    batch: int
    timesteps: int
    height: int | None
    width: int | None
    channels: int | None
    dtype: Dtype = "fp32"
    device: str = "cpu"
    warmup: int = 3
    min_run_time: float = 2.0
    min_blocks: int = 5
    model_file: str | None = None

    def spec(self, file_spec: ModelSpec | None = None) -> ModelSpec:
        """The model this case runs, every time axis fixed: the preset with this case's input size, or ``file_spec``
        (the model file as lstm2d read it) with its open time axes of ``timesteps`` steps."""
        if self.model_file is None:
            assert self.height is not None and self.width is not None and self.channels is not None  # a preset's case
            return get_preset(self.preset).with_input(
                timesteps=self.timesteps, height=self.height, width=self.width, channels=self.channels
            )
        if file_spec is None:
            raise ValueError(f"{self.label}: the model file's spec (as lstm2d read it) is needed")
        return fill_open_time(file_spec, self.timesteps)

    @property
    def label(self) -> str:
        grid = "" if self.height is None else f" {self.height}x{self.width}x{self.channels}"
        return f"{self.engine} {self.dtype} {self.preset} {self.mode} B={self.batch} T={self.timesteps}{grid} {self.device}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


def fill_open_time(spec: ModelSpec, timesteps: int) -> ModelSpec:
    """``spec`` with every input whose first (time) axis is open given ``timesteps`` steps."""
    inputs = tuple(replace(i, shape=(timesteps, *i.shape[1:])) if i.shape[0] is None else i for i in spec.inputs)
    return replace(spec, inputs=inputs)


def own_length(spec: ModelSpec) -> int | None:
    """The sequence length a model fixes (its first input with more than one axis, or a mask), or ``None`` when it
    leaves a time axis open."""
    if any(i.shape[0] is None for i in spec.inputs):
        return None
    return next((i.shape[0] for i in spec.inputs if len(i.shape) > 1 or i.dtype == "bool"), 1)


@dataclass(frozen=True)
class Sweep:
    """The cross product a run measures. ``None`` grid fields keep each preset's own size.

    ``dtypes`` apply to torch engines and ONNX Runtime (fp32 and fp16 only: the exported model in that dtype),
    ``keras_dtypes`` to Keras engines (mixed-precision policy). ONNX Runtime only infers.
    Engines whose compilation is slow (``torch.compile`` of a 100-step LSTM) run only at
    ``compiled_batches`` (``None``: at every batch size). ``model_file`` (a Keras file) replaces the
    presets: its shapes are its own, ``timesteps`` fill the time axes it leaves open, and Keras runs it in the dtype
    policy it was saved with (fp32 only).
    """

    presets: tuple[str, ...] = ("seed-flat", "seed-cnn")
    engines: tuple[str, ...] = DEFAULT_ENGINES
    modes: tuple[Mode, ...] = MODES
    batches: tuple[int, ...] = (16, 64, 256)
    timesteps: tuple[int, ...] = (100,)
    grid: tuple[int, int] | None = None
    channels: int | None = None
    dtypes: tuple[Dtype, ...] = ("fp32", "bf16")
    keras_dtypes: tuple[Dtype, ...] = ("fp32",)
    compiled_batches: tuple[int, ...] | None = None
    device: str = "cpu"
    warmup: int = 3
    min_run_time: float = 2.0
    min_blocks: int = 5
    model_file: str | None = None

    def __post_init__(self) -> None:
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device {self.device!r}: expected cpu or cuda (resolve 'auto' first)")
        unknown = [name for name in self.engines if name not in ENGINES]
        if unknown:
            raise ValueError(f"unknown engines {unknown}; expected some of {', '.join(ENGINES)}")
        for dtype in (*self.dtypes, *self.keras_dtypes):
            if dtype not in DTYPES:
                raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
        for mode in self.modes:
            if mode not in MODES:
                raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        for value in (*self.batches, *self.timesteps):
            if value < 1:
                raise ValueError(f"batch sizes and sequence lengths must be positive, got {value}")
        for preset in self.presets:
            get_preset(preset)  # raises SpecError naming the known presets
        if self.model_file is not None:
            given = [
                name for name, value in (("presets", self.presets), ("grid", self.grid), ("channels", self.channels)) if value
            ]
            if given:
                raise ValueError(f"a model file fixes its own model and shapes; leave out {', '.join(given)}")
            if set(self.keras_dtypes) != {"fp32"}:
                raise ValueError("Keras runs a model file in the dtype policy it was saved with: keras_dtypes must be fp32")

    def cases(self, file_spec: ModelSpec | None = None) -> list[Case]:
        """Every case, grouped so that one model's engines run next to each other (their ratios are the point);
        ``file_spec``: the model file's spec, as lstm2d read it (a file's sweep needs it)."""
        result = []
        models, lengths = self._models(file_spec), self._lengths(file_spec)
        for model, mode, batch, timesteps in itertools.product(models, self.modes, self.batches, lengths):
            preset, height, width, channels = model
            for name in self.engines:
                engine = ENGINES[name]
                if self.device not in engine.devices or mode not in engine.modes:
                    continue
                if engine.slow_compile and self.compiled_batches is not None and batch not in self.compiled_batches:
                    continue
                dtypes = self.keras_dtypes if engine.framework == "keras" else self.dtypes
                for dtype in (d for d in dtypes if d in engine.dtypes):
                    result.append(
                        Case(
                            engine=name,
                            preset=preset,
                            mode=mode,
                            batch=batch,
                            timesteps=timesteps,
                            height=height,
                            width=width,
                            channels=channels,
                            dtype=dtype,
                            device=self.device,
                            warmup=self.warmup,
                            min_run_time=self.min_run_time,
                            min_blocks=self.min_blocks,
                            model_file=self.model_file,
                        )
                    )
        return result

    def _models(self, file_spec: ModelSpec | None) -> Sequence[tuple[str, int | None, int | None, int | None]]:
        """``(name, height, width, channels)`` of each model: the presets at the sweep's grid, or the model file."""
        if self.model_file is not None:
            if file_spec is None:
                raise ValueError(f"a sweep of {self.model_file} needs the file's spec (as lstm2d read it)")
            return [(Path(self.model_file).name, None, None, None)]
        models = []
        for preset in self.presets:
            inp = get_preset(preset).input
            height, width = self.grid or (inp.height, inp.width)
            models.append((preset, height, width, self.channels or inp.channels))
        return models

    def _lengths(self, file_spec: ModelSpec | None) -> tuple[int, ...]:
        """The sequence lengths to run: the sweep's, or the one length a model file fixes."""
        fixed = own_length(file_spec) if self.model_file is not None and file_spec is not None else None
        return self.timesteps if fixed is None else (fixed,)


QUICK = Sweep(
    presets=("seed-cnn",),
    engines=("torch", "keras-tensorflow-graph"),
    batches=(64,),
    dtypes=("fp32",),
    warmup=2,
    min_run_time=0.5,
    min_blocks=3,
)
"""``lstm2d bench --quick``: the demo's minute. seed-cnn at batch 64 on torch and on Keras'
fastest-starting backend (TensorFlow without XLA: an XLA compile of a 100-step model takes
longer than the whole minute)."""

FULL = Sweep(compiled_batches=(256,))
"""``lstm2d bench --full``: both seed models, every default engine, batches 16/64/256 (torch.compile
at 256 only), fp32, and bf16 for torch."""
