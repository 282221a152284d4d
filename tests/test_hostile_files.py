"""Crafted files that must be refused with a specific error, before anything in them could run.

Every case starts from a valid file (written by lstm2d, or a legacy-format .h5 built with h5py)
and breaks one thing. Each must raise a ModelFileError subclass whose message names the problem:
no crash, no hang, no large allocation, no partial model.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import tracemalloc
import types
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

import torch_impl
from lstm2d.presets import get_preset
from lstm2d.spec import LSTM, MAX_DEPTH, Add, Concatenate, Conv2D, Dense, Flatten, InputSpec, Masking, ModelSpec, Node, Submodel
from torch_impl.files import ModelFileError, ReadLimits, UnsafeFileError, UnsupportedModelError, from_keras
from torch_impl.files.writer import keras_config

SPEC = ModelSpec(InputSpec.frames(4, 6, 6, 1), layers=(Conv2D(2, 3, activation="relu"), Flatten(), LSTM(3), Dense(1)))
GRAPH = ModelSpec(
    inputs=(InputSpec.sequence(4, 3, name="a"), InputSpec.sequence(4, 3, name="b")),
    nodes=(
        Node(Dense(5, name="pa"), ("a",)),
        Node(Dense(5, name="pb"), ("b",)),
        Node(Add(name="sum"), ("pa", "pb")),
        Node(LSTM(3, name="lstm"), ("sum",)),
        Node(Dense(1, name="out"), ("lstm",)),
    ),
    outputs=("out",),
)


def _members(spec: ModelSpec = SPEC) -> dict[str, bytes]:
    """The members of a valid .keras file for ``spec``."""
    buffer = io.BytesIO()
    torch_impl.to_keras(torch_impl.build_model(spec), buffer)
    with zipfile.ZipFile(buffer) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _with_config(path: Path, edit: Callable[[dict], None], spec: ModelSpec = SPEC) -> Path:
    members = _members(spec)
    config = json.loads(members["config.json"])
    edit(config)
    members["config.json"] = json.dumps(config).encode()
    return _zip(path, members)


def _with_weights(path: Path, edit: Callable[[h5py.File], None]) -> Path:
    members = _members()
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    members["model.weights.h5"] = buffer.getvalue()
    return _zip(path, members)


def _layers(config: dict) -> list:
    return config["config"]["layers"]


def _lambda_layer(marker: Path) -> dict:
    """A Keras 3 Lambda config whose function, if anything ran it, would write ``marker``."""

    def payload(x):
        open(marker, "w").write("pwned")  # noqa: SIM115
        return x

    code = base64.b64encode(marshal.dumps(payload.__code__)).decode()
    return {
        "module": "keras.layers",
        "class_name": "Lambda",
        "config": {
            "name": "evil",
            "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        },
        "registered_name": None,
    }


def _insert(config: dict, layer: dict, index: int = 2) -> None:
    _layers(config).insert(index, layer)


# -- config: code, custom objects, foreign modules ---------------------------------------------

CONFIG_CASES: dict[str, tuple[Callable[[dict, Path], None], type, str]] = {
    "lambda-top-level": (
        lambda c, m: _insert(c, _lambda_layer(m)),
        UnsafeFileError,
        r"'evil' .* is a Lambda: it carries Python code",
    ),
    "lambda-in-time-distributed": (
        lambda c, m: _insert(
            c, {"module": "keras.layers", "class_name": "TimeDistributed", "config": {"name": "td", "layer": _lambda_layer(m)}}
        ),
        UnsafeFileError,
        r"is a Lambda",
    ),
    "lambda-in-nested-sequential": (
        lambda c, m: _insert(
            c, {"module": "keras", "class_name": "Sequential", "config": {"name": "inner", "layers": [_lambda_layer(m)]}}
        ),
        UnsafeFileError,
        r"is a Lambda",
    ),
    "lambda-in-bidirectional": (
        lambda c, m: _insert(
            c, {"module": "keras.layers", "class_name": "Bidirectional", "config": {"name": "bi", "layer": _lambda_layer(m)}}
        ),
        UnsafeFileError,
        r"is a Lambda",
    ),
    "custom-class": (
        lambda c, m: _insert(c, {"module": "keras.layers", "class_name": "MyAttention", "config": {"name": "att"}}),
        UnsafeFileError,
        r"object 'MyAttention' \(layer 'att'.*custom and registered objects are refused",
    ),
    "registered-name": (
        lambda c, m: _layers(c)[-1].update(registered_name="my_package>FancyDense"),
        UnsafeFileError,
        r"registered_name 'my_package>FancyDense'",
    ),
    "foreign-module": (
        lambda c, m: _layers(c)[-1].update(module="os"),
        UnsafeFileError,
        r"names module 'os', not one of Keras' own",
    ),
    "function-as-activation": (
        lambda c, m: _layers(c)[-1]["config"].update(
            activation={"module": "builtins", "class_name": "function", "config": "exec", "registered_name": "function"}
        ),
        UnsafeFileError,
        r"is a function: it carries Python code",
    ),
    "get-file-initializer": (  # the shape of CVE-2025-8747: a Keras utility that downloads
        lambda c, m: _layers(c)[-1]["config"].update(
            kernel_initializer={
                "module": "keras.src.utils.file_utils",
                "class_name": "get_file",
                "config": {"origin": "http://x"},
            }
        ),
        UnsafeFileError,
        r"object 'get_file'",
    ),
    "custom-loss-in-compile-config": (
        lambda c, m: c.update(
            compile_config={
                "optimizer": {"module": "keras.optimizers", "class_name": "Adam", "config": {"name": "adam"}},
                "loss": {"module": "__main__", "class_name": "function", "config": "my_loss", "registered_name": "function"},
            }
        ),
        UnsafeFileError,
        r"at /compile_config/loss is a function",
    ),
    "custom-optimizer-in-compile-config": (
        lambda c, m: c.update(
            compile_config={"optimizer": {"module": "my_optim", "class_name": "Adam", "config": {"name": "adam"}}}
        ),
        UnsafeFileError,
        r"object 'Adam' at /compile_config/optimizer names module 'my_optim'",
    ),
    "saved-model-layer": (
        lambda c, m: _insert(
            c, {"module": "keras.layers", "class_name": "TFSMLayer", "config": {"name": "sm", "filepath": "/x"}}
        ),
        UnsafeFileError,
        r"layer 'sm' .* is a TFSMLayer, a Keras built-in that runs code or reads files when Keras loads it",
    ),
    "vocabulary-file": (
        lambda c, m: _insert(
            c, {"module": "keras.layers", "class_name": "StringLookup", "config": {"name": "vocab", "vocabulary": "/etc/passwd"}}
        ),
        UnsafeFileError,
        r"is a StringLookup, a Keras built-in that runs code or reads files",
    ),
    "op-that-calls-a-function": (
        lambda c, m: _insert(c, {"module": "keras.src.ops.core", "class_name": "Map", "config": {"name": "map"}}),
        UnsafeFileError,
        r"is a Map, a Keras built-in that runs code",
    ),
    "not-an-op": (
        lambda c, m: _insert(c, {"module": "keras.src.ops.numpy", "class_name": "Popen", "config": {"name": "p"}}),
        UnsafeFileError,
        r"object 'Popen' at .* is not an op of keras.src.ops.numpy",
    ),
    "custom-in-dtype-policy": (
        lambda c, m: _layers(c)[-1]["config"].update(
            dtype={"module": "evil", "class_name": "DTypePolicy", "config": {"name": "float32"}}
        ),
        UnsafeFileError,
        r"names module 'evil'",
    ),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_config_that_names_code_is_refused_and_nothing_runs(tmp_path, case):
    edit, error, message = CONFIG_CASES[case]
    marker = tmp_path / "written-by-the-file"
    path = _with_config(tmp_path / "m.keras", lambda config: edit(config, marker))
    with pytest.raises(error, match=message):
        from_keras(path)
    assert not marker.exists()


def test_the_lambda_payload_really_writes_when_run(tmp_path):
    """Control for the cases above: the crafted bytecode does write the marker when something runs it."""
    marker = tmp_path / "written"
    code = marshal.loads(base64.b64decode(_lambda_layer(marker)["config"]["function"]["config"]["code"]))
    payload = types.FunctionType(code, {"open": open}, "payload", None, (types.CellType(marker),))
    payload(1)
    assert marker.read_text() == "pwned"


@pytest.mark.parametrize(
    ("members", "error", "message"),
    [
        ({"config.json": b"{not json"}, ModelFileError, r"config.json: not valid JSON"),
        ({"config.json": b"[" * 100_000 + b"]" * 100_000}, UnsafeFileError, r"nested"),
        ({"config.json": json.dumps([1, 2]).encode()}, ModelFileError, r"must hold JSON objects"),
    ],
    ids=["not-json", "deeply-nested-json", "json-array"],
)
def test_bad_config_json(tmp_path, members, error, message):
    with pytest.raises(error, match=message):
        from_keras(_zip(tmp_path / "m.keras", {**_members(), **members}))


# -- zip ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"evil.py": b"import os"}, r"unexpected archive members \['evil.py'\]"),
        ({"../../outside.txt": b"x"}, r"unexpected archive members \['../../outside.txt'\]"),
        ({"/tmp/absolute.txt": b"x"}, r"unexpected archive members"),
        ({"assets/vocab.txt": b"x"}, r"unexpected archive members \['assets/vocab.txt'\]"),
    ],
    ids=["extra-member", "path-traversal", "absolute-path", "assets"],
)
def test_unexpected_members_are_refused(tmp_path, extra, message):
    with pytest.raises(UnsafeFileError, match=message):
        from_keras(_zip(tmp_path / "m.keras", {**_members(), **extra}))


def test_zip_bomb_is_refused_before_inflating(tmp_path):
    members = _members()
    members["config.json"] = members["config.json"] + b" " * 10_000_000  # valid JSON, 10 MB of spaces: under the size limit
    path = _zip(tmp_path / "m.keras", members, compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 200_000
    with pytest.raises(UnsafeFileError, match=r"compression ratio \d+:1 is over the limit"):
        from_keras(path)


def test_declared_size_over_the_limit_is_refused(tmp_path):
    path = _zip(tmp_path / "m.keras", _members())
    with pytest.raises(UnsafeFileError, match=r"model.weights.h5: declares \d+ bytes inflated, over the limit of 1000"):
        from_keras(path, limits=ReadLimits(max_weights_bytes=1000))


def test_duplicate_members_are_refused(tmp_path):
    members = _members()
    path = tmp_path / "m.keras"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in members.items():
            archive.writestr(name, data)
        archive.writestr("config.json", members["config.json"])
    with pytest.raises(UnsafeFileError, match=r"appear more than once: \['config.json'\]"):
        from_keras(path)


def test_missing_weights_member(tmp_path):
    members = _members()
    del members["model.weights.h5"]
    with pytest.raises(ModelFileError, match=r"the archive has no model.weights.h5"):
        from_keras(_zip(tmp_path / "m.keras", members))


def test_truncated_archive(tmp_path):
    data = _zip(tmp_path / "full.keras", _members()).read_bytes()
    path = tmp_path / "m.keras"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match=r"not a zip archive|corrupt or truncated"):
        from_keras(path)


def test_corrupted_member_fails_its_crc(tmp_path):
    path = _zip(tmp_path / "m.keras", _members())
    data = bytearray(path.read_bytes())
    offset = data.index(b"HDF") + 2000  # inside the stored HDF5 member
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"corrupt or truncated zip archive \(Bad CRC-32"):
        from_keras(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x01garbage" * 100, r"a .keras file must be a zip archive, but this is neither a zip archive nor HDF5"),
        (b"", r"a .keras file must be a zip archive, but this is an empty file"),
        (b"\x89HDF\r\n\x1a\n" + b"\x00" * 100, r"a .keras file must be a zip archive, but this is an HDF5 file"),
    ],
    ids=["random-bytes", "empty", "hdf5-named-keras"],
)
def test_not_a_zip_with_a_keras_name(tmp_path, content, message):
    path = tmp_path / "m.keras"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        from_keras(path)


# -- HDF5 ---------------------------------------------------------------------------------------

KERNEL = "layers/time_distributed/layer/vars/0"


def _replace(h5: h5py.File, path: str, **kwargs) -> None:
    del h5[path]
    h5.create_dataset(path, **kwargs)


def _virtual(h5: h5py.File) -> None:
    layout = h5py.VirtualLayout(shape=(3, 3, 1, 2), dtype="f4")
    layout[...] = h5py.VirtualSource("other.h5", "data", shape=(3, 3, 1, 2))
    del h5[KERNEL]
    h5.create_virtual_dataset(KERNEL, layout)


def _external_storage(h5: h5py.File, tmp: Path) -> None:
    (tmp / "raw.bin").write_bytes(b"\x00" * 72)
    _replace(h5, KERNEL, shape=(3, 3, 1, 2), dtype="f4", external=[(str(tmp / "raw.bin"), 0, 72)])


def _cycle(h5: h5py.File) -> None:
    h5["layers/time_distributed/layer/loop"] = h5["layers/time_distributed"]


HDF5_CASES: dict[str, tuple[Callable[[h5py.File, Path], None], type, str]] = {
    "external-link": (
        lambda h5, tmp: h5.__setitem__("layers/dense/vars/2", h5py.ExternalLink("/etc/passwd", "/")),
        UnsafeFileError,
        r"/layers/dense/vars/2 is an external link to /etc/passwd",
    ),
    "soft-link-outside": (
        lambda h5, tmp: (
            h5.create_dataset("secret", data=np.ones(2, "f4")),
            h5.__setitem__("layers/dense/vars/2", h5py.SoftLink("/secret")),
        ),
        UnsafeFileError,
        r"soft link to /secret, outside /layers",
    ),
    "soft-link-inside": (
        lambda h5, tmp: h5.__setitem__("layers/dense/vars/2", h5py.SoftLink("/layers/dense/vars/0")),
        UnsafeFileError,
        r"weights must be stored, not linked",
    ),
    "virtual-dataset": (lambda h5, tmp: _virtual(h5), UnsafeFileError, r"is a virtual dataset"),
    "external-storage": (_external_storage, UnsafeFileError, r"stores its data in external files"),
    "link-cycle": (lambda h5, tmp: _cycle(h5), UnsafeFileError, r"reachable twice \(a link cycle\)"),
    "shape-mismatch": (
        lambda h5, tmp: _replace(h5, KERNEL, data=np.ones((3, 3, 1, 5), "f4")),
        ModelFileError,
        r"vars/0 has shape \(3, 3, 1, 5\); the architecture needs \(3, 3, 1, 2\)",
    ),
    "integer-dtype": (
        lambda h5, tmp: _replace(h5, KERNEL, data=np.ones((3, 3, 1, 2), "i4")),
        ModelFileError,
        r"has dtype int32; weights must be float",
    ),
    "string-dtype": (
        lambda h5, tmp: _replace(h5, KERNEL, data=np.array([[[["a", "b"]]] * 3] * 3, dtype=h5py.string_dtype())),
        ModelFileError,
        r"has dtype object; weights must be float",
    ),
    "nan-weights": (
        lambda h5, tmp: _replace(h5, KERNEL, data=np.full((3, 3, 1, 2), np.nan, "f4")),
        ModelFileError,
        r"holds 18 NaN/Inf values \(pass allow_nonfinite=True",
    ),
    "inf-weights": (
        lambda h5, tmp: _replace(h5, "layers/dense/vars/1", data=np.array([np.inf], "f4")),
        ModelFileError,
        r"dense/vars/1 holds 1 NaN/Inf values",
    ),
    "missing-weight": (
        lambda h5, tmp: h5.__delitem__("layers/lstm/cell/vars/1"),
        ModelFileError,
        r"missing weight tensor /layers/lstm/cell/vars/1",
    ),
    "extra-weight": (
        lambda h5, tmp: h5.create_dataset("layers/dense/vars/2", data=np.ones(3, "f4")),
        ModelFileError,
        r"tensors the architecture does not account for: \['/layers/dense/vars/2'\]",
    ),
    "not-hdf5": (None, ModelFileError, r"model.weights.h5: not a readable HDF5 file"),
}


@pytest.mark.parametrize("case", HDF5_CASES)
def test_hostile_weights_are_refused(tmp_path, case):
    edit, error, message = HDF5_CASES[case]
    if edit is None:
        path = _zip(tmp_path / "m.keras", {**_members(), "model.weights.h5": b"\x89HDF\r\n\x1a\n" + b"\xff" * 500})
    else:
        path = _with_weights(tmp_path / "m.keras", lambda h5: edit(h5, tmp_path))
    with pytest.raises(error, match=message):
        from_keras(path)


def test_nonfinite_weights_load_when_allowed(tmp_path):
    path = _with_weights(tmp_path / "m.keras", lambda h5: _replace(h5, KERNEL, data=np.full((3, 3, 1, 2), np.nan, "f4")))
    model = from_keras(path, allow_nonfinite=True)
    assert model.layers["conv2d_1"].weight.isnan().all()


def test_a_huge_declared_dataset_is_refused_without_allocating(tmp_path):
    """An architecture that asks for 800 MB and a dataset that declares it, in a file of kilobytes."""
    big = 50_000_000

    def edit_config(config: dict) -> None:
        _layers(config)[-1]["config"]["units"] = big

    members = _members()
    config = json.loads(members["config.json"])
    edit_config(config)
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as h5:
        _replace(h5, "layers/dense/vars/0", shape=(3, big), dtype="f4", chunks=(1, 1024))  # no data written
        _replace(h5, "layers/dense/vars/1", shape=(big,), dtype="f4", chunks=(1024,))
    path = _zip(
        tmp_path / "m.keras", {**members, "config.json": json.dumps(config).encode(), "model.weights.h5": buffer.getvalue()}
    )
    assert path.stat().st_size < 100_000
    with pytest.raises(UnsafeFileError, match=r"declares 600000000 bytes of data, more than the whole file"):
        from_keras(path)


# -- legacy .h5 and weights-only files ----------------------------------------------------------


def _legacy_h5(path: Path, *, config: dict | None = None, edit: Callable[[h5py.File], None] | None = None) -> Path:
    """A Keras 2 style full-model .h5 for the seed-flat preset, written with h5py."""
    spec = get_preset("seed-flat")
    keras2_config = config or {
        "class_name": "Sequential",
        "config": {
            "name": "legacy",
            "layers": [
                {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 100, 10, 10, 1], "name": "in"}},
                {
                    "class_name": "TimeDistributed",
                    "config": {"name": "flat", "layer": {"class_name": "Flatten", "config": {"name": "f"}}},
                },
                {"class_name": "LSTM", "config": {"name": "enc", "units": 64, "time_major": False}},
                {"class_name": "Dense", "config": {"name": "head", "units": 1}},
            ],
        },
    }
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        h5.attrs["keras_version"] = "2.15.0"
        h5.attrs["model_config"] = json.dumps(keras2_config)
        weights = h5.create_group("model_weights")
        for layer, names, shapes in (
            (
                "enc",
                ["enc/lstm_cell/kernel:0", "enc/lstm_cell/recurrent_kernel:0", "enc/lstm_cell/bias:0"],
                [(100, 256), (64, 256), (256,)],
            ),
            ("head", ["head/kernel:0", "head/bias:0"], [(64, 1), (1,)]),
        ):
            group = weights.create_group(layer)
            group.attrs["weight_names"] = names
            for name, shape in zip(names, shapes, strict=True):
                group.create_dataset(name, data=rng.uniform(-0.1, 0.1, shape).astype("f4"))
        if edit:
            edit(h5)
    assert spec.output_shape() == (1,)
    return path


def test_legacy_h5_written_by_hand_is_read(tmp_path):
    model = from_keras(_legacy_h5(tmp_path / "m.h5"))
    assert [layer.name for layer in model.spec.layers] == ["flat", "enc", "head"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {
                "config": {
                    "class_name": "Sequential",
                    "config": {"name": "x", "layers": [{"class_name": "Lambda", "config": {"name": "l", "function": "..."}}]},
                }
            },
            UnsafeFileError,
            r"'l' .* is a Lambda",
        ),
        (
            {"edit": lambda h5: h5.__setitem__("model_weights/enc/x", h5py.ExternalLink("other.h5", "/"))},
            UnsafeFileError,
            r"external link",
        ),
        (
            {"edit": lambda h5: h5["model_weights/head"].attrs.__setitem__("weight_names", ["head/kernel:0"])},
            ModelFileError,
            r"lists weights",
        ),
        ({"edit": lambda h5: h5.attrs.__setitem__("model_config", "{oops")}, ModelFileError, r"model_config: not valid JSON"),
    ],
    ids=["legacy-lambda", "legacy-external-link", "legacy-missing-weight-name", "legacy-bad-config"],
)
def test_hostile_legacy_h5(tmp_path, kwargs, error, message):
    with pytest.raises(error, match=message):
        from_keras(_legacy_h5(tmp_path / "m.h5", **kwargs))


def test_weights_only_file_needs_a_spec(tmp_path):
    members = _members()
    path = tmp_path / "m.weights.h5"
    path.write_bytes(members["model.weights.h5"])
    with pytest.raises(ModelFileError, match=r"weights-only file .* pass spec="):
        from_keras(path)
    with pytest.raises(ModelFileError, match=r"shape"):
        from_keras(path, spec=get_preset("seed-cnn"))  # the wrong architecture
    assert from_keras(path, spec=SPEC).spec == SPEC


def test_unsupported_layers_are_all_named(tmp_path):
    def edit(config: dict) -> None:
        _layers(config)[1]["config"]["layer"]["config"]["groups"] = 2
        _layers(config)[-2]["config"]["stateful"] = True

    with pytest.raises(
        UnsupportedModelError,
        match=r"(?s)'conv2d_1' \(TimeDistributed\(Conv2D\)\): groups=2 is not supported.*'lstm_1' \(LSTM\): stateful=True",
    ) as info:
        from_keras(_with_config(tmp_path / "m.keras", edit))
    assert "Supported:" in str(info.value)


def test_a_keras_built_in_lstm2d_does_not_convert_is_unsupported_not_unsafe(tmp_path):
    def edit(config: dict) -> None:
        _insert(config, {"module": "keras.layers", "class_name": "Discretization", "config": {"name": "bins"}}, -1)

    with pytest.raises(UnsupportedModelError, match=r"'bins' \(Discretization\): Discretization is a Keras layer lstm2d"):
        from_keras(_with_config(tmp_path / "m.keras", edit))


def test_flatten_outside_time_distributed_gets_the_articles_hint(tmp_path):
    """Keras' Flatten outside TimeDistributed flattens the whole sample (lstm2d reads it so); the layer after it that
    needs the lost time axis says what happened."""

    def edit(config: dict) -> None:
        _layers(config)[2] = {"module": "keras.layers", "class_name": "Flatten", "config": {"name": "flat"}}

    with pytest.raises(UnsupportedModelError, match=r"wrap (the )?per-frame layers in TimeDistributed"):
        from_keras(_with_config(tmp_path / "m.keras", edit))


def test_a_conv_outside_time_distributed_on_frames_gets_the_articles_hint(tmp_path):
    """Keras refuses Conv2D on frames ('expected ndim=4, found ndim=5'): a file that has one is refused, saying so."""

    def edit(config: dict) -> None:
        _layers(config)[1] = _layers(config)[1]["config"]["layer"]

    with pytest.raises(UnsupportedModelError, match=r"Conv2D outside TimeDistributed .*wrap per-frame layers in TimeDistributed"):
        from_keras(_with_config(tmp_path / "m.keras", edit))


def test_config_is_what_the_writer_writes():
    assert keras_config(SPEC)["class_name"] == "Sequential"


@pytest.mark.parametrize(
    "module",
    ["keras.optimizers", "keras.src.backend.torch.optimizers.torch_adam", "keras.src.backend.tensorflow.optimizers"],
)
def test_keras_own_optimizer_modules_pass(tmp_path, module):
    """A compiled model's optimizer, as each Keras backend names its module, is data lstm2d accepts."""
    optimizer = {"module": module, "class_name": "Adam", "config": {"name": "adam"}, "registered_name": None}
    path = _with_config(tmp_path / "m.keras", lambda c: c.update(compile_config={"optimizer": optimizer, "loss": "mse"}))
    assert from_keras(path).spec == SPEC


# -- hostile graphs --------------------------------------------------------------------------------------------------


def _layer(config: dict, name: str) -> dict:
    return next(layer for layer in _layers(config) if layer["name"] == name)


def _tensor(config: dict, layer: str, i: int = 0) -> dict:
    """The config of the ``i``-th tensor of the first call of ``layer`` (``keras_history`` and all)."""
    args = _layer(config, layer)["inbound_nodes"][0]["args"]
    tensors = args[0] if isinstance(args[0], list) else args
    return tensors[i]["config"]


def _rename(config: dict, layer: str, name: str) -> None:
    _layer(config, layer)["config"]["name"] = name
    _layer(config, layer)["name"] = name


GRAPH_CASES: dict[str, tuple[Callable[[dict], None], type, str]] = {
    "cycle": (
        lambda c: _tensor(c, "pa").update(keras_history=["lstm", 0, 0]),
        ModelFileError,
        r"the layer graph has a cycle through \['lstm', 'out', 'pa', 'sum'\]",
    ),
    "missing-layer": (
        lambda c: _tensor(c, "lstm").update(keras_history=["ghost", 0, 0]),
        ModelFileError,
        r"layer 'lstm' takes a tensor from 'ghost', which the model does not have",
    ),
    "missing-call": (
        lambda c: _tensor(c, "lstm").update(keras_history=["sum", 3, 0]),
        ModelFileError,
        r"layer 'lstm' takes call 3 of 'sum', which is called 1 times",
    ),
    "missing-tensor": (
        lambda c: _tensor(c, "lstm").update(keras_history=["sum", 0, 2]),
        ModelFileError,
        r"layer 'lstm' takes output 2 of 'sum' \(call 0\), which makes 1 tensor",
    ),
    "missing-output-layer": (
        lambda c: c["config"].update(output_layers=["ghost", 0, 0]),
        ModelFileError,
        r"the model's inputs or outputs name layer 'ghost', which it does not have",
    ),
    "missing-output-call": (
        lambda c: c["config"].update(output_layers=["out", 3, 0]),
        ModelFileError,
        r"the model's output takes call 3 of 'out', which is called 1 time",
    ),
    "missing-output-tensor": (
        lambda c: c["config"].update(output_layers=["out", 0, 1]),
        ModelFileError,
        r"the model's output takes output 1 of 'out' \(call 0\), which makes 1 tensor",
    ),
    "not-a-reference": (
        lambda c: _tensor(c, "lstm").update(keras_history="sum"),
        ModelFileError,
        r"a tensor given to 'lstm': 'sum' is not a \[layer, node, tensor\] reference",
    ),
    "unused-input": (
        lambda c: _tensor(c, "pb").update(keras_history=["a", 0, 0]),
        UnsupportedModelError,
        r"input 'b' is not used by any layer",
    ),
    "unlisted-input": (
        lambda c: c["config"].update(input_layers=["a", 0, 0]),
        ModelFileError,
        r"layer 'pb' takes a tensor from 'b', which is neither called in the model nor one of its input_layers",
    ),
    "duplicate-names": (
        lambda c: _rename(c, "pb", "pa"),
        ModelFileError,
        r"model 'lstm2d' has layer names that appear twice: \['pa'\]",
    ),
}


@pytest.mark.parametrize("case", GRAPH_CASES)
def test_hostile_graphs_are_refused_naming_the_fault(tmp_path, case):
    edit, error, message = GRAPH_CASES[case]
    with pytest.raises(error, match=message):
        from_keras(_with_config(tmp_path / "m.keras", edit, GRAPH))


def test_duplicate_names_in_a_sequential_are_refused(tmp_path):
    """A Sequential has no node references to tell two layers of one name apart: the file is refused, not misread."""
    path = _with_config(tmp_path / "m.keras", lambda c: _layers(c)[-1]["config"].update(name="lstm_1"))
    with pytest.raises(ModelFileError, match=r"layer names that appear twice: \['lstm_1'\]"):
        from_keras(path)


def test_a_call_on_thousands_of_tensors_is_refused_in_bounded_memory(tmp_path):
    def edit(config: dict) -> None:
        args = _layer(config, "sum")["inbound_nodes"][0]["args"]
        args[0] = args[0][:1] * 5000

    path = _with_config(tmp_path / "m.keras", edit, GRAPH)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"layer 'sum' is called on 5000 tensors; lstm2d takes at most 64"):
            from_keras(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB to refuse a {path.stat().st_size / 2**20:.1f} MiB file"


def _nested(spec: ModelSpec, depth: int) -> ModelSpec:
    """``spec`` inside ``depth`` models, each the one layer of the next (``m1`` innermost; a Keras model and the layer
    it is have one name)."""
    for level in range(1, depth + 1):
        spec = ModelSpec(spec.input, (Submodel(replace(spec, name=f"m{level}"), name=f"m{level}"),))
    return spec


def _sequential(name: str, batch_shape: list, layer: dict) -> dict:
    input_layer = {
        "module": "keras.layers",
        "class_name": "InputLayer",
        "config": {"batch_shape": batch_shape, "name": f"in_{name}"},
    }
    return {"module": "keras", "class_name": "Sequential", "config": {"name": name, "layers": [input_layer, layer]}}


def test_models_nested_max_depth_deep_are_read(tmp_path):
    spec = _nested(SPEC, MAX_DEPTH)
    torch_impl.to_keras(torch_impl.build_model(spec), tmp_path / "m.keras")
    assert from_keras(tmp_path / "m.keras").spec == spec


@pytest.mark.parametrize("via", ["nested-sequentials", "time-distributed-models"])
def test_models_nested_deeper_than_max_depth_are_refused(tmp_path, via):
    def in_sequentials(config: dict) -> None:  # the whole model MAX_DEPTH + 1 times inside itself
        for level in range(MAX_DEPTH + 1):
            config["config"]["layers"][1:] = [_sequential(f"m{level}", [None, 4, 6, 6, 1], config["config"]["layers"][1])]

    def in_time_distributed(config: dict) -> None:  # TimeDistributed(model(TimeDistributed(model(...)))), shapes aside
        layer = _layers(config)[1]
        for level in range(MAX_DEPTH + 1):
            model = _sequential(f"m{level}", [None, 6, 6, 1], layer)
            layer = {"module": "keras.layers", "class_name": "TimeDistributed", "config": {"name": f"td{level}", "layer": model}}
        _layers(config)[1] = layer

    path = _with_config(tmp_path / "m.keras", in_sequentials if via == "nested-sequentials" else in_time_distributed)
    chain = " > ".join(f"m{level}" for level in reversed(range(MAX_DEPTH)))
    with pytest.raises(ModelFileError, match=rf"models nested more than {MAX_DEPTH} deep: lstm2d > m{MAX_DEPTH} > {chain}$"):
        from_keras(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: _layers(c)[-1]["config"].update(units=10**9),
            r"/layers/dense/vars/0 has shape \(3, 1\); the architecture needs \(3, 1000000000\)",
        ),
        (
            lambda c: (
                _layers(c)[0]["config"].update(batch_shape=[None, 4, 100_000, 100_000, 1]),
                c["config"].pop("build_input_shape"),
            ),
            r"/layers/lstm/cell/vars/0 has shape \(32, 12\); the architecture needs \(19999200008, 12\)",
        ),
    ],
    ids=["dense-units-1e9", "frames-100000x100000"],
)
def test_sizes_the_weights_file_does_not_hold_are_refused_before_anything_is_allocated(tmp_path, monkeypatch, edit, message):
    """A config that asks for gigabytes (a billion units; frames whose flattened features would need a 149 GiB
    permutation) with the small weights file it came with: the weight shapes are checked against the file's before
    any array of the config's sizes exists, and no torch module is built."""

    def no_module(*args, **kwargs):
        raise AssertionError("a torch module was built")

    monkeypatch.setattr(torch_impl.files.reader, "Lstm2dNet", no_module)
    path = _with_config(tmp_path / "m.keras", edit)
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=message):
            from_keras(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB"


MASKED = ModelSpec(
    inputs=(InputSpec.sequence(4, 3, name="seq"),),
    nodes=(
        Node(Masking(0.0, name="masking"), ("seq",)),
        Node(Dense(3, name="side"), ("seq",)),
        Node(LSTM(2, name="masked"), ("masking",)),
        Node(LSTM(2, name="unmasked"), ("side",)),
        Node(Concatenate(name="joined"), ("masked", "unmasked")),
        Node(Dense(1, name="out"), ("joined",)),
    ),
    outputs=("out",),
)


def _mask_ops(config: dict, given_to: str) -> None:
    """What Keras 3 records for the Masking layer: ``NotEqual(seq, 0.0)`` and ``Any(axis=-1)`` of it, the latter given
    to ``given_to`` as ``mask=``."""
    seq = {
        "class_name": "__keras_tensor__",
        "config": {"shape": [None, 4, 3], "dtype": "float32", "keras_history": ["seq", 0, 0]},
    }
    not_equal = {"args": [seq, 0.0], "kwargs": {}}
    any_ = {"args": [{**seq, "config": {**seq["config"], "keras_history": ["not_equal", 0, 0]}}], "kwargs": {}}
    ops = [
        {
            "module": "keras.src.ops.numpy",
            "class_name": name,
            "config": config_,
            "registered_name": name,
            "name": layer,
            "inbound_nodes": [node],
        }
        for name, layer, config_, node in (
            ("NotEqual", "not_equal", {"name": "not_equal"}, not_equal),
            ("Any", "any", {"name": "any", "axis": -1, "keepdims": False}, any_),
        )
    ]
    _layers(config)[1:1] = ops
    _layer(config, given_to)["inbound_nodes"][0]["kwargs"]["mask"] = {
        **seq,
        "config": {"shape": [None, 4], "dtype": "bool", "keras_history": ["any", 0, 0]},
    }


def test_keras_3_mask_ops_are_read_as_the_masking_layers_mask(tmp_path):
    path = _with_config(tmp_path / "m.keras", lambda c: _mask_ops(c, given_to="masked"), MASKED)
    spec = from_keras(path).spec
    assert sorted(layer.name for layer in spec.layers) == sorted(layer.name for layer in MASKED.layers)  # no op layers
    masked = {entry.layer.name: entry.masked for entry in spec.infer().nodes}
    assert masked["masked"] and not masked["unmasked"]


def test_a_masking_layers_mask_given_where_it_does_not_flow_is_refused(tmp_path):
    """Keras would apply the mask to ``unmasked`` too; lstm2d's Masking reaches only the layers after it, so the file
    is refused rather than read without that mask."""
    path = _with_config(tmp_path / "m.keras", lambda c: _mask_ops(c, given_to="unmasked"), MASKED)
    with pytest.raises(
        UnsupportedModelError,
        match=r"layer 'unmasked' is given the mask of Masking layer 'masking', but its input carries no mask",
    ):
        from_keras(path)


def test_an_op_in_a_sequential_is_unsupported(tmp_path):
    op = {"module": "keras.src.ops.numpy", "class_name": "NotEqual", "config": {"name": "ne"}, "registered_name": "NotEqual"}
    with pytest.raises(UnsupportedModelError, match=r"'ne' \(ops.NotEqual\): NotEqual is a Keras op \(keras.src.ops.numpy\)"):
        from_keras(_with_config(tmp_path / "m.keras", lambda c: _insert(c, op, -1)))
