"""Every test here needs Keras; `make test` runs them once per Keras backend, each in its own process."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("keras", reason="the parity tests need the Keras side: pip install 'lstm2d[keras]'")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.keras)


def pytest_report_header() -> str:
    import keras

    return f"keras {keras.__version__}, backend {keras.backend.backend()}"
