"""Throughput and peak memory of the torch models against Keras on each backend (``lstm2d bench``).

``run_quick()`` is the demo's entry point: about a minute, returns the table as markdown text.
The modules: ``cases`` (what is measured), ``worker`` (one case per process), ``torch_runner`` /
``keras_runner`` (the two sides), ``measure`` / ``timing`` / ``memory`` (how), ``flops`` and
``peak`` (the reference points), ``suite`` (a whole run), ``report`` (table, targets, plot).
"""

from __future__ import annotations

from collections.abc import Callable


def run_quick(progress: Callable[[str], None] = lambda line: None) -> str:
    """``lstm2d bench --quick``: about a minute on two cores; returns the table as markdown text."""
    from benchmarks.suite import run_quick as run  # not at import: `python -m benchmarks.worker` imports this package

    return run(progress)


__all__ = ["run_quick"]
