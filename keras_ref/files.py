"""Opening a Keras model file with Keras itself, for comparison against lstm2d's reading of it."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

import keras


class KerasLoadError(RuntimeError):
    """Keras (3, or tf-keras for legacy files) could not open a file lstm2d reads."""


def load_vetted_model(path: str | os.PathLike[str]) -> Any:
    """The model in ``path``, opened by Keras, for a file lstm2d's reader has already vetted.

    Keras' loader imports and calls what a config names, and its safe mode has been bypassed
    before (CVE-2024-3660, CVE-2025-1550, CVE-2025-8747, CVE-2025-9905/9906): callers first pass the
    file through ``torch_impl.files.read_keras_file``, which refuses anything outside its allowlist.
    Keras 3 cannot open every legacy Keras 2 ``.h5`` (it rejects Keras 2 arguments such as
    ``time_major``); those are opened with tf-keras when it is installed.
    """
    path = os.fspath(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types here; the message is what the user needs
        keras3_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    if path.endswith(".h5") and importlib.util.find_spec("tf_keras") is not None:
        import tf_keras

        try:
            return tf_keras.models.load_model(path, compile=False)
        except Exception as exc:
            raise KerasLoadError(
                f"neither Keras {keras.__version__} ({keras3_error}) nor tf-keras ({exc}) can open {path}"
            ) from None
    hint = "; for a legacy .h5, install tf-keras (pip install --no-deps tf-keras) to compare" if path.endswith(".h5") else ""
    raise KerasLoadError(f"Keras {keras.__version__} cannot open {path} ({keras3_error}){hint}")
