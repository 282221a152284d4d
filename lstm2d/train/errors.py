"""Errors of ``lstm2d train``: a request that cannot run, printed by the command line as one line."""

from __future__ import annotations


class TrainError(ValueError):
    """A training request that cannot run; the message says what was expected and what was found."""


class DataError(TrainError):
    """Training data that cannot be used (a bad ``.npz``, a frame too small for the source, ...)."""


class CheckpointError(TrainError):
    """A checkpoint that is missing, unreadable, or belongs to a different run."""
