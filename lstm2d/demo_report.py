"""The folder ``lstm2d demo`` leaves behind: ``report.md`` with its tables, linking the training runs' plots."""

from __future__ import annotations

import platform
import time
from collections.abc import Sequence
from pathlib import Path

REPORT_DIR = Path("lstm2d-report")


def markdown_table(rows: Sequence[Sequence[str]]) -> str:
    """``rows[0]`` is the header."""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def write_report(folder: Path, sections: Sequence[str]) -> Path:
    """``folder/report.md``: a title, when and where it was made, then ``sections`` (markdown, each with its heading)."""
    folder.mkdir(parents=True, exist_ok=True)
    made = (
        f"Made {time.strftime('%Y-%m-%d %H:%M')} on {platform.machine()} {platform.system()}, Python {platform.python_version()}."
    )
    path = folder / "report.md"
    path.write_text("\n\n".join(["# lstm2d demo", made, *sections]) + "\n", encoding="utf-8")
    return path
