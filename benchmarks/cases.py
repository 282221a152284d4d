"""What one benchmark run measures: engines, cases and sweeps. Imports no framework.

An *engine* is a framework in one configuration (``torch``, ``torch-compile``,
``keras-tensorflow`` ...). A *case* is one engine on one model, mode, batch, sequence length,
grid, dtype and device: it runs in a process of its own, so every case starts from the same
memory baseline and each Keras backend gets the process it needs (Keras reads
``KERAS_BACKEND`` once, at import).
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass, fields
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
    framework: Literal["torch", "keras"]
    compiler: str
    backend: str | None = None  # the Keras backend
    jit_compile: bool | None = None  # what Keras' model.compile gets
    devices: tuple[str, ...] = ("cpu", "cuda")
    slow_compile: bool = False  # compiling a 100-step model's training step takes minutes per shape


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
    )
}
DEFAULT_ENGINES = (
    "torch",
    "torch-compile",
    "torch-cudagraphs",
    "keras-tensorflow",
    "keras-tensorflow-graph",
    "keras-jax",
    "keras-torch",
)


@dataclass(frozen=True)
class Case:
    """One measurement: an engine on one model and input size. ``device`` is ``cpu`` or ``cuda`` (resolved)."""

    engine: str
    preset: str
    mode: Mode
    batch: int
    timesteps: int
    height: int
    width: int
    channels: int
    dtype: Dtype = "fp32"
    device: str = "cpu"
    warmup: int = 3
    min_run_time: float = 2.0
    min_blocks: int = 5

    def spec(self) -> ModelSpec:
        """The preset with this case's input size."""
        return get_preset(self.preset).with_input(
            timesteps=self.timesteps, height=self.height, width=self.width, channels=self.channels
        )

    @property
    def label(self) -> str:
        grid = f"{self.height}x{self.width}x{self.channels}"
        return f"{self.engine} {self.dtype} {self.preset} {self.mode} B={self.batch} T={self.timesteps} {grid} {self.device}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Case:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


@dataclass(frozen=True)
class Sweep:
    """The cross product a run measures. ``None`` grid fields keep each preset's own size.

    ``dtypes`` apply to torch engines, ``keras_dtypes`` to Keras engines (mixed-precision policy).
    Engines whose compilation is slow (``torch.compile`` of a 100-step LSTM) run only at
    ``compiled_batches`` (``None``: at every batch size).
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

    def cases(self) -> list[Case]:
        """Every case, grouped so that one model's engines run next to each other (their ratios are the point)."""
        result = []
        for preset, mode, batch, timesteps in itertools.product(self.presets, self.modes, self.batches, self.timesteps):
            inp = get_preset(preset).input
            height, width = self.grid or (inp.height, inp.width)
            for name in self.engines:
                engine = ENGINES[name]
                if self.device not in engine.devices:
                    continue
                if engine.slow_compile and self.compiled_batches is not None and batch not in self.compiled_batches:
                    continue
                dtypes = self.dtypes if engine.framework == "torch" else self.keras_dtypes
                for dtype in dtypes:
                    result.append(
                        Case(
                            engine=name,
                            preset=preset,
                            mode=mode,
                            batch=batch,
                            timesteps=timesteps,
                            height=height,
                            width=width,
                            channels=self.channels or inp.channels,
                            dtype=dtype,
                            device=self.device,
                            warmup=self.warmup,
                            min_run_time=self.min_run_time,
                            min_blocks=self.min_blocks,
                        )
                    )
        return result


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
