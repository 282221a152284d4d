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


@pytest.fixture
def single_torch_thread():
    """Run torch (lstm2d's side, and Keras' torch backend) on one intra-op thread for the test, then restore.

    The trajectory and gradient models are tiny: per op, two threads' synchronisation costs more than the
    work. On a busy 2-core machine a 50-step torch training run took 6-10 s on two threads and 0.3 s on one.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def ignored_flatten_order(monkeypatch):
    """Negative control: convert weights as if Keras flattened frames in torch's (C, H, W) order (no row permutation)."""
    import numpy as np

    from torch_impl.convert import layout
    from torch_impl.model import plan_of

    monkeypatch.setattr(layout, "hwc_index_of_chw", lambda h, w, c: np.arange(h * w * c))
    plan_of.cache_clear()  # plans made before hold the real permutation
    yield
    plan_of.cache_clear()
