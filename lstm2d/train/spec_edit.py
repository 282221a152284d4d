"""Deriving the spec a data set needs from a preset, spec file or Keras model: its input shape and output units.

This is the only module of ``lstm2d.train`` that reads the layout of ``ModelSpec.to_dict()`` (where the
layers are and what a Dense looks like); everything else uses ``spec.input``, ``spec.output_shape()``
and ``spec.name``. When the spec format changes, this file changes and nothing else in training does.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from lstm2d.spec import InputSpec, ModelSpec


def final_activation(spec: ModelSpec) -> str:
    """The activation of the model's last layer (``linear`` for a Dense without one, ``tanh`` for an LSTM)."""
    last = _last_layer(spec.to_dict())
    return last.get("activation", "linear") if last["kind"] == "dense" else "tanh"


def adapt_spec(spec: ModelSpec, *, input: InputSpec, units: int) -> ModelSpec:
    """``spec`` reading samples of shape ``input`` and producing ``units`` outputs per sample (or per timestep).

    The last Dense layer gets ``units`` units (same name and activation); a model that ends in an LSTM of the
    wrong width gets a linear Dense appended. Everything else is kept, so for a spec whose input and output
    already fit, the result equals ``spec``.
    """
    data = spec.to_dict()
    data["input"] = asdict(input)
    last = _last_layer(data)
    if last["units"] != units:
        if last["kind"] == "dense":
            last["units"] = units
        else:
            data["head"].append({"kind": "dense", "units": units, "activation": "linear"})
    return ModelSpec.from_dict(data)


def _last_layer(data: dict[str, Any]) -> dict[str, Any]:
    """The last layer's dict in ``ModelSpec.to_dict()`` output (the head's last Dense, else the last LSTM)."""
    return (data["head"] or data["recurrent"])[-1]
