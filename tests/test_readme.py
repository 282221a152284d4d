"""README's "Use it" examples run as written, and its first lines show the two commands."""

from __future__ import annotations

import re
import zipfile
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
    assert len(blocks) == 4
    namespace: dict = {}
    for block in blocks[:3]:
        exec(compile(block, str(README), "exec"), namespace)
    assert tuple(namespace["y"].shape) == (32, 1)
    assert namespace["spec"].output_shape() == (3,)
    exec(compile(blocks[3], str(README), "exec"), namespace)  # the graph
    assert tuple(namespace["now"].shape) == (2, 7, 1) and tuple(namespace["kind"].shape) == (2, 7, 4)


def test_model_files_example_runs(tmp_path, monkeypatch):
    """The "Model files" example, on files lstm2d writes itself (no Keras needed; legacy .h5: tests/test_files.py)."""
    import torch

    import torch_impl
    from lstm2d import get_preset

    monkeypatch.chdir(tmp_path)
    spec = get_preset("seed-cnn")
    source = torch_impl.build_model(spec)
    torch_impl.to_keras(source, "model.keras")
    with zipfile.ZipFile("model.keras") as archive:  # a .weights.h5 is the archive's weights member
        (tmp_path / "model.weights.h5").write_bytes(archive.read("model.weights.h5"))
    code = re.findall(r"```python\n(.*?)```", _section("Model files"), flags=re.S)[0]
    code = "\n".join(line for line in code.splitlines() if '"model.h5"' not in line)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    back = torch_impl.from_keras("back.keras")
    assert back.spec == spec
    for key, value in source.state_dict().items():
        if "bias_hh" in key:  # torch -> Keras merges the two LSTM biases: bias_ih + bias_hh
            ih = key.replace("bias_hh", "bias_ih")
            assert torch.equal(back.state_dict()[ih], source.state_dict()[ih] + value), key
        elif "bias_ih" not in key:
            assert torch.equal(back.state_dict()[key], value), key


def test_training_example_runs():
    """The KerasAdam example under "Gradients and training parity" takes one training step."""
    import torch

    code = re.findall(r"```python\n(.*?)```", _section("Gradients and training parity"), flags=re.S)
    assert len(code) == 1
    namespace: dict = {}
    exec(compile(code[0], str(README), "exec"), namespace)
    model = namespace["model"]
    assert not model.layers["lstm_1"].bias_hh_l0.requires_grad  # frozen: Keras has no such bias
    assert namespace["optimizer"].param_groups[0]["step"] == 1
    assert torch.isfinite(namespace["loss"])


def test_deploy_example_runs(tmp_path, monkeypatch):
    """The "Deploy" example: an ONNX file run by ONNX Runtime and a .pt2 program, both as the torch model computes."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import numpy as np
    import torch

    monkeypatch.chdir(tmp_path)
    (code,) = re.findall(r"```python\n(.*?)```", _section("Deploy"), flags=re.S)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    with torch.no_grad():
        expected = namespace["model"](torch.from_numpy(namespace["frames"]).movedim(-1, -3)).numpy()
    assert namespace["y"].shape == expected.shape == (8, 1)
    np.testing.assert_allclose(namespace["y"], expected, rtol=0, atol=1e-5)
    np.testing.assert_allclose(namespace["y_pt2"].detach().numpy(), expected, rtol=0, atol=1e-5)
