"""lstm2d: native PyTorch models for sequences of 2D grids, with parity against Keras.

This package holds the framework-neutral model description (``lstm2d.spec``: every layer kind, ``InputSpec``,
``Node``, ``ModelSpec``, re-exported here) and the command line; ``torch_impl`` and ``keras_ref`` build models
from the description.
"""

from lstm2d import spec
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import *  # noqa: F403 - the description's public names

__version__ = "0.1.0"

__all__ = ["__version__", "get_preset", "preset_names"]
__all__ += spec.__all__
