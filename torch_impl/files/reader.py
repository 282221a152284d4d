"""Keras model files to lstm2d: ``.keras`` (Keras 3), ``.weights.h5`` plus a spec, legacy Keras 2 ``.h5``.

Reading never imports Keras or TensorFlow and never runs anything from the file: the
architecture is JSON checked against an allowlist, the weights are HDF5 datasets read with
h5py after every link and size in the file has been checked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lstm2d.presets import PRESETS, get_preset
from lstm2d.spec import ModelSpec
from torch_impl.files.archive import parse_json, read_keras_archive
from torch_impl.files.config_safety import check_config_safety
from torch_impl.files.errors import ModelFileError, UnsafeFileError
from torch_impl.files.hdf5 import SafeH5
from torch_impl.files.keras_config import FileLayer, parse_model_config, spec_from_config
from torch_impl.files.layout import (
    KERAS3_ROOTS,
    LEGACY_ROOTS,
    file_layers_for_spec,
    keras3_variable_paths,
    legacy_variable_name,
)
from torch_impl.files.limits import DEFAULT_LIMITS, ReadLimits
from torch_impl.model import InputLayout, Lstm2dNet
from torch_impl.weight_table import INTEGER_VARIABLES, KerasWeights, weight_table
from torch_impl.weights import load_keras_weights

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


@dataclass(frozen=True)
class KerasModelFile:
    """What a Keras file holds, as lstm2d data: the spec, its weights in Keras layout, and the file's layers."""

    path: Path
    format: str  # "keras3", "keras3-weights", "legacy-h5"
    spec: ModelSpec
    weights: KerasWeights
    layers: list[FileLayer]
    keras_version: str | None


def from_keras(
    path: str | os.PathLike[str],
    *,
    spec: ModelSpec | str | os.PathLike[str] | None = None,
    input_layout: InputLayout = "channels_first",
    allow_nonfinite: bool = False,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> Lstm2dNet:
    """A torch model with the weights of a Keras file.

    The model reads ``(batch, time, channels, height, width)`` (``input_layout="channels_first"``, a channels_first
    Keras model's own layout) or ``(batch, time, height, width, channels)`` (``"channels_last"``, Keras' default).
    ``spec`` (a ModelSpec, a preset name or a JSON path) is only for ``.weights.h5`` files, which carry no architecture.
    """
    read = read_keras_file(path, spec=spec, allow_nonfinite=allow_nonfinite, limits=limits)
    model = Lstm2dNet(read.spec, input_layout=input_layout)  # every weight comes from the file
    load_keras_weights(model, read.weights)
    return model.eval()


def read_keras_file(
    path: str | os.PathLike[str],
    *,
    spec: ModelSpec | str | os.PathLike[str] | None = None,
    allow_nonfinite: bool = False,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> KerasModelFile:
    """Read and check a Keras file completely; raise a ``ModelFileError`` subclass naming any problem."""
    path = Path(path)
    kind = _sniff(path)
    if path.name.endswith(".keras") and kind != "zip":
        raise ModelFileError(f"{path}: a .keras file must be a zip archive, but this is {_describe_kind(kind)}")
    if kind == "zip":
        _no_spec_for_full_models(path, spec)
        archive = read_keras_archive(path, limits)
        check_config_safety(archive.config, str(path))
        version = archive.metadata.get("keras_version")
        model_spec, layers = spec_from_config(archive.config, keras_version=version, where=str(path))
        weights = _read_keras3_weights(archive.weights, f"{path}:model.weights.h5", model_spec, layers, allow_nonfinite, limits)
        return KerasModelFile(path, "keras3", model_spec, weights, layers, version)
    if kind != "hdf5":
        raise ModelFileError(f"{path}: {_describe_kind(kind)}; expected a .keras zip archive or an HDF5 (.h5) file")
    data = _read_bounded(path, limits.max_weights_bytes)
    with SafeH5(data, str(path), roots=(*LEGACY_ROOTS, *KERAS3_ROOTS), limits=limits) as h5:
        is_legacy = "model_config" in h5.attrs
    if is_legacy:
        _no_spec_for_full_models(path, spec)
        return _read_legacy(path, data, allow_nonfinite, limits)
    if spec is None:
        raise ModelFileError(
            f"{path}: a weights-only file (.weights.h5) has no architecture; pass spec= (a ModelSpec, a preset name "
            "or a spec JSON file) describing the model that saved it"
        )
    model_spec = resolve_spec(spec)
    layers = file_layers_for_spec(model_spec)
    weights = _read_keras3_weights(data, str(path), model_spec, layers, allow_nonfinite, limits)
    return KerasModelFile(path, "keras3-weights", model_spec, weights, layers, None)


def resolve_spec(spec: ModelSpec | str | os.PathLike[str]) -> ModelSpec:
    """A ModelSpec from itself, a preset name, or a JSON file path."""
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, str) and spec in PRESETS:
        return get_preset(spec)
    spec_path = Path(spec)
    if not spec_path.is_file():
        raise ModelFileError(f"spec {spec!s}: neither a preset ({', '.join(PRESETS)}) nor a readable JSON file")
    return ModelSpec.from_dict(
        parse_json(_read_bounded(spec_path, DEFAULT_LIMITS.max_config_bytes), str(spec_path), DEFAULT_LIMITS)
    )


def _no_spec_for_full_models(path: Path, spec: object) -> None:
    if spec is not None:
        raise ModelFileError(f"{path}: this file carries its own architecture; spec= is only for weights-only .weights.h5 files")


def _read_keras3_weights(
    data: bytes, where: str, spec: ModelSpec, layers: list[FileLayer], allow_nonfinite: bool, limits: ReadLimits
) -> KerasWeights:
    paths = keras3_variable_paths(spec, layers)
    shapes = {entry.name: entry.keras_shapes for entry in weight_table(spec)}
    with SafeH5(data, where, roots=KERAS3_ROOTS, limits=limits) as h5:
        expected = {p for variables in paths.values() for p in variables.values()}
        extra = sorted(p for p in h5.datasets if p not in expected and not p.startswith(("/optimizer/", "/vars/")))
        if extra:
            raise ModelFileError(f"{where}: tensors the architecture does not account for: {extra}")
        return {
            name: {
                var: h5.read(p, shapes[name][var], allow_nonfinite=allow_nonfinite, integer=var in INTEGER_VARIABLES)
                for var, p in variables.items()
            }
            for name, variables in paths.items()
        }


def _read_legacy(path: Path, data: bytes, allow_nonfinite: bool, limits: ReadLimits) -> KerasModelFile:
    with SafeH5(data, str(path), roots=LEGACY_ROOTS, limits=limits) as h5:
        version = _attr_text(h5.attrs.get("keras_version"))
        raw_config = _attr_text(h5.attrs.get("model_config"))
        if raw_config is None or len(raw_config) > limits.max_config_bytes:
            raise ModelFileError(f"{path}: model_config attribute missing or over {limits.max_config_bytes} bytes")
        config = parse_json(raw_config, f"{path}:model_config", limits)
        if not isinstance(config, dict):
            raise ModelFileError(f"{path}: model_config is not a JSON object")
        check_config_safety(config, str(path))
        model_spec, layers = spec_from_config(config, keras_version=version or "2", where=str(path))
        shapes = {entry.name: entry.keras_shapes for entry in weight_table(model_spec)}
        weights: KerasWeights = {}
        used: set[str] = set()
        for layer in layers:
            if layer.spec_layer is None:
                continue
            group = f"/model_weights/{layer.name}"
            names = [_attr_text(n) or "" for n in (h5.file[group].attrs.get("weight_names", []) if group in h5.file else [])]
            for layer_path, by_variable in _legacy_weight_names(path, layer, group, names).items():
                wanted = shapes.get(layer_path, {})
                if sorted(by_variable) != sorted(wanted):
                    raise ModelFileError(f"{path}: layer {layer.name!r} lists weights {names}; expected {list(wanted)}")
                weights[layer_path] = {
                    var: h5.read(by_variable[var], shape, allow_nonfinite=allow_nonfinite, integer=var in INTEGER_VARIABLES)
                    for var, shape in wanted.items()
                }
                used.update(by_variable.values())
        extra = sorted(p for p in h5.datasets if p.startswith("/model_weights/") and p not in used)
        if extra:
            raise ModelFileError(f"{path}: tensors the architecture does not account for: {extra}")
    return KerasModelFile(path, "legacy-h5", model_spec, weights, layers, version)


def _legacy_weight_names(path: Path, layer: FileLayer, group: str, names: list[str]) -> dict[str, dict[str, str]]:
    """``{layer path: {variable: dataset}}`` of the weights a legacy file lists for one top-level layer. A nested model's
    are listed under the outer layer, at any depth, each name starting with the file name of the layer that holds it
    (tf-keras names a variable after its own layer: ``block_conv/kernel:0`` of a Conv2D in a model in a model)."""
    assert layer.spec_layer is not None
    owners = _weight_owners(layer, layer.spec_layer.name) if layer.children else {}
    by_path: dict[str, dict[str, str]] = {}
    for name in names:
        owner, layer_path = layer, layer.spec_layer.name
        if layer.children:
            found = owners.get(name.split("/")[0], [])
            if len(found) != 1:
                held = "which no layer of its model holds" if not found else f"and {len(found)} of its layers have that name"
                raise ModelFileError(f"{path}: layer {layer.name!r} lists weight {name!r}, {held}")
            owner, layer_path = found[0]
        variable = legacy_variable_name(name, bidirectional=owner.keras_class == "Bidirectional")
        variables = by_path.setdefault(layer_path, {})
        if variable in variables:
            raise ModelFileError(f"{path}: layer {layer.name!r} lists {variable!r} twice: {names}")
        variables[variable] = f"{group}/{name}"
    return by_path


def _weight_owners(layer: FileLayer, layer_path: str) -> dict[str, list[tuple[FileLayer, str]]]:
    """The layers of the models nested in ``layer`` (at any depth) by file name, each with its weight-table path."""
    owners: dict[str, list[tuple[FileLayer, str]]] = {}
    for child in layer.children:
        if child.spec_layer is None:
            continue
        child_path = f"{layer_path}/{child.spec_layer.name}"
        found = _weight_owners(child, child_path) if child.children else {child.name: [(child, child_path)]}
        for name, owner in found.items():
            owners.setdefault(name, []).extend(owner)
    return owners


def describe_keras_file(path: str | os.PathLike[str], *, limits: ReadLimits = DEFAULT_LIMITS) -> tuple[str, list[FileLayer]]:
    """The file's format and layers with their support status, without reading any weight values."""
    path = Path(path)
    kind = _sniff(path)
    if kind == "zip":
        archive = read_keras_archive(path, limits)
        check_config_safety(archive.config, str(path))
        parsed = parse_model_config(archive.config, keras_version=archive.metadata.get("keras_version"), where=str(path))
        return f"Keras {parsed.keras_version or '3'} archive (.keras)", parsed.layers
    if kind == "hdf5":
        data = _read_bounded(path, limits.max_weights_bytes)
        with SafeH5(data, str(path), roots=(*LEGACY_ROOTS, *KERAS3_ROOTS), limits=limits) as h5:
            raw_config = _attr_text(h5.attrs.get("model_config"))
            version = _attr_text(h5.attrs.get("keras_version"))
        if raw_config is None:
            raise ModelFileError(f"{path}: a weights-only HDF5 file has no architecture to describe")
        config = parse_json(raw_config, f"{path}:model_config", limits)
        check_config_safety(config, str(path))
        parsed = parse_model_config(config, keras_version=version, where=str(path))
        return f"Keras {version or '2'} full-model HDF5 (.h5)", parsed.layers
    raise ModelFileError(f"{path}: {_describe_kind(kind)}")


def _sniff(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot open ({exc.strerror})") from None
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head == HDF5_MAGIC:
        return "hdf5"
    return "empty" if not head else "unknown"


def _describe_kind(kind: str) -> str:
    return {
        "hdf5": "an HDF5 file (a legacy .h5 renamed?)",
        "empty": "an empty file",
        "unknown": "neither a zip archive nor HDF5",
    }.get(kind, kind)


def _read_bounded(path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise UnsafeFileError(f"{path}: {size} bytes, over the limit of {limit}")
    return path.read_bytes()


def _attr_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _attr_text(value.item())
    return str(value)
