"""Bounds on what reading a file may cost; generous for real models, fatal for bombs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadLimits:
    """Upper bounds applied before any byte is inflated or any array allocated."""

    max_config_bytes: int = 16 * 2**20  # config.json / model_config: real ones are kilobytes
    max_metadata_bytes: int = 2**20
    max_weights_bytes: int = 4 * 2**30  # model.weights.h5 inflated
    max_compression_ratio: float = 200.0  # zip member: inflated size / stored size
    max_json_depth: int = 64  # nesting of config.json
    max_hdf5_objects: int = 100_000  # groups + datasets + links walked in a weights file


DEFAULT_LIMITS = ReadLimits()
