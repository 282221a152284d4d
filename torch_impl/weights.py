"""Moving weights in and out of a built torch model, with every tensor checked."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from torch_impl.model import Lstm2dNet
from torch_impl.weight_table import KerasWeights, TorchState, WeightMismatchError, keras_to_torch, torch_to_keras


def load_state(model: Lstm2dNet, state: Mapping[str, np.ndarray | torch.Tensor]) -> None:
    """Copy ``state`` into ``model``: same keys, same shapes, nothing broadcast, nothing left over."""
    target = model.state_dict()
    missing = sorted(set(target) - set(state))
    extra = sorted(set(state) - set(target))
    if missing or extra:
        raise WeightMismatchError(f"state dict does not fit the model: missing {missing}, unexpected {extra}")
    with torch.no_grad():
        for key, destination in target.items():
            source = torch.as_tensor(state[key])
            if tuple(source.shape) != tuple(destination.shape):
                raise WeightMismatchError(f"{key}: shape {tuple(source.shape)}, expected {tuple(destination.shape)}")
            destination.copy_(source)
    model.flatten_parameters()


def state_as_numpy(model: Lstm2dNet) -> TorchState:
    """The model's state dict as float32 numpy arrays (copies, on the CPU)."""
    return {key: value.detach().to("cpu", torch.float32).numpy().copy() for key, value in model.state_dict().items()}


def load_keras_weights(model: Lstm2dNet, keras_weights: Mapping[str, Mapping[str, np.ndarray]]) -> None:
    """Load Keras-layout weights (``{layer: {variable: array}}``) into a model built from the same spec."""
    load_state(model, keras_to_torch(model.spec, keras_weights))


def export_keras_weights(model: Lstm2dNet) -> KerasWeights:
    """The model's weights in Keras layout, ``{layer: {variable: array}}``, ready for ``keras_ref.set_weights``."""
    return torch_to_keras(model.spec, state_as_numpy(model))
