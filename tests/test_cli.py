"""The command line: help, presets, spec, usage errors, and the demo end to end."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import zipfile

import pytest

from lstm2d.cli import EXIT_OK, EXIT_OVER_TOLERANCE, EXIT_UNSUPPORTED, EXIT_USAGE, main
from lstm2d.presets import get_preset, preset_names
from lstm2d.spec import ModelSpec

COMMANDS = ("verify", "demo", "convert", "inspect", "export", "bench", "presets", "spec", "train")
"""Every command; each is run end to end in a test: verify (here, parity_tests/test_cli_verify.py), demo (here),
convert and inspect (here, tests/test_files.py), export (tests/test_export.py, parity_tests/test_cli_export.py), bench
(tests/test_bench.py), presets and spec (here), train (tests/test_train_cli.py)."""


def test_help_lists_every_command_with_a_description_and_the_exit_codes():
    done = subprocess.run([sys.executable, "-m", "lstm2d", "--help"], capture_output=True, text=True, check=True)
    listed = re.findall(r"^ {4}(\S+)", done.stdout, flags=re.MULTILINE)  # argparse indents each command by 4
    assert sorted(listed) == sorted(COMMANDS), listed
    for command in COMMANDS:
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(command))
        assert len(line.split()) > 2, f"{command} has no description: {line!r}"
    text = " ".join(done.stdout.split())
    for code, meaning in (
        (EXIT_OK, "success"),
        (EXIT_OVER_TOLERANCE, "a parity error over tolerance"),
        (EXIT_USAGE, "bad usage"),
        (EXIT_UNSUPPORTED, "the model holds layers or settings lstm2d does not convert"),
        (130, "training interrupted"),
    ):
        assert f"{code} {meaning}" in text, (code, text)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_its_own_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: lstm2d {command}" in capsys.readouterr().out


def test_demo_help_says_everything_it_does(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for part in ("verify", "trains seed-flat and seed-cnn", "bench --quick", "report.md"):
        assert part in text, part


def test_inspect_exit_codes_tell_supported_unsupported_and_unreadable_apart(tmp_path, capsys):
    torch_impl = pytest.importorskip("torch_impl")
    model = torch_impl.build_model(get_preset("seed-flat"))
    torch_impl.to_keras(model, tmp_path / "ok.keras")
    assert main(["inspect", str(tmp_path / "ok.keras")]) == EXIT_OK
    torch_impl.save_safetensors(model, tmp_path / "ok.safetensors")
    assert main(["inspect", str(tmp_path / "ok.safetensors")]) == EXIT_OK
    assert "total parameters" in capsys.readouterr().out
    with zipfile.ZipFile(tmp_path / "ok.keras") as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    config["config"]["layers"][2]["config"]["return_state"] = True  # valid Keras, not converted by lstm2d
    with zipfile.ZipFile(tmp_path / "unsupported.keras", "w") as archive:
        for name, data in {**members, "config.json": json.dumps(config).encode()}.items():
            archive.writestr(name, data)
    assert main(["inspect", str(tmp_path / "unsupported.keras")]) == EXIT_UNSUPPORTED
    assert "NOT SUPPORTED" in capsys.readouterr().out
    (tmp_path / "junk.keras").write_bytes(b"junk")
    assert main(["inspect", str(tmp_path / "junk.keras")]) == EXIT_USAGE
    assert "neither a zip archive nor HDF5" in capsys.readouterr().err


def test_presets_lists_all(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in preset_names():
        assert name in out
    assert "Conv2D(32, 3x3, relu) -> MaxPool(2x2) -> Flatten -> LSTM(64) -> Dense(1)" in out


@pytest.mark.parametrize("name", preset_names())
def test_spec_prints_the_preset_as_json(capsys, name):
    assert main(["spec", name]) == 0
    assert ModelSpec.from_json(capsys.readouterr().out) == get_preset(name)


def test_verify_without_models_is_a_usage_error(capsys):
    assert main(["verify"]) == EXIT_USAGE
    assert "give FILE, --preset NAME or --spec FILE" in capsys.readouterr().err


def test_verify_with_a_broken_spec_file_names_the_problem(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {"input": {"timesteps": 5, "height": 4, "width": 4}, "layers": [{"kind": "conv2d", "filters": 2, "kernel_size": 5}]}
        )
    )
    assert main(["verify", "--spec", str(bad)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "conv2d_1 shrinks the frame below 1x1" in err
    assert "(4, 4, 1)" in err


def test_verify_with_a_missing_spec_file(tmp_path, capsys):
    assert main(["verify", "--spec", str(tmp_path / "nope.json")]) == EXIT_USAGE
    assert "cannot read spec file" in capsys.readouterr().err


def test_unknown_preset_is_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as info:
        main(["verify", "--preset", "seed-nope"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.deep  # about 100 s on 2 cores, a seventh of make test's budget: make test-deep runs it, make demo is it
def test_demo_end_to_end(tmp_path):
    pytest.importorskip("keras")
    done = subprocess.run([sys.executable, "-m", "lstm2d", "demo"], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for preset in ("seed-flat", "seed-cnn", "seed-cnn-rgb"):
        rows = [line for line in done.stdout.splitlines() if line.strip().startswith(preset + " ")]
        assert len(rows) == 2 + (preset != "seed-cnn-rgb"), done.stdout  # two parity rows, and a training row
        assert all(row.count(" ok") == 3 for row in rows[:2]), done.stdout
    assert "both beat the trivial baseline; the CNN-LSTM's error is" in done.stdout
    assert "result: every check within tolerance; training as expected" in done.stdout
    report = tmp_path / "lstm2d-report" / "report.md"
    assert f"report: {report}" in done.stdout
    text = report.read_text()
    for heading in ("## Parity, Keras vs PyTorch", "## Training on sensor-grid", "## Benchmarks"):
        assert heading in text
    for engine in ("torch | fp32", "keras-tensorflow-graph | fp32"):  # bench --quick measured both sides
        row = next(line for line in text.splitlines() if line.startswith(f"| seed-cnn | train | 64 | 100 | {engine} |"))
        assert float(row.split("|")[7].replace(",", "")) > 0, row
    for preset in ("seed-flat", "seed-cnn"):
        assert f"![{preset}]({preset}/loss.png)" in text
        assert (report.parent / preset / "loss.png").read_bytes()[:4] == b"\x89PNG"
