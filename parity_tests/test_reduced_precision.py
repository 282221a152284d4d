"""torch in bf16 (``torch_impl.runtime``) against Keras in fp32: within the stated reduced-precision tolerance."""

from __future__ import annotations

import numpy as np
import pytest

from lstm2d.parity import build_pair, compare, keras_outputs, random_inputs
from lstm2d.presets import get_preset, preset_names
from lstm2d.tolerances import BF16_FORWARD_ATOL


@pytest.mark.parametrize("preset", preset_names())
def test_bf16_torch_stays_within_tolerance_of_fp32_keras(preset):
    import torch

    from torch_impl.runtime import InferenceRunner, RuntimeOptions

    spec = get_preset(preset)
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=11)
    inputs = random_inputs(spec, np.random.default_rng(12), batch=3)
    reference = keras_outputs(keras_model, inputs)
    x = torch.from_numpy(inputs).permute(0, 1, 4, 2, 3)
    out = InferenceRunner(torch_model, RuntimeOptions(dtype="bf16"))(x).float()
    if torch_model.spatial_outputs[0]:
        out = out.movedim(-3, -1)  # channels back to Keras' last axis
    out = out.numpy()
    label = f"{preset} bf16 torch vs fp32 Keras"
    report = compare(reference, dict.fromkeys(reference, out), atol=BF16_FORWARD_ATOL, label=label)
    print(report.table())
    assert report.ok, report.table()
    assert report.max_abs > 1e-5, "bf16 should differ from fp32 measurably: is autocast on?"
