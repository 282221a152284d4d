"""Parametrizations the parity tests share."""

from __future__ import annotations

import pytest

from lstm2d.parity import DIRECTIONS

DIRECTION_PARAMS = [
    pytest.param(direction, marks=[pytest.mark.backend_neutral] if direction == "torch_to_keras" else [])
    for direction in DIRECTIONS
]
"""Both directions of weight copy. The copy is numpy on lstm2d's side, the same under every Keras backend, and
``keras_to_torch`` already runs the backend's forward pass on the same spec: ``make test`` runs ``torch_to_keras`` with
Keras on TensorFlow only (``backend_neutral``), ``make test-deep`` on every backend."""
