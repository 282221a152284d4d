"""The allowlist every model config passes before anything reads it as a model.

A Keras config names Python objects by ``module`` / ``class_name`` / ``registered_name``; Keras'
own loader imports and calls them, which is how its safe-mode bypasses worked (CVE-2024-3660,
CVE-2025-1550, CVE-2025-8747, CVE-2025-9905/9906). lstm2d never imports or calls anything named in
a file, and refuses a file that names anything outside these lists, at any depth (TimeDistributed,
Bidirectional, nested models, initializers, activations given as objects, and the ``compile_config``
of a compiled model: its optimizer, learning-rate schedule, losses and metrics).

The lists are every Keras 3.15 built-in a config can name: each class in ``keras.layers`` and each op class in
``keras.src.ops.{numpy,nn,core,math,image,linalg}`` (the ops Keras 3 records when one is called on Keras tensors
in a Functional model), less the built-ins that run code or read files when Keras loads them
(:data:`DENIED_LAYER_CLASSES`, :data:`DENIED_OP_CLASSES`). Allowed is not supported: a built-in lstm2d does not
convert passes here and is refused by the model reader as an ``UnsupportedModelError`` that names it.
``parity_tests/test_config_safety_lists.py`` checks the lists against the installed Keras (regenerate them there).
"""

from __future__ import annotations

import re
from typing import Any

from torch_impl.files.errors import UnsafeFileError

MODEL_CLASSES = frozenset({"Sequential", "Functional", "Model"})
KERAS_TENSOR = "__keras_tensor__"  # a tensor in a Functional config's node arguments

LAYER_CLASSES = frozenset(
    {
        "Activation", "ActivityRegularization", "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D",
        "AdaptiveAveragePooling3D", "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "Add",
        "AdditiveAttention", "AlphaDropout", "Attention", "AugMix", "AutoContrast", "Average", "AveragePooling1D",
        "AveragePooling2D", "AveragePooling3D", "AvgPool1D", "AvgPool2D", "AvgPool3D", "BatchNormalization",
        "Bidirectional", "CategoryEncoding", "CenterCrop", "Concatenate",
        "ContrastLimitedAdaptiveHistogramEqualization", "Conv1D", "Conv1DTranspose", "Conv2D", "Conv2DTranspose",
        "Conv3D", "Conv3DTranspose", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "Convolution1D",
        "Convolution1DTranspose", "Convolution2D", "Convolution2DTranspose", "Convolution3D",
        "Convolution3DTranspose", "Cropping1D", "Cropping2D", "Cropping3D", "CutMix", "Dense", "DepthwiseConv1D",
        "DepthwiseConv2D", "Discretization", "Dot", "Dropout", "ELU", "EinsumDense", "Embedding", "Equalization",
        "Flatten", "GRU", "GRUCell", "GaussianDropout", "GaussianNoise", "GlobalAveragePooling1D",
        "GlobalAveragePooling2D", "GlobalAveragePooling3D", "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D",
        "GlobalMaxPool1D", "GlobalMaxPool2D", "GlobalMaxPool3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
        "GlobalMaxPooling3D", "GroupNormalization", "GroupQueryAttention", "HashedCrossing", "Hashing", "Identity",
        "InputLayer", "LSTM", "LSTMCell", "Layer", "LayerNormalization", "LeakyReLU", "Masking",
        "MaxNumBoundingBoxes", "MaxPool1D", "MaxPool2D", "MaxPool3D", "MaxPooling1D", "MaxPooling2D",
        "MaxPooling3D", "Maximum", "MelSpectrogram", "Minimum", "MixUp", "MultiHeadAttention", "Multiply",
        "Normalization", "PReLU", "Permute", "Pipeline", "RMSNormalization", "RNN", "RandAugment",
        "RandomBrightness", "RandomColorDegeneration", "RandomColorJitter", "RandomContrast", "RandomCrop",
        "RandomElasticTransform", "RandomErasing", "RandomFlip", "RandomGaussianBlur", "RandomGrayscale",
        "RandomHue", "RandomInvert", "RandomPerspective", "RandomPosterization", "RandomRotation",
        "RandomSaturation", "RandomSharpness", "RandomShear", "RandomTranslation", "RandomZoom", "ReLU",
        "RepeatVector", "Rescaling", "Reshape", "Resizing", "ReversibleEmbedding", "STFTSpectrogram",
        "SeparableConv1D", "SeparableConv2D", "SeparableConvolution1D", "SeparableConvolution2D", "SimpleRNN",
        "SimpleRNNCell", "Softmax", "Solarization", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D",
        "SpectralNormalization", "StackedRNNCells", "Subtract", "TimeDistributed", "UnitNormalization",
        "UpSampling1D", "UpSampling2D", "UpSampling3D", "Wrapper", "ZeroPadding1D", "ZeroPadding2D", "ZeroPadding3D"
    }
)  # fmt: skip
"""Every layer class in Keras 3.15's ``keras.layers`` (aliases such as ``AvgPool2D`` included), less the denied ones."""

DENIED_LAYER_CLASSES = frozenset(
    {
        "Lambda",  # its function, as bytecode or a name Keras imports
        "TFSMLayer",  # loads a TensorFlow SavedModel (graphs, files) from a path in its config
        "TorchModuleWrapper",  # a pickled torch module
        "JaxLayer", "FlaxLayer",  # call functions and modules named in the config
        "StringLookup", "IntegerLookup",  # vocabulary= may be a file path, read when the layer is made
        "TextVectorization",  # vocabulary= a file path too, and standardize= / split= functions
    }
)  # fmt: skip
"""Built-ins that run code, or touch files or the network, when Keras loads them: refused as unsafe."""

NUMPY_OPS = frozenset(
    {
        "Abs", "Absolute", "Add", "All", "AllClose", "Amax", "Amin", "Angle", "Any", "Append", "Arange",
        "Arccos", "Arccosh", "Arcsin", "Arcsinh", "Arctan", "Arctan2", "Arctanh", "Argmax", "Argmin",
        "Argpartition", "Argsort", "Array", "ArraySplit", "Average", "Bincount", "BitwiseAnd", "BitwiseInvert",
        "BitwiseLeftShift", "BitwiseNot", "BitwiseOr", "BitwiseRightShift", "BitwiseXor", "BroadcastTo", "Cbrt",
        "Ceil", "Clip", "Concatenate", "Conj", "Conjugate", "Copy", "Corrcoef", "Correlate", "Cos", "Cosh",
        "CountNonzero", "Cross", "Cumprod", "Cumsum", "Deg2rad", "Diag", "Diagflat", "Diagonal", "Diff",
        "Digitize", "Divide", "DivideNoNan", "Dot", "Dsplit", "Dstack", "Einsum", "EmptyLike", "Equal", "Exp",
        "Exp2", "ExpandDims", "Expm1", "Fabs", "Flip", "Fliplr", "Flipud", "Floor", "FloorDivide", "Fmax",
        "Fmin", "Fmod", "Full", "FullLike", "Gcd", "Geomspace", "GetItem", "Greater", "GreaterEqual",
        "Heaviside", "Histogram", "Hsplit", "Hstack", "Hypot", "I0", "Imag", "Inner", "IsIn", "Isclose",
        "Isfinite", "Isinf", "Isnan", "Isneginf", "Isposinf", "Isreal", "Kron", "Lcm", "Ldexp", "LeftShift",
        "Less", "LessEqual", "Linspace", "Log", "Log10", "Log1p", "Log2", "Logaddexp", "Logaddexp2",
        "LogicalAnd", "LogicalNot", "LogicalOr", "LogicalXor", "Logspace", "Matmul", "Max", "Maximum", "Mean",
        "Median", "Meshgrid", "Min", "Minimum", "Mod", "Moveaxis", "Multiply", "NanToNum", "Nanargmax",
        "Nanargmin", "Nancumprod", "Nancumsum", "Nanmax", "Nanmean", "Nanmedian", "Nanmin", "Nanpercentile",
        "Nanprod", "Nanquantile", "Nanstd", "Nansum", "Nanvar", "Ndim", "Negative", "Nextafter", "Nonzero",
        "NotEqual", "OnesLike", "Outer", "Pad", "Percentile", "Power", "Prod", "Ptp", "Quantile", "Rad2deg",
        "Ravel", "Real", "Reciprocal", "Repeat", "Reshape", "RightShift", "Roll", "Rot90", "Round",
        "SearchSorted", "Select", "Sign", "Signbit", "Sin", "Sinc", "Sinh", "Size", "Slogdet", "Sort", "Split",
        "Sqrt", "Square", "Squeeze", "Stack", "Std", "Subtract", "Sum", "Swapaxes", "Take", "TakeAlongAxis",
        "Tan", "Tanh", "Tensordot", "Tile", "Trace", "Transpose", "Trapezoid", "Tril", "Triu", "TrueDivide",
        "Trunc", "Unique", "UnravelIndex", "Vander", "Var", "Vdot", "View", "Vsplit", "Vstack", "Where",
        "ZerosLike"
    }
)  # fmt: skip
NN_OPS = frozenset(
    {
        "AdaptiveAveragePool", "AdaptiveMaxPool", "AveragePool", "BatchNorm", "BinaryCrossentropy", "CTCDecode",
        "CTCLoss", "CategoricalCrossentropy", "Celu", "Conv", "ConvTranspose", "DepthToSpace", "DepthwiseConv",
        "DotProductAttention", "Elu", "Fold", "Gelu", "Glu", "HardShrink", "HardSigmoid", "HardSilu",
        "HardTanh", "LayerNorm", "LeakyRelu", "LogSigmoid", "LogSoftmax", "MaxPool", "Moments", "MultiHot",
        "Normalize", "OneHot", "PSNR", "Polar", "RMSNorm", "Relu", "Relu6", "Selu", "SeparableConv", "Sigmoid",
        "Silu", "SoftShrink", "Softmax", "Softplus", "Softsign", "SpaceToDepth",
        "SparseCategoricalCrossentropy", "SparsePlus", "SparseSigmoid", "Sparsemax", "Squareplus", "TanhShrink",
        "Threshold", "Unfold"
    }
)  # fmt: skip
CORE_OPS = frozenset(
    {
        "Cast", "ConvertToTensor", "SaturateCast", "Scatter", "ScatterUpdate", "Slice", "SliceUpdate",
        "StopGradient", "Unstack"
    }
)  # fmt: skip
MATH_OPS = frozenset(
    {
        "CDist", "Erf", "Erfc", "Erfinv", "ExtractSequences", "FFT", "FFT2", "IFFT2", "IRFFT", "ISTFT",
        "InTopK", "Logdet", "Logsumexp", "RFFT", "Rsqrt", "STFT", "SegmentMax", "SegmentMin", "SegmentProd",
        "SegmentReduction", "SegmentSum", "TopK", "ViewAsComplex", "ViewAsReal"
    }
)  # fmt: skip
IMAGE_OPS = frozenset(
    {
        "AffineTransform", "CropImages", "ElasticTransform", "ExtractPatches", "GaussianBlur", "HSVToRGB",
        "MapCoordinates", "PadImages", "PerspectiveTransform", "RGBToGrayscale", "RGBToHSV", "Resize", "SSIM",
        "ScaleAndTranslate", "SobelEdges"
    }
)  # fmt: skip
LINALG_OPS = frozenset(
    {
        "Cholesky", "CholeskyInverse", "Det", "Eig", "Eigh", "Inv", "Lstsq", "LuFactor", "MatrixRank", "Norm",
        "Pinv", "Qr", "SVD", "Solve", "SolveTriangular"
    }
)  # fmt: skip
OP_CLASSES = {
    "keras.src.ops.numpy": NUMPY_OPS,
    "keras.src.ops.nn": NN_OPS,
    "keras.src.ops.core": CORE_OPS,
    "keras.src.ops.math": MATH_OPS,
    "keras.src.ops.image": IMAGE_OPS,
    "keras.src.ops.linalg": LINALG_OPS,
}
"""Every op class of Keras 3.15 by module, less :data:`DENIED_OP_CLASSES`: a Functional config records ``keras.ops.add(x,
y)`` on Keras tensors as an ``Add`` op of module ``keras.src.ops.numpy`` (a different object from the ``Add`` layer)."""

DENIED_OP_CLASSES = frozenset(
    {"AssociativeScan", "Cond", "ForiLoop", "Map", "Scan", "Switch", "VectorizedMap", "WhileLoop", "JVP"}
)  # fmt: skip
"""Ops that call a function they are given (control flow, maps, JVP): refused as unsafe."""

DATA_CLASSES = frozenset(
    {
        # dtype policies
        "AWQDTypePolicy", "DTypePolicy", "DTypePolicyMap", "FloatDTypePolicy", "GPTQDTypePolicy", "Int4DTypePolicy",
        "QuantizedDTypePolicy", "QuantizedFloat8DTypePolicy",
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
"""Objects a layer or a compiled model's config holds as data (each a class of Keras 3.15's public API)."""

KERAS2_CLASSES = frozenset({"Policy"})
"""Names only Keras 2 / tf.keras files hold: the mixed-precision ``Policy`` of a layer's dtype."""

ALLOWED_CLASSES = MODEL_CLASSES | {KERAS_TENSOR} | LAYER_CLASSES | DATA_CLASSES | KERAS2_CLASSES
"""What an object outside the op modules may be."""

ALLOWED_MODULES = frozenset(
    {
        "keras", "keras.layers", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.models",
        "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model",
        "keras.optimizers", "keras.optimizers.schedules", "keras.losses", "keras.metrics", "keras.dtype_policies",
        # tf.keras / tf-keras (Keras 2) name a nested model's module after their engine
        "tf_keras.src.engine.functional", "keras.src.engine.functional", "keras.engine.functional",
    }
)  # fmt: skip
# Keras' torch backend saves its optimizers under their backend subclass' module (torch_adam, torch_sgd, ...).
BACKEND_OPTIMIZER_MODULE = re.compile(r"keras\.src\.backend\.(tensorflow|jax|torch|numpy|openvino)\.optimizers(\.[a-z0-9_]+)?")
CODE_CLASSES = frozenset({"Lambda", "function", "TFOpLambda", "SlicingOpLambda"})
"""Objects that are Python code: a Lambda's function, a function given as an activation or loss, Keras 2's op layers
(which call the TensorFlow function they name)."""


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


def is_op(node: Any) -> bool:
    """Whether a config object is a Keras 3 op (module ``keras.src.ops.*``) rather than a layer of the same name."""
    return isinstance(node, dict) and node.get("module") in OP_CLASSES


def _check_object(node: dict[str, Any], path: str, where: str) -> None:
    class_name = node.get("class_name")
    layer = _layer_name(node)
    if class_name in CODE_CLASSES:
        raise UnsafeFileError(
            f"{where}: layer {layer!r} at {path} is a {class_name}: it carries Python code, and lstm2d never runs "
            "code from a file; rewrite it as supported layers"
        )
    if class_name in DENIED_LAYER_CLASSES or (is_op(node) and class_name in DENIED_OP_CLASSES):
        raise UnsafeFileError(
            f"{where}: layer {layer!r} at {path} is a {class_name}, a Keras built-in that runs code or reads files when "
            "Keras loads it; lstm2d refuses it"
        )
    if is_op(node):
        if class_name not in OP_CLASSES[node["module"]]:
            raise UnsafeFileError(f"{where}: object {class_name!r} at {path} is not an op of {node['module']}")
    elif "class_name" in node and class_name not in ALLOWED_CLASSES:
        raise UnsafeFileError(
            f"{where}: object {class_name!r} (layer {layer!r}, at {path}) is not a Keras built-in; "
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
    return (
        module in ALLOWED_MODULES
        or module in OP_CLASSES
        or (isinstance(module, str) and BACKEND_OPTIMIZER_MODULE.fullmatch(module) is not None)
    )


def _layer_name(node: dict[str, Any]) -> str | None:
    config = node.get("config")
    return config.get("name") if isinstance(config, dict) else node.get("name")
