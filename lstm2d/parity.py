"""The one parity harness: same weights and inputs through Keras and torch, errors per tensor.

Three comparisons, each reported by ``compare`` as a ``ParityReport`` (one row per tensor):

- forward outputs: ``assert_parity`` is what the tests use; ``check_spec`` is what ``lstm2d verify``
  runs (random non-zero weights copied in one direction, seeded inputs, a report);
- gradients of a fixed linear loss with respect to the inputs and every weight: ``check_gradients``;
- training trajectories, the same steps on the same batches from the same weights, per-step losses
  and final weights: ``check_trajectory``.

Inputs and outputs are in the Keras model's layout, the spec's ``data_format``: frames
``(B, T, H, W, C)``, or ``(B, T, C, H, W)`` for a ``channels_first`` spec. A model's inputs are one array
(a model of one input) or a dict by input name (:data:`Inputs`); boolean mask inputs are right-padding masks.
Both sides are imported lazily, so importing this module needs neither torch nor keras.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from lstm2d.spec import ModelSpec, fixed_dims
from lstm2d.tolerances import (
    FP32_CPU_FORWARD_ATOL,
    FP32_CPU_GRADIENT_ATOL,
    FP32_CPU_GRADIENT_RTOL,
    TRAINING_LOSS_RTOL,
    TRAINING_WEIGHT_TOL,
)

if TYPE_CHECKING:
    import keras
    import torch

    from torch_impl import Lstm2dNet

Direction = Literal["keras_to_torch", "torch_to_keras"]
DIRECTIONS: tuple[Direction, ...] = ("keras_to_torch", "torch_to_keras")
Inputs = np.ndarray | Mapping[str, np.ndarray]
"""A model's inputs in Keras layout: one array, or a dict by input name."""


def input_dict(spec: ModelSpec, inputs: Inputs) -> dict[str, np.ndarray]:
    """``inputs`` by input name (one array is the model's one input)."""
    if isinstance(inputs, Mapping):
        if set(inputs) != set(spec.input_names):
            raise ValueError(f"{spec.name}: expected inputs {spec.input_names}, got {sorted(inputs)}")
        return {name: np.asarray(inputs[name]) for name in spec.input_names}
    return {spec.input.name: np.asarray(inputs)}


def input_gradient_names(spec: ModelSpec) -> list[str]:
    """The report rows of the input gradients: ``inputs`` for a model of one float input, else ``inputs/<name>`` each
    (masks have none)."""
    floats = [i.name for i in spec.inputs if i.dtype != "bool"]
    return ["inputs"] if len(spec.inputs) == 1 else [f"inputs/{name}" for name in floats]


@dataclass(frozen=True)
class OutputError:
    """How far one output of the candidate is from the reference.

    ``max_rel`` is ``max_abs / max(|reference|)``: relative to the output's scale, so it
    stays meaningful where single reference values are near zero. The output is within
    tolerance if ``max_abs <= atol + rtol * max(|reference|)`` (``rtol`` is 0 for forward outputs).
    ``informative`` says whether the reference could have shown a wrong candidate at all (see
    :func:`informative`); an error of exactly 0 is a legitimate result (both frameworks may pick
    kernels that agree bit for bit), so no test should ask for a non-zero one.
    """

    name: str
    shape: tuple[int, ...]
    max_abs: float
    max_rel: float
    atol: float
    rtol: float = 0.0
    scale: float = 0.0
    informative: bool = True

    @property
    def bound(self) -> float:
        """The largest ``max_abs`` within tolerance: ``atol + rtol * scale``."""
        return self.atol + self.rtol * self.scale

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.max_abs)) and self.max_abs <= self.bound


@dataclass(frozen=True)
class ParityReport:
    """Per-output errors for one comparison (``label`` says which, e.g. ``seed-cnn keras->torch``)."""

    label: str
    outputs: tuple[OutputError, ...]

    @property
    def ok(self) -> bool:
        return all(output.ok for output in self.outputs)

    @property
    def max_abs(self) -> float:
        return max(output.max_abs for output in self.outputs)

    @property
    def uninformative(self) -> list[str]:
        """The outputs whose reference could not tell a right candidate from a wrong one (see :func:`informative`)."""
        return [output.name for output in self.outputs if not output.informative]

    def table(self) -> str:
        rows = [("output", "shape", "max abs", "max rel", "tolerance", "ok")]
        for o in self.outputs:
            bound = f"{o.atol:.0e}" if not o.rtol else f"{o.bound:.1e}"
            verdict = ("yes" if o.ok else "NO") + ("" if o.informative else " (reference all zero, non-finite or constant)")
            rows.append((o.name, str(o.shape), f"{o.max_abs:.3e}", f"{o.max_rel:.3e}", bound, verdict))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = [f"{self.label}"] + ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "ok": self.ok, "outputs": [asdict(o) for o in self.outputs]}


def compare(
    reference: Mapping[str, np.ndarray],
    candidate: Mapping[str, np.ndarray],
    *,
    atol: float,
    rtol: float = 0.0,
    label: str = "",
) -> ParityReport:
    """Errors of ``candidate`` against ``reference``, output by output (same names, same shapes).

    Each output is within tolerance if its max abs error is at most ``atol + rtol * max(|reference|)``.
    """
    if list(reference) != list(candidate):
        raise AssertionError(f"{label}: outputs differ: reference has {list(reference)}, candidate has {list(candidate)}")
    errors = []
    for name, ref in reference.items():
        got = candidate[name]
        if ref.shape != got.shape:
            raise AssertionError(f"{label}: output {name!r} has shape {got.shape}, reference has {ref.shape}")
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        max_abs = float(diff.max()) if diff.size else 0.0
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        relative = max_abs / max(scale, 1e-30)
        errors.append(OutputError(name, tuple(ref.shape), max_abs, relative, atol, rtol, scale, informative(ref)))
    return ParityReport(label, tuple(errors))


def informative(reference: np.ndarray) -> bool:
    """Whether comparing against ``reference`` means something: its values are finite, not all zero, and, with
    a batch axis first (more than one sample), not the same for every sample. A model that outputs zeros, or one
    constant whatever its input, would match a broken candidate just as well."""
    if reference.size == 0 or not np.isfinite(reference).all() or not np.any(reference):
        return False
    return reference.ndim == 0 or reference.shape[0] < 2 or bool(np.any(reference != reference[:1]))


def keras_outputs(model: keras.Model, inputs: Inputs) -> dict[str, np.ndarray]:
    """Inference outputs of a Keras model on ``inputs`` (its own layout; a dict by input name), by output name."""
    import keras

    outputs = model(dict(inputs) if isinstance(inputs, Mapping) else inputs, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    names = list(getattr(model, "output_names", None) or [model.layers[-1].name] * len(outputs))  # Sequential: none
    if len(set(names)) < len(names):  # one layer with several outputs (Bidirectional(merge_mode=None))
        names = [f"{name}[{i}]" for i, name in enumerate(names)]
    return {name: keras.ops.convert_to_numpy(out) for name, out in zip(names, outputs, strict=True)}


def torch_outputs(model: Lstm2dNet, inputs: Inputs, names: list[str]) -> dict[str, np.ndarray]:
    """Inference outputs of a torch model on ``inputs`` given in the Keras layout of its spec, on the model's device;
    frames and grids come back in that layout."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = _torch_forward(model, _torch_inputs(model, inputs))
    finally:
        model.train(was_training)
    return {name: out.detach().cpu().numpy() for name, out in zip(names, outputs, strict=True)}


def _torch_inputs(model: Lstm2dNet, inputs: Inputs) -> dict[str, torch.Tensor]:
    """``inputs`` as tensors on the model's device by input name (leaves, still in Keras layout; masks bool)."""
    import torch

    device = next(model.parameters(), torch.empty(0)).device
    dtypes = {i.name: np.bool_ if i.dtype == "bool" else np.float32 for i in model.spec.inputs}
    return {
        name: torch.from_numpy(np.ascontiguousarray(array, dtype=dtypes[name])).to(device)
        for name, array in input_dict(model.spec, inputs).items()
    }


def _torch_forward(model: Lstm2dNet, inputs: Mapping[str, torch.Tensor]) -> list[torch.Tensor]:
    """The model's outputs for ``inputs`` in the Keras layout of its spec, frames and grids back in that layout
    (the torch model reads and writes them in its ``input_layout``: see ``torch_impl.adapter``)."""
    from torch_impl.adapter import LayoutAdapter

    outputs = LayoutAdapter(model, model.spec.data_format)(*(inputs[name] for name in model.spec.input_names))
    return list(outputs) if isinstance(outputs, tuple) else [outputs]


def torch_gradients(
    model: Lstm2dNet, inputs: Inputs, cotangents: Sequence[np.ndarray], *, training: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """torch autograd's gradients of ``sum_k sum(output_k * cotangents[k])`` (the loss ``keras_ref.loss_gradients`` uses).

    ``inputs`` and ``cotangents`` (one per output) in Keras layout. Returns the gradient of each float input
    (Keras layout) by input name, and ``{parameter name: gradient}`` for every trainable parameter (zeros where
    the loss does not depend on one). ``training`` runs the layers in training mode (BatchNorm's running
    averages then advance, as one training forward pass would).
    """
    import torch

    tensors = _torch_inputs(model, inputs)
    floats = {name: x.requires_grad_(True) for name, x in tensors.items() if x.is_floating_point()}
    parameters = {name: p for name, p in model.named_parameters() if p.requires_grad}
    was_training = model.training
    model.train(training)
    try:
        with torch.enable_grad():
            outputs = _torch_forward(model, tensors)
            if len(outputs) != len(cotangents):
                raise ValueError(f"the model has {len(outputs)} outputs, got {len(cotangents)} cotangents")
            terms = [(out * torch.from_numpy(c).to(out.device)).sum() for out, c in zip(outputs, cotangents, strict=True)]
            loss = torch.stack(terms).sum()
            leaves = [*floats.values(), *parameters.values()]
            grads = torch.autograd.grad(loss, leaves, allow_unused=True)
    finally:
        model.train(was_training)
    arrays = [(torch.zeros_like(t) if g is None else g).detach().cpu().numpy() for g, t in zip(grads, leaves, strict=True)]
    return dict(zip(floats, arrays[: len(floats)], strict=True)), dict(zip(parameters, arrays[len(floats) :], strict=True))


def assert_parity(
    keras_model: keras.Model,
    torch_model: Lstm2dNet,
    inputs: Inputs,
    *,
    atol: float = FP32_CPU_FORWARD_ATOL,
    label: str = "",
) -> ParityReport:
    """Run both models on ``inputs`` (Keras layout) and raise ``AssertionError`` with the table if any output is over ``atol``."""
    reference = keras_outputs(keras_model, inputs)
    report = compare(reference, torch_outputs(torch_model, inputs, list(reference)), atol=atol, label=label)
    if not report.ok:
        raise AssertionError("parity over tolerance:\n" + report.table())
    return report


# -- seeded weights and inputs ------------------------------------------------------


POSITIVE_VECTORS = ("moving_variance", "running_var", "gamma", "weight")  # BatchNorm vectors (a 1D "weight" is its scale)
VARIANCES = ("variance",)  # a Normalization's statistics, of any shape


def random_arrays(shapes: Mapping[str, tuple[int, ...]], rng: np.random.Generator, *, layout: str) -> dict[str, np.ndarray]:
    """Non-zero random float32 tensors: kernels uniform in +-1.5/sqrt(fan_in), biases in +-0.5, and
    BatchNorm statistics a normaliser could have: variances in [0.5, 1.5] (Normalization's too), means in +-0.5,
    scales in [0.5, 1.5].

    ``layout`` (``"keras"`` or ``"torch"``) says where a kernel's fan-in axes are:
    every axis but the last (Keras) or every axis but the first (torch).
    """
    out = {}
    for key, shape in shapes.items():
        if (key in POSITIVE_VECTORS and len(shape) == 1) or key in VARIANCES:
            out[key] = rng.uniform(0.5, 1.5, size=shape).astype(np.float32)
            continue
        if len(shape) == 1 or key.endswith("bias"):
            bound = 0.5
        else:
            fan_in = int(np.prod(shape[:-1] if layout == "keras" else shape[1:]))
            bound = 1.5 / np.sqrt(fan_in)
        out[key] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return out


def random_inputs(spec: ModelSpec, rng: np.random.Generator, *, batch: int = 2, timesteps: int | None = None) -> Inputs:
    """Seeded inputs in the Keras model's layout: standard-normal floats (frames ``(batch, time, height, width,
    channels)``, or ``(batch, time, channels, height, width)`` for a ``channels_first`` spec), and for mask inputs
    right-padding masks of random lengths from 1 to all steps. One array for a model of one input, else a dict by
    input name; ``timesteps`` fills an open time axis."""
    arrays = {}
    for name, shape in spec.keras_input_shapes().items():
        dims = fixed_dims([timesteps if d is None and i == 0 else d for i, d in enumerate(shape)])
        if next(i for i in spec.inputs if i.name == name).dtype == "bool":
            lengths = rng.integers(1, dims[0] + 1, size=batch)
            arrays[name] = np.arange(dims[0])[None, :] < lengths[:, None]
        else:
            arrays[name] = rng.standard_normal((batch, *dims)).astype(np.float32)
    return arrays[spec.input.name] if len(arrays) == 1 else arrays


def _batch_and_steps(spec: ModelSpec, inputs: Inputs) -> tuple[int, int | None]:
    """The batch size of ``inputs`` and their number of timesteps (the first input's with a time axis)."""
    arrays = input_dict(spec, inputs)
    first = next(iter(arrays.values()))
    steps = next((a.shape[1] for a in arrays.values() if a.ndim > 1), None)
    return first.shape[0], steps


def initial_weights(
    spec: ModelSpec, direction: Direction, *, seed: int = 0
) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """The same random non-zero weights for both sides: ``(Keras weights, torch state)``, made in ``direction``.

    ``keras_to_torch``: random Keras weights, converted into torch (``bias_hh`` zeros where Keras has one
    bias). ``torch_to_keras``: random torch weights (``bias_hh`` non-zero too), converted into Keras.
    """
    from torch_impl.weight_table import keras_to_torch, torch_to_keras, weight_table

    rng = np.random.default_rng(seed)
    table = weight_table(spec)
    if direction == "keras_to_torch":
        weights = {entry.name: random_arrays(entry.keras_shapes, rng, layout="keras") for entry in table}
        return weights, keras_to_torch(spec, weights)
    if direction == "torch_to_keras":
        state: dict[str, np.ndarray] = {}
        for entry in table:
            layer_state = random_arrays(entry.torch_shapes, rng, layout="torch")
            state.update({entry.torch_prefix + key: value for key, value in layer_state.items()})
        return torch_to_keras(spec, state), state
    raise ValueError(f"direction: expected one of {DIRECTIONS}, got {direction!r}")


def build_pair(spec: ModelSpec, direction: Direction, *, seed: int = 0) -> tuple[keras.Model, Lstm2dNet]:
    """Both models for ``spec`` with the same random non-zero weights, copied in ``direction`` (see :func:`initial_weights`)."""
    import keras_ref
    import torch_impl

    keras_weights, torch_state = initial_weights(spec, direction, seed=seed)
    keras_model = keras_ref.build_model(spec)
    keras_ref.set_weights(keras_model, spec, keras_weights)
    torch_model = torch_impl.build_model(spec).eval()
    torch_impl.load_state(torch_model, torch_state)
    return keras_model, torch_model


def check_spec(
    spec: ModelSpec,
    direction: Direction,
    *,
    seed: int = 0,
    batch: int = 2,
    timesteps: int | None = None,
    atol: float = FP32_CPU_FORWARD_ATOL,
) -> ParityReport:
    """Copy random weights in ``direction``, run both models on seeded inputs, report (never raises on error size)."""
    keras_model, torch_model = build_pair(spec, direction, seed=seed)
    inputs = random_inputs(spec, np.random.default_rng(seed + 1), batch=batch, timesteps=timesteps)
    reference = keras_outputs(keras_model, inputs)
    arrow = direction.replace("_to_", " -> ")
    return compare(reference, torch_outputs(torch_model, inputs, list(reference)), atol=atol, label=f"{spec.name} {arrow}")


# -- gradients ----------------------------------------------------------------------


def random_cotangents(spec: ModelSpec, rng: np.random.Generator, *, batch: int, timesteps: int | None = None) -> list[np.ndarray]:
    """One standard-normal array per model output, of that output's shape (Keras layout): the fixed ``r`` of the
    loss ``sum(output * r)``, whose gradient is non-trivial at every output element."""
    return [
        rng.standard_normal((batch, *fixed_dims([timesteps if d is None else d for d in shape]))).astype(np.float32)
        for shape in spec.keras_output_shapes()
    ]


KerasGradients = tuple[
    dict[str, np.ndarray], dict[str, dict[str, np.ndarray]]
]  # {input: gradient}, {layer: {variable: gradient}}
TorchGradients = tuple[dict[str, np.ndarray], dict[str, np.ndarray]]  # {input: gradient}, {parameter name: gradient}


def gradient_pair(
    spec: ModelSpec,
    direction: Direction,
    *,
    seed: int = 0,
    batch: int = 2,
    timesteps: int | None = None,
    inputs: Inputs | None = None,
) -> tuple[KerasGradients, TorchGradients]:
    """Gradients of ``sum(output * r)`` (``r`` seeded random) from Keras (``keras_ref.loss_gradients``, this
    process' backend) and from torch autograd, for the models of :func:`build_pair`, inference semantics.

    ``inputs`` (Keras layout) defaults to seeded random inputs.
    """
    import keras_ref

    keras_model, torch_model = build_pair(spec, direction, seed=seed)
    rng = np.random.default_rng(seed + 1)
    if inputs is None:
        inputs = random_inputs(spec, rng, batch=batch, timesteps=timesteps)
    batch, steps = _batch_and_steps(spec, inputs)
    cotangents = random_cotangents(spec, rng, batch=batch, timesteps=steps)
    return keras_ref.loss_gradients(keras_model, spec, inputs, cotangents), torch_gradients(torch_model, inputs, cotangents)


def compare_gradients(
    spec: ModelSpec,
    keras_grads: KerasGradients,
    torch_grads: TorchGradients,
    *,
    atol: float = FP32_CPU_GRADIENT_ATOL,
    rtol: float = FP32_CPU_GRADIENT_RTOL,
    label: str = "",
) -> ParityReport:
    """One row per tensor, the inputs (``inputs``, or ``inputs/<name>`` each) then every trainable torch parameter:
    Keras' gradients mapped to them by ``keras_gradients_to_torch`` (layout rules; a merged recurrent bias' gradient
    in ``bias_ih``)."""
    from torch_impl.weight_table import keras_gradients_to_torch

    rows = dict(zip(input_gradient_names(spec), keras_grads[0], strict=True))  # row -> input name
    reference = {row: keras_grads[0][name] for row, name in rows.items()}
    weights = keras_gradients_to_torch(spec, keras_grads[1])
    parameters = torch_grads[1]
    if set(parameters) != set(weights):
        raise AssertionError(
            f"{label}: torch parameters {sorted(parameters)} are not Keras' trainable weights mapped to torch {sorted(weights)}"
        )
    candidate = {row: torch_grads[0][name] for row, name in rows.items()}
    reference.update(weights)
    candidate.update({key: parameters[key] for key in weights})
    return compare(reference, candidate, atol=atol, rtol=rtol, label=label)


def check_gradients(
    spec: ModelSpec,
    direction: Direction,
    *,
    seed: int = 0,
    batch: int = 2,
    timesteps: int | None = None,
    inputs: Inputs | None = None,
    atol: float = FP32_CPU_GRADIENT_ATOL,
    rtol: float = FP32_CPU_GRADIENT_RTOL,
) -> ParityReport:
    """:func:`gradient_pair`, then :func:`compare_gradients` (never raises on error size)."""
    keras_grads, torch_grads = gradient_pair(spec, direction, seed=seed, batch=batch, timesteps=timesteps, inputs=inputs)
    arrow = direction.replace("_to_", " -> ")
    return compare_gradients(spec, keras_grads, torch_grads, atol=atol, rtol=rtol, label=f"{spec.name} {arrow} gradients")


# -- training trajectories ----------------------------------------------------------

Batches = list[tuple[Inputs, np.ndarray]]
LEARNING_RATES = {"sgd": 0.05, "adam": 0.005}
"""Default learning rates of the trajectory checks: large enough that 50 steps move every weight visibly."""


@dataclass(frozen=True)
class Trajectory:
    """One training run: the loss of every step ``(steps,)`` (from that step's forward pass, before its update)
    and the final weights in Keras layout, ``{layer: {variable: array}}``, moving statistics included."""

    losses: np.ndarray
    weights: dict[str, dict[str, np.ndarray]]


def _check_trainable_spec(spec: ModelSpec) -> None:
    """Trajectories must be deterministic: no dropout or noise (random draws cannot match across frameworks), no
    activity regularisation (Keras adds it to the loss, lstm2d does not), one output."""
    from lstm2d.spec import ActivityRegularization, AlphaDropout, Bidirectional, Dropout, GaussianDropout, GaussianNoise

    for layer in spec.layers:
        inner = layer.layer if isinstance(layer, Bidirectional) else layer
        rates = [getattr(inner, "dropout", 0.0), getattr(inner, "recurrent_dropout", 0.0)]
        if isinstance(layer, (Dropout, GaussianDropout, AlphaDropout)):
            rates.append(layer.rate)
        if isinstance(layer, GaussianNoise):
            rates.append(layer.stddev)
        if any(rates):
            raise ValueError(f"{layer.label} draws at random in training: trajectories cannot match, remove it")
        if isinstance(layer, ActivityRegularization) and (layer.l1 or layer.l2):
            raise ValueError(f"{layer.label} adds a penalty to Keras' training loss that lstm2d's does not: remove it")
    if len(spec.outputs) != 1:
        raise ValueError(f"{spec.name}: trajectories need a model with one output, it has {len(spec.outputs)}")


def training_batches(
    spec: ModelSpec, *, loss: str, steps: int, batch: int = 4, timesteps: int | None = None, seed: int = 0
) -> Batches:
    """``steps`` batches of seeded inputs (Keras layout) and the targets a *teacher* gives them.

    The teacher is the torch model for ``spec`` with other random weights, so the task is learnable.
    ``"mse"``: the teacher's outputs. ``"crossentropy"``: the index of its largest output (int32 labels
    of the output's shape without the last axis, which needs at least two classes).
    """
    import torch_impl

    if loss not in ("mse", "crossentropy"):
        raise ValueError(f"loss: expected 'mse' or 'crossentropy', got {loss!r}")
    teacher = torch_impl.build_model(spec).eval()
    torch_impl.load_state(teacher, initial_weights(spec, "keras_to_torch", seed=seed + 1000)[1])
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        x = random_inputs(spec, rng, batch=batch, timesteps=timesteps)
        (y,) = torch_outputs(teacher, x, ["y"]).values()
        if loss == "crossentropy":
            if y.shape[-1] < 2:
                raise ValueError(f"{spec.name}: cross-entropy needs at least two classes, the output has {y.shape[-1]}")
            y = y.argmax(-1).astype(np.int32)
        out.append((x, y))
    return out


def keras_trajectory(
    spec: ModelSpec, batches: Batches, *, optimizer: str, loss: str, learning_rate: float | None = None,
    direction: Direction = "keras_to_torch", seed: int = 0,
) -> Trajectory:  # fmt: skip
    """Train the Keras model from :func:`initial_weights` with ``compile`` + ``train_on_batch`` (``keras_ref.training``)."""
    import keras_ref
    from keras_ref.training import train_on_batches

    _check_trainable_spec(spec)
    model = keras_ref.build_model(spec)
    keras_ref.set_weights(model, spec, initial_weights(spec, direction, seed=seed)[0])
    lr = LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
    losses = train_on_batches(model, batches, optimizer=optimizer, loss=loss, learning_rate=lr)
    return Trajectory(losses, keras_ref.get_weights(model, spec))


def torch_loss(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Keras' ``"mse"`` (mean over every element) or ``SparseCategoricalCrossentropy(from_logits=True)``
    (logits ``(..., K)``, integer labels ``(...)``, mean over all of ``...``) in torch."""
    import torch.nn.functional as F

    if name == "mse":
        return F.mse_loss(outputs, targets)
    if name == "crossentropy":
        return F.cross_entropy(outputs.flatten(0, -2), targets.flatten().long())
    raise ValueError(f"loss: expected 'mse' or 'crossentropy', got {name!r}")


def torch_trajectory(
    spec: ModelSpec, batches: Batches, *, optimizer: str, loss: str, learning_rate: float | None = None,
    direction: Direction = "keras_to_torch", seed: int = 0,
    make_optimizer: Callable[[list[torch.nn.Parameter], float], torch.optim.Optimizer] | None = None,
    keras_biases: bool = True,
) -> Trajectory:  # fmt: skip
    """Train the torch model from :func:`initial_weights` with a plain loop: zero_grad, forward, loss, backward, step.

    The optimizer is the Keras-equivalent one (``torch.optim.SGD``, or :class:`torch_impl.optim.KerasAdam`)
    over ``model.parameters()`` (where Keras has one recurrent bias, torch's ``bias_hh`` is frozen).
    ``make_optimizer(parameters, lr)`` replaces it and ``keras_biases=False`` unfreezes ``bias_hh`` to train
    torch's two recurrent biases: both exist for the negative controls.
    """
    import torch

    import torch_impl
    from torch_impl.optim import KerasAdam

    _check_trainable_spec(spec)
    if optimizer not in LEARNING_RATES:
        raise ValueError(f"optimizer: expected one of {tuple(LEARNING_RATES)}, got {optimizer!r}")
    model = torch_impl.build_model(spec)
    torch_impl.load_state(model, initial_weights(spec, direction, seed=seed)[1])
    if not keras_biases:
        model.requires_grad_(True)
    parameters = list(model.parameters())
    lr = LEARNING_RATES[optimizer] if learning_rate is None else learning_rate
    if make_optimizer is None:
        make_optimizer = {"sgd": torch.optim.SGD, "adam": KerasAdam}[optimizer]
    opt = make_optimizer(parameters, lr)
    model.train()
    losses = []
    for x, y in batches:
        opt.zero_grad()
        (outputs,) = _torch_forward(model, _torch_inputs(model, x))
        value = torch_loss(loss, outputs, torch.from_numpy(y).to(outputs.device))
        value.backward()
        opt.step()
        losses.append(value.item())
    return Trajectory(np.array(losses), torch_impl.export_keras_weights(model))


def compare_trajectories(
    reference: Trajectory,
    candidate: Trajectory,
    *,
    weight_tol: float,
    loss_rtol: float = TRAINING_LOSS_RTOL,
    label: str = "",
) -> ParityReport:
    """Per-step losses (within ``loss_rtol`` of each reference loss) and every final weight (max abs error
    within ``weight_tol * (1 + max |reference weight|)``), as one report: ``losses``, then ``layer/variable`` rows."""
    losses = compare({"losses": reference.losses}, {"losses": candidate.losses}, atol=0.0, rtol=loss_rtol, label=label)
    flat_ref = {f"{layer}/{key}": value for layer, values in reference.weights.items() for key, value in values.items()}
    flat_got = {f"{layer}/{key}": value for layer, values in candidate.weights.items() for key, value in values.items()}
    weights = compare(flat_ref, flat_got, atol=weight_tol, rtol=weight_tol, label=label)
    return ParityReport(label, losses.outputs + weights.outputs)


def check_trajectory(
    spec: ModelSpec, *, optimizer: str, loss: str, steps: int = 50, batch: int = 4, timesteps: int | None = None,
    learning_rate: float | None = None, direction: Direction = "keras_to_torch", seed: int = 0,
) -> ParityReport:  # fmt: skip
    """Train both models ``steps`` steps from the same weights on the same batches and compare the trajectories."""
    batches = training_batches(spec, loss=loss, steps=steps, batch=batch, timesteps=timesteps, seed=seed)
    reference = keras_trajectory(
        spec, batches, optimizer=optimizer, loss=loss, learning_rate=learning_rate, direction=direction, seed=seed
    )
    candidate = torch_trajectory(
        spec, batches, optimizer=optimizer, loss=loss, learning_rate=learning_rate, direction=direction, seed=seed
    )
    label = f"{spec.name} {optimizer} {loss} {steps} steps"
    return compare_trajectories(reference, candidate, weight_tol=TRAINING_WEIGHT_TOL[optimizer], label=label)
