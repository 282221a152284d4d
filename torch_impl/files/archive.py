"""Reading a Keras 3 ``.keras`` archive (a zip of config.json, metadata.json, model.weights.h5) defensively.

Only the three expected members are accepted; every member's declared size and compression ratio
is checked before it is inflated, and reads are bounded, so a zip bomb or a lying header costs
nothing. zipfile verifies each member's CRC as it is read.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch_impl.files.errors import ModelFileError, UnsafeFileError
from torch_impl.files.limits import ReadLimits

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
ALLOWED_MEMBERS = (CONFIG, METADATA, WEIGHTS)


@dataclass(frozen=True)
class KerasArchive:
    """The parsed contents of a ``.keras`` file; nothing in it has been executed or instantiated."""

    config: dict[str, Any]
    metadata: dict[str, Any]
    weights: bytes  # the HDF5 file, in memory


def read_keras_archive(path: Path, limits: ReadLimits) -> KerasArchive:
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a zip archive; a .keras file is a zip of {', '.join(ALLOWED_MEMBERS)}")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            _check_members(path, infos)
            by_name = {info.filename: info for info in infos}
            for required in (CONFIG, WEIGHTS):
                if required not in by_name:
                    raise ModelFileError(f"{path}: the archive has no {required} (members: {sorted(by_name)})")
            budgets = {CONFIG: limits.max_config_bytes, METADATA: limits.max_metadata_bytes, WEIGHTS: limits.max_weights_bytes}
            contents = {name: _read_member(path, archive, info, budgets[name], limits) for name, info in by_name.items()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated zip archive ({exc})") from None
    config = parse_json(contents[CONFIG], f"{path}:{CONFIG}", limits)
    metadata = parse_json(contents[METADATA], f"{path}:{METADATA}", limits) if METADATA in contents else {}
    if not isinstance(config, dict) or not isinstance(metadata, dict):
        raise ModelFileError(f"{path}: {CONFIG} and {METADATA} must hold JSON objects")
    return KerasArchive(config=config, metadata=metadata, weights=contents[WEIGHTS])


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    names = [info.filename for info in infos]
    unexpected = [name for name in names if name not in ALLOWED_MEMBERS]
    if unexpected:
        raise UnsafeFileError(
            f"{path}: unexpected archive members {unexpected}; a .keras file lstm2d reads holds only "
            f"{', '.join(ALLOWED_MEMBERS)} (no assets, no paths)"
        )
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UnsafeFileError(f"{path}: archive members appear more than once: {duplicates}")


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int, limits: ReadLimits) -> bytes:
    what = f"{path}:{info.filename}"
    if info.flag_bits & 0x1:
        raise UnsafeFileError(f"{what}: encrypted archive members are not supported")
    if info.file_size > budget:
        raise UnsafeFileError(f"{what}: declares {info.file_size} bytes inflated, over the limit of {budget}")
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.max_compression_ratio:
        raise UnsafeFileError(
            f"{what}: compression ratio {ratio:.0f}:1 is over the limit of {limits.max_compression_ratio:.0f}:1 (zip bomb?)"
        )
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)  # bounded even if the header lies; CRC checked at the end
    if len(data) != info.file_size:
        raise ModelFileError(f"{what}: holds {len(data)} bytes, its header says {info.file_size}")
    return data


def parse_json(data: bytes | str, what: str, limits: ReadLimits) -> Any:
    """JSON as data, with the nesting bounded (deeply nested input would otherwise exhaust the stack)."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise UnsafeFileError(f"{what}: JSON nested too deeply") from None
    depth = _depth(value, limits.max_json_depth)
    if depth > limits.max_json_depth:
        raise UnsafeFileError(f"{what}: JSON nested more than {limits.max_json_depth} levels deep")
    return value


def _depth(value: Any, cap: int) -> int:
    stack = [(value, 1)]
    deepest = 0
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > cap:
            return deepest
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children)
    return deepest
