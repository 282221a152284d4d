"""The allowlist every model config passes before anything reads it as a model.

A Keras config names Python objects by ``module`` / ``class_name`` / ``registered_name``; Keras'
own loader imports and calls them, which is how its safe-mode bypasses worked (CVE-2024-3660,
CVE-2025-1550, CVE-2025-8747, CVE-2025-9905/9906). lstm2d never imports or calls anything named in
a file, and refuses a file that names anything outside this list, at any depth (TimeDistributed,
Bidirectional, nested models, initializers, activations given as objects, and the ``compile_config``
of a compiled model: its optimizer, learning-rate schedule, losses and metrics).
"""

from __future__ import annotations

import re
from typing import Any

from torch_impl.files.errors import UnsafeFileError

ALLOWED_CLASSES = frozenset(
    {
        # models and their plumbing
        "Sequential", "Functional", "Model", "__keras_tensor__", "DTypePolicy", "FloatDTypePolicy", "Policy",
        # layers lstm2d reads (or recognises to name them as unsupported)
        "InputLayer", "TimeDistributed", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense",
        "Dropout", "Reshape", "LSTM", "LSTMCell", "GRU", "SimpleRNN", "Bidirectional", "ConvLSTM2D",
        "BatchNormalization", "Masking", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Activation", "Conv3D",
        "GRUCell", "SimpleRNNCell", "ConvLSTMCell",
        # the ops Keras 3 records in a Functional graph to compute a Masking layer's mask
        "NotEqual", "Any",
        # initializers, regularizers, constraints (data: never called by lstm2d)
        "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal",
        "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
        "Identity", "L1", "L2", "L1L2", "OrthogonalRegularizer", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm",
        # compile_config of a compiled model: optimizer, schedule, losses, metrics (data: never called by lstm2d)
        "Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lamb", "Lion", "Muon", "Nadam",
        "RMSprop", "SGD", "LossScaleOptimizer",
        "CosineDecay", "CosineDecayRestarts", "ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay",
        "PolynomialDecay",
        "BinaryCrossentropy", "BinaryFocalCrossentropy", "CategoricalCrossentropy", "CategoricalFocalCrossentropy",
        "CategoricalHinge", "CosineSimilarity", "Hinge", "Huber", "KLDivergence", "LogCosh", "MeanAbsoluteError",
        "MeanAbsolutePercentageError", "MeanSquaredError", "MeanSquaredLogarithmicError", "Poisson",
        "SparseCategoricalCrossentropy", "SquaredHinge",
        "AUC", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy", "F1Score", "FBetaScore", "LogCoshError", "Mean",
        "Precision", "R2Score", "Recall", "RootMeanSquaredError", "SparseCategoricalAccuracy",
        "SparseTopKCategoricalAccuracy", "Sum", "TopKCategoricalAccuracy",
    }
)  # fmt: skip
ALLOWED_MODULES = frozenset(
    {
        "keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.models",
        "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model",
        "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics", "keras.src.ops.numpy",
    }
)  # fmt: skip
# Keras' torch backend saves its optimizers under their backend subclass' module (torch_adam, torch_sgd, ...).
BACKEND_OPTIMIZER_MODULE = re.compile(r"keras\.src\.backend\.(tensorflow|jax|torch|numpy|openvino)\.optimizers(\.[a-z0-9_]+)?")
CODE_CLASSES = frozenset({"Lambda", "function", "TFOpLambda", "SlicingOpLambda"})


def check_config_safety(config: Any, where: str) -> None:
    """Raise :class:`UnsafeFileError` if any object in ``config`` is outside the allowlist."""
    stack: list[tuple[Any, str]] = [(config, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        _check_object(node, path or "/", where)
        stack.extend((child, f"{path}/{key}") for key, child in node.items())


def _check_object(node: dict[str, Any], path: str, where: str) -> None:
    class_name = node.get("class_name")
    layer = _layer_name(node)
    if class_name in CODE_CLASSES:
        raise UnsafeFileError(
            f"{where}: layer {layer!r} at {path} is a {class_name}: it carries Python code, and lstm2d never runs "
            "code from a file; rewrite it as supported layers"
        )
    if "class_name" in node and class_name not in ALLOWED_CLASSES:
        raise UnsafeFileError(
            f"{where}: object {class_name!r} (layer {layer!r}, at {path}) is not a Keras built-in lstm2d knows; "
            "custom and registered objects are refused"
        )
    if "module" in node and not _is_keras_module(node["module"]):
        raise UnsafeFileError(f"{where}: object {class_name!r} at {path} names module {node['module']!r}, not one of Keras' own")
    if node.get("registered_name") not in (None, class_name):  # Keras registers its own Functional as "Functional"
        raise UnsafeFileError(
            f"{where}: object {class_name!r} at {path} has registered_name {node['registered_name']!r}: "
            "registered (custom) objects are refused"
        )


def _is_keras_module(module: Any) -> bool:
    return module in ALLOWED_MODULES or (isinstance(module, str) and BACKEND_OPTIMIZER_MODULE.fullmatch(module) is not None)


def _layer_name(node: dict[str, Any]) -> str | None:
    config = node.get("config")
    return config.get("name") if isinstance(config, dict) else node.get("name")
