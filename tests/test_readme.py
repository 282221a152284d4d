"""README's "Use it" examples run as written, and its first lines show the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_first_lines_give_the_two_commands():
    head = README.read_text(encoding="utf-8").splitlines()[:10]
    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_use_it_examples_run():
    pytest.importorskip("keras")
    blocks = re.findall(r"```python\n(.*?)```", _section("Use it"), flags=re.S)
    assert len(blocks) == 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    assert tuple(namespace["y"].shape) == (32, 1)
    assert namespace["spec"].output_shape() == (3,)
