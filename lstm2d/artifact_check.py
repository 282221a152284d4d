"""Proof that an exported artifact computes what the model computes: the file run on seeded inputs against the torch
model (and the Keras model, where given), per output, for two batch sizes and, where the artifact takes any
length, two sequence lengths.

Inputs are :func:`lstm2d.parity.random_inputs` (masks: right padding of random lengths), made in the Keras layout
and handed to the artifact in its own; its spatial outputs are moved back to the Keras layout before comparing.
Tolerances: :data:`ARTIFACT_TOLERANCES`, by the artifact's dtype, against an fp32 reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from lstm2d.parity import ParityReport, compare, input_dict, keras_outputs, random_inputs, torch_outputs
from lstm2d.tolerances import BF16_FORWARD_ATOL, FP16_FORWARD_ATOL, FP32_CPU_FORWARD_ATOL

if TYPE_CHECKING:
    import keras

    from torch_impl import Lstm2dNet
    from torch_impl.export import Artifact

ARTIFACT_TOLERANCES = {"fp32": FP32_CPU_FORWARD_ATOL, "bf16": BF16_FORWARD_ATOL, "fp16": FP16_FORWARD_ATOL}
CHECK_BATCHES = (1, 3)
CHECK_TIMESTEPS = (5, 9)
"""The sequence lengths an artifact that takes any length is run at."""


def check_lengths(artifact: Artifact) -> tuple[int | None, ...]:
    """The sequence lengths to run: the one the artifact fixes, :data:`CHECK_TIMESTEPS` where it takes any length,
    or ``(None,)`` for a model without a time axis."""
    if artifact.timesteps is not None:
        return (artifact.timesteps,)
    return CHECK_TIMESTEPS if any("time" in t.shape for t in artifact.inputs) else (None,)


def check_artifact(
    model: Lstm2dNet,
    artifact: Artifact,
    *,
    seed: int = 0,
    keras_model: keras.Model | None = None,
    providers: Sequence[str] | None = None,
) -> list[ParityReport]:
    """Run the artifact's file and ``model`` (and ``keras_model``) on the same seeded inputs, for each batch size of
    :data:`CHECK_BATCHES` and each length of :func:`check_lengths`; one report per reference, a row per output, batch
    size and length. ``providers``: ONNX Runtime's execution providers (default CPU)."""
    from torch_impl.export import open_artifact

    spec = model.spec
    run = open_artifact(artifact, providers=providers)
    names = list(spec.outputs)
    atol = ARTIFACT_TOLERANCES[artifact.dtype]
    rows: dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]] = {"torch": ({}, {})}
    if keras_model is not None:
        rows["Keras"] = ({}, {})
    rng = np.random.default_rng(seed)
    for timesteps in check_lengths(artifact):
        for batch in CHECK_BATCHES:
            inputs = random_inputs(spec, rng, batch=batch, timesteps=timesteps)
            got = _keras_layout(
                artifact, run(_artifact_layout(artifact, spec.data_format, input_dict(spec, inputs))), spec.data_format
            )
            case = f"B={batch}" + ("" if timesteps is None else f" T={timesteps}")
            references = {"torch": list(torch_outputs(model, inputs, names).values())}
            if keras_model is not None:
                references["Keras"] = list(keras_outputs(keras_model, inputs).values())
            for reference, values in references.items():
                for name, expected, actual in zip(names, values, got, strict=True):
                    rows[reference][0][f"{name} ({case})"] = expected
                    rows[reference][1][f"{name} ({case})"] = actual
    label = f"{artifact.path.name} ({artifact.format}, {artifact.dtype}, {artifact.layout})"
    return [
        compare(expected, actual, atol=atol, label=f"{label} vs {reference}") for reference, (expected, actual) in rows.items()
    ]


def _artifact_layout(artifact: Artifact, keras_layout: str, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``inputs`` (Keras layout) as the artifact takes them."""
    return {
        t.name: _move(inputs[t.name], keras_layout, artifact.layout) if t.spatial else inputs[t.name] for t in artifact.inputs
    }


def _keras_layout(artifact: Artifact, outputs: Sequence[np.ndarray], keras_layout: str) -> list[np.ndarray]:
    """The artifact's outputs in the Keras layout."""
    return [_move(y, artifact.layout, keras_layout) if t.spatial else y for y, t in zip(outputs, artifact.outputs, strict=True)]


def _move(array: np.ndarray, source: str, target: str) -> np.ndarray:
    """Frames or a grid from one channel layout to the other (``torch_impl.adapter.relayout`` on arrays)."""
    if source == target:
        return array
    return np.moveaxis(array, -1, -3) if source == "channels_last" else np.moveaxis(array, -3, -1)


__all__ = ["ARTIFACT_TOLERANCES", "CHECK_BATCHES", "CHECK_TIMESTEPS", "check_artifact", "check_lengths"]
