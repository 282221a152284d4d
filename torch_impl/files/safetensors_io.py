"""torch models as safetensors files, with the spec in the file's metadata: no pickle anywhere."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from lstm2d.spec import ModelSpec
from torch_impl.files.errors import ModelFileError
from torch_impl.model import InputLayout, Lstm2dNet
from torch_impl.weights import load_state

SPEC_KEY = "lstm2d.spec"
FORMAT_KEY = "lstm2d.format"
FORMAT_VERSION = "3"  # 3: state keys layers.<name>.*, spec format 3 (graphs)
READABLE_FORMATS = ("2", "3")  # 2: spec format 2 (stacks of frames), which format 3 readers read too


def save_safetensors(model: Lstm2dNet, path: str | os.PathLike[str]) -> None:
    """Write the model's weights and its spec (JSON, in the metadata) to ``path``."""
    tensors = {key: value.detach().to("cpu").contiguous() for key, value in model.state_dict().items()}
    metadata = {SPEC_KEY: model.spec.to_json(indent=None), FORMAT_KEY: FORMAT_VERSION, "format": "pt"}
    save_file(tensors, str(path), metadata=metadata)


def load_safetensors(
    path: str | os.PathLike[str], *, input_layout: InputLayout = "channels_first", allow_nonfinite: bool = False
) -> Lstm2dNet:
    """The model saved by :func:`save_safetensors`: spec from the metadata, every tensor checked against it."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if FORMAT_KEY not in metadata or SPEC_KEY not in metadata:
                raise ModelFileError(f"{path}: not an lstm2d safetensors file (no {FORMAT_KEY!r} and {SPEC_KEY!r} metadata)")
            if metadata[FORMAT_KEY] not in READABLE_FORMATS:
                raise ModelFileError(
                    f"{path}: lstm2d safetensors format {metadata[FORMAT_KEY]!r}; this version of lstm2d reads formats "
                    f"{', '.join(map(repr, READABLE_FORMATS))} (convert it again from its Keras file)"
                )
            spec = ModelSpec.from_json(metadata[SPEC_KEY])
            model = Lstm2dNet(spec, input_layout=input_layout)  # every weight comes from the file
            expected = model.state_dict()
            keys = set(handle.keys())
            if keys != set(expected):
                raise ModelFileError(
                    f"{path}: tensors do not match the spec: missing {sorted(set(expected) - keys)}, "
                    f"unexpected {sorted(keys - set(expected))}"
                )
            state = {}
            for key, target in expected.items():
                shape = tuple(handle.get_slice(key).get_shape())
                if shape != tuple(target.shape):
                    raise ModelFileError(f"{path}: {key} has shape {shape}, the spec needs {tuple(target.shape)}")
                tensor = handle.get_tensor(key)
                if not tensor.is_floating_point():
                    raise ModelFileError(f"{path}: {key} has dtype {tensor.dtype}; weights must be floating point")
                if not allow_nonfinite and not torch.isfinite(tensor).all():
                    raise ModelFileError(f"{path}: {key} holds NaN/Inf values (pass allow_nonfinite=True to accept them)")
                state[key] = tensor
    except (SafetensorError, OSError) as exc:
        raise ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    load_state(model, state)
    return model.eval()
