"""Errors raised while reading model files. All are ``ValueError``s with a message that names the problem."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model file that lstm2d cannot read: corrupt, inconsistent, or not what its name says."""


class UnsafeFileError(ModelFileError):
    """A file refused for safety: it asks for code, links outside itself, or would exhaust memory."""


class UnsupportedModelError(ModelFileError):
    """A well-formed Keras model with layers or settings lstm2d does not (yet) implement."""
