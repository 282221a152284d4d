"""Deriving the spec a data set needs from a preset, spec file or Keras model: its input shape and output units.

This is the only module of ``lstm2d.train`` that looks at the spec's layers; everything else uses
``spec.input``, ``spec.output_shape()`` and ``spec.name``.
"""

from __future__ import annotations

from dataclasses import replace

from lstm2d.spec import Conv2D, Conv3D, Dense, InputSpec, ModelSpec


def final_activation(spec: ModelSpec) -> str:
    """The activation applied last (``linear`` when the last layer has none, e.g. a Flatten)."""
    return getattr(spec.layers[-1], "activation", "linear")


def adapt_spec(spec: ModelSpec, *, input: InputSpec, units: int) -> ModelSpec:
    """``spec`` reading samples of shape ``input`` and producing ``units`` outputs per sample (or per timestep).

    A last Dense (or Conv2D / Conv3D for frame outputs) gets ``units`` units (same name and activation);
    a model that ends in another layer of the wrong width gets a linear Dense appended. Everything else
    is kept, so for a spec whose input and output already fit, the result equals ``spec``.
    """
    layers = list(spec.layers)
    if spec.output_shape()[-1] != units:
        last = layers[-1]
        if isinstance(last, Dense):
            layers[-1] = replace(last, units=units)
        elif isinstance(last, (Conv2D, Conv3D)):
            layers[-1] = replace(last, filters=units)
        else:
            layers.append(Dense(units))
    return ModelSpec(input, tuple(layers), name=spec.name, data_format=spec.data_format)
