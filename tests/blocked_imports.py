"""Run Python in a subprocess where some packages look uninstalled, to prove a code path never needs them.

A ``None`` entry in ``sys.modules`` is Python's own way to say "this module cannot be imported":
``import`` raises ``ModuleNotFoundError`` and ``importlib.util.find_spec`` returns ``None``, exactly
as on a machine without the package. (A finder that raises from ``find_spec`` is stricter than a
missing package: torch's compiler stack probes for optional packages with ``find_spec`` when
``torch.optim`` or a ``torch.library`` op first runs, and would fail on the probe.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_IMPORTS = textwrap.dedent(
    """
    import sys

    for blocked in sys.argv[1].split(","):
        sys.modules[blocked] = None

    def imported(names):  # which of names were really imported (blocked ones sit in sys.modules as None)
        return {name for name in names if sys.modules.get(name) is not None}
    """
)


def run_with_blocked(blocked: str, body: str, *args: str) -> subprocess.CompletedProcess:
    code = BLOCK_IMPORTS + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code, blocked, *args], capture_output=True, text=True, timeout=300)
