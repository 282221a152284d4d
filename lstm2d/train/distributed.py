"""Running under ``torchrun``: process group, device per process, and sums across processes.

``torchrun --nproc_per_node=N -m lstm2d train ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
each process then trains on its shard of every global batch (NCCL on CUDA, gloo on CPU). Without
those variables everything here is a no-op for a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lstm2d.train.errors import TrainError


@dataclass(frozen=True)
class Processes:
    """This process's place among the training processes (``world_size == 1``: no process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        """The process that prints and writes files."""
        return self.rank == 0


def from_environment() -> Processes:
    """The process layout torchrun describes in the environment (one process without it)."""
    try:
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError as exc:
        raise TrainError(f"torchrun environment: expected integer RANK, WORLD_SIZE, LOCAL_RANK ({exc})") from None
    return Processes(rank=rank, world_size=world_size, local_rank=local_rank)


def resolve_device(requested: str, processes: Processes) -> torch.device:
    """``auto``: CUDA if available, else the CPU. Under torchrun on CUDA, process ``LOCAL_RANK`` takes GPU ``LOCAL_RANK``."""
    use_cuda = requested == "cuda" or (requested == "auto" and torch.cuda.is_available())
    if not use_cuda:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise TrainError(f"--device cuda: no CUDA device is available to this torch {torch.__version__} (use --device cpu)")
    if processes.local_rank >= torch.cuda.device_count():
        raise TrainError(
            f"process with LOCAL_RANK {processes.local_rank} has no GPU: {torch.cuda.device_count()} visible; "
            "run at most that many processes per node"
        )
    device = torch.device("cuda", processes.local_rank)
    torch.cuda.set_device(device)
    return device


def start(processes: Processes, device: torch.device) -> None:
    """Join the process group (NCCL on CUDA, gloo on the CPU) when there is more than one process."""
    if processes.distributed and not dist.is_initialized():
        cuda = device.type == "cuda"
        dist.init_process_group(backend="nccl" if cuda else "gloo", device_id=device if cuda else None)


def stop(processes: Processes) -> None:
    if processes.distributed and dist.is_initialized():
        dist.destroy_process_group()


def sum_across(values: torch.Tensor, processes: Processes) -> torch.Tensor:
    """Element-wise sum of ``values`` over all processes (``values`` itself for one process)."""
    if processes.distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values
