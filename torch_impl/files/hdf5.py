"""Reading weights from an untrusted HDF5 file with h5py, touching nothing the model does not account for.

The whole tree is walked link by link before any data is read: external links, soft links that
leave the weights root, virtual datasets and external raw storage are refused wherever they are;
every dataset must be one the architecture expects, with its exact shape and a float dtype, and
its declared size must fit in the file (a small file cannot make lstm2d allocate gigabytes).
"""

from __future__ import annotations

import io
import posixpath
from dataclasses import dataclass

import h5py
import numpy as np

from torch_impl.files.errors import ModelFileError, UnsafeFileError
from torch_impl.files.limits import ReadLimits

Shape = tuple[int, ...]


@dataclass(frozen=True)
class DatasetInfo:
    path: str  # absolute, e.g. "/layers/lstm/cell/vars/0"
    shape: Shape
    dtype: np.dtype


class SafeH5:
    """An HDF5 file opened from bytes, with its tree checked once, at open."""

    def __init__(self, data: bytes, where: str, *, roots: tuple[str, ...], limits: ReadLimits) -> None:
        self.where = where
        self.size = len(data)
        self.roots = roots
        try:
            self.file = h5py.File(io.BytesIO(data), "r")
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{where}: not a readable HDF5 file ({exc})") from None
        self.datasets: dict[str, DatasetInfo] = {}
        self._walk(limits)

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> SafeH5:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def attrs(self) -> h5py.AttributeManager:
        return self.file.attrs

    def _walk(self, limits: ReadLimits) -> None:
        seen_groups: set[object] = set()
        stack = ["/"]
        visited = 0
        while stack:
            group_path = stack.pop()
            group = self.file[group_path]
            key = _object_key(group)
            if key in seen_groups:
                raise UnsafeFileError(f"{self.where}: group {group_path} is reachable twice (a link cycle)")
            seen_groups.add(key)
            for name in group:
                visited += 1
                if visited > limits.max_hdf5_objects:
                    raise UnsafeFileError(f"{self.where}: more than {limits.max_hdf5_objects} HDF5 objects")
                path = posixpath.join(group_path, name)
                link = group.get(name, getlink=True)
                if isinstance(link, h5py.ExternalLink):
                    raise UnsafeFileError(f"{self.where}: {path} is an external link to {link.filename}:{link.path}")
                if isinstance(link, h5py.SoftLink):
                    target = posixpath.normpath(posixpath.join(group_path, link.path))
                    if not any(target == root or target.startswith(root + "/") for root in self.roots):
                        raise UnsafeFileError(
                            f"{self.where}: {path} is a soft link to {link.path}, outside {', '.join(self.roots)}"
                        )
                    raise UnsafeFileError(f"{self.where}: {path} is a soft link to {target}; weights must be stored, not linked")
                obj = group.get(name)
                if isinstance(obj, h5py.Group):
                    stack.append(path)
                elif isinstance(obj, h5py.Dataset):
                    self._register(path, obj)
                else:
                    raise UnsafeFileError(f"{self.where}: {path} is a {type(obj).__name__}, not a group or dataset")

    def _register(self, path: str, dataset: h5py.Dataset) -> None:
        if dataset.is_virtual:
            raise UnsafeFileError(f"{self.where}: {path} is a virtual dataset (it reads from other files)")
        if dataset.external:
            raise UnsafeFileError(f"{self.where}: {path} stores its data in external files {[e[0] for e in dataset.external]}")
        self.datasets[path] = DatasetInfo(path, tuple(int(d) for d in dataset.shape), dataset.dtype)

    def read(self, path: str, expected_shape: Shape, *, allow_nonfinite: bool, integer: bool = False) -> np.ndarray:
        """The dataset at ``path`` as float32, after checking shape, dtype (``integer``: an integer one is allowed too),
        declared size and finiteness."""
        info = self.datasets.get(path)
        if info is None:
            raise ModelFileError(f"{self.where}: missing weight tensor {path}")
        if info.shape != tuple(expected_shape):
            raise ModelFileError(f"{self.where}: {path} has shape {info.shape}; the architecture needs {tuple(expected_shape)}")
        if info.dtype.kind not in ("fiu" if integer else "f") or info.dtype.itemsize not in (2, 4, 8):
            raise ModelFileError(f"{self.where}: {path} has dtype {info.dtype}; weights must be float16/32/64")
        declared = int(np.prod(info.shape, dtype=np.int64)) * info.dtype.itemsize
        if declared > self.size:
            raise UnsafeFileError(
                f"{self.where}: {path} declares {declared} bytes of data, more than the whole file ({self.size} bytes)"
            )
        try:
            array = np.asarray(self.file[path][()], dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise ModelFileError(f"{self.where}: cannot read {path} ({exc})") from None
        if not allow_nonfinite and not np.isfinite(array).all():
            bad = int((~np.isfinite(array)).sum())
            raise ModelFileError(f"{self.where}: {path} holds {bad} NaN/Inf values (pass allow_nonfinite=True to accept them)")
        return array


def _object_key(obj: h5py.HLObject) -> int:
    """An identity for an HDF5 object that is the same through every hard link to it (its header address)."""
    return h5py.h5o.get_info(obj.id).addr
