"""The training part of ``lstm2d demo``: seed-flat and seed-cnn on sensor-grid, against the trivial baseline.

Each model trains in its own ``lstm2d train`` process, the two side by side with one thread each (on a
small shared CPU, two single-threaded processes beat two threads fighting over one process's work; the
numbers are the same either way). Imports no torch: it reads what the runs write.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lstm2d.demo_report import markdown_table

PRESETS = ("seed-flat", "seed-cnn")
# 4,000 sequences of 16 frames of the article's 10x10 grid (800 for validation), 8 epochs.
TRAIN_ARGS = (
    "--data", "sensor-grid", "--timesteps", "16", "--samples", "4000", "--epochs", "8",
    "--batch-size", "64", "--lr", "3e-3", "--device", "cpu", "--seed", "0",
)  # fmt: skip


@dataclass(frozen=True)
class TrainingDemo:
    """``ok``: both models beat the baseline and the CNN-LSTM beats the flatten-LSTM; ``markdown``: the report section."""

    ok: bool
    markdown: str


def run_training_demo(folder: Path, *, echo: Callable[[str], None] = print) -> TrainingDemo:
    """Train both presets into ``folder/<preset>`` (replacing earlier demo runs there) and compare them."""
    echo("\ntraining seed-flat and seed-cnn on sensor-grid (the peak reading 3 steps ahead), side by side ...")
    started = time.perf_counter()
    commands = {preset: ["lstm2d", "train", "--preset", preset, *TRAIN_ARGS, "--out", str(folder / preset)] for preset in PRESETS}
    runs = {}
    for preset, command in commands.items():
        shutil.rmtree(folder / preset, ignore_errors=True)
        runs[preset] = subprocess.Popen(
            [sys.executable, "-m", "lstm2d", *command[1:]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    summaries, failures = {}, []
    for preset, run in runs.items():
        stdout, stderr = run.communicate()
        summary = folder / preset / "summary.json"
        if run.returncode != 0 or not summary.is_file():
            failures.append(f"{preset}: lstm2d train failed: {(stderr.strip().splitlines() or stdout.splitlines() or ['?'])[-1]}")
            continue
        summaries[preset] = json.loads(summary.read_text(encoding="utf-8"))
    echo(f"  {time.perf_counter() - started:.0f} s\n")
    for failure in failures:
        echo("  " + failure)
    if failures:
        return TrainingDemo(False, "## Training\n\n" + "\n".join(failures))

    rows = [("model", "val MSE", "baseline MSE", "vs baseline", "val MAE", "baseline MAE", "epochs", "training time")]
    for preset, summary in summaries.items():
        final, baseline = summary["final"], summary["baseline"]
        rows.append(
            (
                preset,
                f"{final['val_mse']:.5f}",
                f"{baseline['loss']:.5f}",
                f"{baseline['loss'] / final['val_mse']:.1f}x lower",
                f"{final['val_mae']:.4f}",
                f"{baseline['metric']:.4f}",
                str(summary["epochs"]),
                f"{summary['train_s']:.0f} s",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        echo("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    flat, cnn = (summaries[p]["final"]["val_mse"] for p in PRESETS)
    beats = all(s["final"]["val_mse"] < s["baseline"]["loss"] for s in summaries.values())
    ok = beats and cnn < flat
    verdict = (
        f"both beat the trivial baseline; the CNN-LSTM's error is {flat / cnn:.1f}x lower than the flatten-LSTM's"
        if ok
        else "NOT AS EXPECTED: "
        + ("a model did not beat the baseline" if not beats else "the CNN-LSTM did not beat the flatten-LSTM")
    )
    reproduce = "\n".join(shlex.join(command) for command in commands.values())
    echo(f"\n{verdict}\nvalidation MSE of the peak forecast; baseline: predict the training mean. Reproduce:\n{reproduce}")
    data = summaries["seed-cnn"]["data"]
    markdown = "\n\n".join(
        [
            "## Training on sensor-grid",
            f"Data: {data} (the highest concentration of gas 0 the grid will read 3 steps after the last frame).",
            markdown_table(rows),
            f"Result: {verdict}.",
            "```bash\n" + reproduce + "\n```",
            *(f"![{preset}]({preset}/loss.png)" for preset in PRESETS),
        ]
    )
    return TrainingDemo(ok, markdown)
