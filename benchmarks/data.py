"""The one batch every engine trains and infers on: seeded numpy, so each process makes the same arrays."""

from __future__ import annotations

import numpy as np

from lstm2d.parity import input_dict, random_cotangents, random_inputs
from lstm2d.spec import ModelSpec

SEED = 0


def make_batch(spec: ModelSpec, batch: int) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """Every input by name in the Keras model's layout, and a regression target shaped like each output (in order).

    From one generator seeded with :data:`SEED`: standard-normal float32 inputs, right-padding masks of random lengths
    for mask inputs, standard-normal targets (``lstm2d.parity``'s seeded inputs). ``spec``'s time axes must be fixed
    (:meth:`~benchmarks.cases.Case.spec` fills open ones). Torch engines move frames to their channels-first layout
    once, before timing.
    """
    rng = np.random.default_rng(SEED)
    inputs = input_dict(spec, random_inputs(spec, rng, batch=batch))
    return inputs, random_cotangents(spec, rng, batch=batch)
