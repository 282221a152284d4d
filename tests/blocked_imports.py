"""Run Python in a subprocess where importing some packages fails, to prove a code path never needs them."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCK_IMPORTS = textwrap.dedent(
    """
    import sys

    class Blocker:
        def __init__(self, blocked):
            self.blocked = blocked

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Blocker(set(sys.argv[1].split(","))))
    """
)


def run_with_blocked(blocked: str, body: str, *args: str) -> subprocess.CompletedProcess:
    code = BLOCK_IMPORTS + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code, blocked, *args], capture_output=True, text=True, timeout=300)
