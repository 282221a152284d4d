"""Model files: Keras (.keras, .weights.h5, legacy .h5) in and out, and lstm2d's own safetensors.

Reading needs only numpy, h5py and safetensors; nothing in a file is ever executed.
"""

from torch_impl.files.errors import ModelFileError, UnsafeFileError, UnsupportedModelError
from torch_impl.files.limits import DEFAULT_LIMITS, ReadLimits
from torch_impl.files.reader import KerasModelFile, describe_keras_file, from_keras, read_keras_file, resolve_spec
from torch_impl.files.safetensors_io import load_safetensors, save_safetensors
from torch_impl.files.writer import to_keras, write_keras_archive

__all__ = [
    "DEFAULT_LIMITS",
    "KerasModelFile",
    "ModelFileError",
    "ReadLimits",
    "UnsafeFileError",
    "UnsupportedModelError",
    "describe_keras_file",
    "from_keras",
    "load_safetensors",
    "read_keras_file",
    "resolve_spec",
    "save_safetensors",
    "to_keras",
    "write_keras_archive",
]
