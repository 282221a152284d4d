"""The torch model on CUDA against Keras on the CPU (TF32 off). Skips without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm2d.parity import assert_parity, build_pair, random_inputs
from parity_tests.specs import PARITY_SPECS

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture
def no_tf32():
    """cuDNN convolutions and matmuls default to (or may use) TF32 on Ampere+: off for fp32 parity."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@pytest.mark.parametrize("spec", PARITY_SPECS[:6], ids=lambda spec: spec.name)
def test_cuda_forward_parity(spec, no_tf32):
    keras_model, torch_model = build_pair(spec, "keras_to_torch", seed=21)
    torch_model = torch_model.cuda()
    torch_model.flatten_parameters()
    inputs = random_inputs(spec, np.random.default_rng(22), batch=3, timesteps=spec.input.timesteps or 5)
    assert_parity(keras_model, torch_model, inputs, label=f"{spec.name} on {torch.cuda.get_device_name()}")
