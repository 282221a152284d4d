"""The safety allowlist (``torch_impl.files.config_safety``, written as data) matches the installed Keras.

Every built-in layer class is allowed or denied on purpose, every op class likewise, and every listed name is one
this Keras has. When Keras adds a layer or an op, the failure prints the names to add to the lists.
"""

from __future__ import annotations

import importlib
import inspect

import keras
import pytest
from keras.src.models import Functional
from keras.src.ops.operation import Operation

from torch_impl.files import config_safety


def _classes(module: object, base: type) -> set[str]:
    """The names of the classes in ``module`` that subclass ``base`` (its own, for an ops module: not imported ones)."""
    own = getattr(module, "__name__", "")
    return {
        name
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, base) and (not own.startswith("keras.src.ops") or value.__module__ == own)
    }


def test_every_keras_layer_is_allowed_or_denied_on_purpose():
    layers = _classes(keras.layers, keras.layers.Layer)
    listed = config_safety.LAYER_CLASSES | config_safety.DENIED_LAYER_CLASSES
    assert not (config_safety.LAYER_CLASSES & config_safety.DENIED_LAYER_CLASSES)
    assert layers - listed == set(), f"keras.layers classes in neither list (add to LAYER_CLASSES): {sorted(layers - listed)}"
    assert listed - layers == set(), f"listed, but not layers of keras {keras.__version__}: {sorted(listed - layers)}"


@pytest.mark.parametrize("module", sorted(config_safety.OP_CLASSES))
def test_every_keras_op_is_allowed_or_denied_on_purpose(module):
    ops = _classes(importlib.import_module(module), Operation)
    allowed = config_safety.OP_CLASSES[module]
    denied = config_safety.DENIED_OP_CLASSES & ops
    assert not allowed & denied
    assert ops - allowed - denied == set(), f"{module} ops in neither list: {sorted(ops - allowed - denied)}"
    assert allowed - ops == set(), f"listed, but not ops of {module}: {sorted(allowed - ops)}"


def test_every_denied_op_is_an_op():
    ops = set().union(*(_classes(importlib.import_module(module), Operation) for module in config_safety.OP_CLASSES))
    assert ops >= config_safety.DENIED_OP_CLASSES


def test_every_other_listed_name_is_a_keras_class():
    public = (
        keras, keras.initializers, keras.regularizers, keras.constraints, keras.optimizers, keras.optimizers.schedules,
        keras.losses, keras.metrics, keras.dtype_policies,
    )  # fmt: skip
    missing = {name for name in config_safety.DATA_CLASSES if not any(inspect.isclass(getattr(m, name, None)) for m in public)}
    assert missing == set()
    assert {"Sequential", "Model"} <= _classes(keras, keras.Model) and Functional.__name__ in config_safety.MODEL_CLASSES
    assert not any(inspect.isclass(getattr(m, name, None)) for name in config_safety.KERAS2_CLASSES for m in public)
