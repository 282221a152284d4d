"""The training loop: :func:`train` runs one :class:`TrainConfig` in one process, or in each of torchrun's.

Per step: forward under autocast (``--amp``), loss in float32, backward (scaled for fp16), optional
gradient clipping, AdamW step, per-step LR schedule. Per epoch: validation on every process's shard,
summed across processes, the trivial baseline beside it, ``metrics.csv``, ``loss.png`` and a checkpoint.

Data order is a function of (seed, epoch) only, through a ``DistributedSampler`` (one replica for a
single process), so a run resumed mid-epoch skips exactly the batches already done, and N processes
with global batch B see the same batches as one process with batch B.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

import torch_impl
from lstm2d.spec import dims_text
from lstm2d.train import checkpoint, distributed, report
from lstm2d.train.checkpoint import Position, Trainables
from lstm2d.train.config import TrainConfig
from lstm2d.train.data import SampleSet, load_data
from lstm2d.train.data.dataset import Sample
from lstm2d.train.errors import TrainError
from lstm2d.train.interrupt import StopRequest
from lstm2d.train.model_setup import for_model, load_base, prepare_model
from lstm2d.train.objective import Evaluation, Objective
from lstm2d.train.progress import ProgressBar

EpochHook = Callable[[dict[str, float]], bool]
PLOT_EVERY_S = 60.0  # loss.png is redrawn after an epoch at most this often (a plot costs ~0.5 s), and at the end
STOP_CHECK_EVERY = 8  # steps between the processes' agreement on stopping (one tiny all-reduce); every step alone


@dataclass(frozen=True)
class TrainResult:
    """How a run ended. ``final`` is the last validation (``None`` if no epoch completed); times in seconds."""

    out: Path
    history: list[dict[str, float]]
    final: Evaluation | None
    baseline: Evaluation
    interrupted: bool
    train_s: float
    wall_s: float


def train(
    config: TrainConfig, *, on_epoch_end: EpochHook | None = None, echo: Callable[[str], None] | None = None
) -> TrainResult:
    """Train as ``config`` says, in this process or, under torchrun, in each of its processes.

    ``on_epoch_end(row)`` is called after each epoch's checkpoint with its ``metrics.csv`` row; returning True
    stops the run there as Ctrl-C would (under torchrun it must answer the same in every process).
    ``echo`` prints the progress lines (in the main process only; default: stdout, flushed, for logs).
    """
    processes = distributed.from_environment()
    if config.batch_size % processes.world_size:
        raise TrainError(
            f"--batch-size {config.batch_size} is the global batch: "
            f"expected a multiple of the process count {processes.world_size}"
        )
    device = distributed.resolve_device(config.device, processes)
    distributed.start(processes, device)
    try:
        echo = (echo or _print_flushed) if processes.main else _silent
        return TrainingRun(config, processes, device, echo=echo).fit(on_epoch_end)
    finally:
        distributed.stop(processes)


def _print_flushed(line: str) -> None:
    print(line, flush=True)


def _silent(line: str) -> None:
    """``echo`` of the processes other than the main one."""


class ResumableSampler(DistributedSampler[int]):
    """``DistributedSampler`` that can start an epoch after the samples of its first batches (for resuming)."""

    skip = 0  # this process's samples to leave out at the start of the epoch

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return max(0, self.num_samples - self.skip)


class TrainingRun:
    """One run's state: data, model, optimizer, position; :meth:`fit` trains to the end or to a stop request."""

    def __init__(
        self, config: TrainConfig, processes: distributed.Processes, device: torch.device, *, echo: Callable[[str], None]
    ) -> None:
        self.config, self.processes, self.device, self.echo = config, processes, device, echo
        self.started = time.perf_counter()
        self.plots = processes.main and report.can_plot()
        if processes.main:
            if not self.plots:
                echo(report.PLOT_SKIPPED)
            if config.out.exists() and not config.out.is_dir():
                raise TrainError(f"--out {config.out}: expected a folder, found a file")
            config.out.mkdir(parents=True, exist_ok=True)
        checkpoint.check_resumable(config.out, resume=config.resume)
        self.local_batch = config.batch_size // processes.world_size
        self.amp_dtype = _amp_dtype(config.amp, device)

        base = load_base(config.model)
        data = load_data(config.data, base.spec, seed=config.seed)
        prepared = prepare_model(base, data, seed=config.seed)
        self.model = prepared.model
        self.notes = prepared.notes
        self.data = for_model(data, self.model)
        self.objective = Objective(self.data.tasks, probabilities=dict(zip(self.data.tasks, prepared.probabilities, strict=True)))
        self.baseline = self.objective.baseline(self.data.train, self.data.val)
        self.steps_per_epoch = math.ceil(math.ceil(len(self.data.train) / processes.world_size) / self.local_batch)

        self.model.to(device)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.parts = Trainables(
            model=self.model,
            optimizer=optimizer,
            scheduler=_scheduler(config, optimizer, self.steps_per_epoch * config.epochs),
            scaler=torch.amp.GradScaler(device.type, enabled=config.amp == "fp16"),
        )
        self.run_identity = {"settings": config.trajectory(), "data": self.data.fingerprint}
        self.position = checkpoint.load(config.out, self.parts, self.run_identity) if config.resume else Position()
        self.elapsed_before, self.session_started = self.position.elapsed_s, time.perf_counter()
        self.epoch_rate = 0.0
        self.plotted = time.perf_counter()
        module: torch.nn.Module = self.model
        if processes.distributed:
            module = DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)
        # torch.compile returns an nn.Module (an OptimizedModule) for a module; its stubs say only Callable.
        self.module = cast(torch.nn.Module, torch.compile(module)) if config.compile else module

    # -- the run ------------------------------------------------------------------------

    def fit(self, on_epoch_end: EpochHook | None) -> TrainResult:
        self._print_header()
        config, position = self.config, self.position
        interrupted = False
        with StopRequest(announce=self.processes.main) as stop:
            while position.epoch < config.epochs:
                if self._train_epoch(stop):
                    interrupted = True
                    break
                row = self._end_epoch()
                asked = stop.agreed(self.processes, self.device) or bool(on_epoch_end and on_epoch_end(row))
                if asked and position.epoch < config.epochs:
                    interrupted = True
                    break
            self._save_checkpoint()
        self._plot()
        if interrupted:
            self.echo(
                f"stopped at epoch {position.epoch + 1}, batch {position.batch}/{self.steps_per_epoch}: checkpoint in "
                f"{config.out / checkpoint.FOLDER}; continue with the same command and --resume"
            )
        else:
            self._finish()
        history = position.history
        return TrainResult(
            out=config.out,
            history=history,
            final=self.objective.from_columns("val", history[-1]) if history else None,
            baseline=self.baseline,
            interrupted=interrupted,
            train_s=position.elapsed_s,
            wall_s=time.perf_counter() - self.started,
        )

    def _train_epoch(self, stop: StopRequest) -> bool:
        """Train the rest of the current epoch; True if a stop request ended it early (after a completed step)."""
        config, position, processes = self.config, self.position, self.processes
        sampler = ResumableSampler(
            self.data.train, num_replicas=processes.world_size, rank=processes.rank, shuffle=True, seed=config.seed
        )
        sampler.set_epoch(position.epoch)
        sampler.skip = position.batch * self.local_batch
        loader = self._loader(self.data.train, sampler, seed=config.seed + position.epoch)
        # Running sums of this epoch, [loss, metric, count] per output; a checkpoint holds them summed over processes.
        running = torch.zeros(len(self.objective.outputs), 3, dtype=torch.float64, device=self.device)
        if processes.main and position.running:
            running += torch.tensor(position.running, dtype=torch.float64, device=self.device).reshape(running.shape)
        label = f"epoch {position.epoch + 1}/{config.epochs}"
        bar = ProgressBar(label=label, total=self.steps_per_epoch, enabled=processes.main)
        samples, started = 0, time.perf_counter()
        self.module.train()
        for inputs, targets in loader:
            running += self._step(self._to_device(inputs), self._to_device(targets))
            position.batch += 1
            position.step += 1
            samples += len(next(iter(targets.values()))) * processes.world_size
            bar.update(position.batch, samples, partial(_mean_loss, running))
            if (not processes.distributed or position.batch % STOP_CHECK_EVERY == 0) and stop.agreed(processes, self.device):
                bar.close()
                position.running = distributed.sum_across(running, processes).flatten().tolist()
                return True
        bar.close()
        position.running = distributed.sum_across(running, processes).flatten().tolist()
        self.epoch_rate = samples / max(time.perf_counter() - started, 1e-9)
        return False

    def _to_device(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {name: tensor.to(self.device, non_blocking=True) for name, tensor in tensors.items()}

    def _step(self, inputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimizer step on a batch (inputs by input name, targets by output name); returns the batch's
        ``(outputs, 3)`` sums [loss, metric, count]."""
        parts = self.parts
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            outputs = self.module(inputs)
        sums = self.objective.sums(outputs, targets)
        parts.optimizer.zero_grad(set_to_none=True)
        parts.scaler.scale(self.objective.loss(sums)).backward()
        if self.config.clip_grad_norm is not None:
            parts.scaler.unscale_(parts.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        parts.scaler.step(parts.optimizer)
        parts.scaler.update()
        parts.scheduler.step()
        return sums.detach().double()

    @torch.no_grad()
    def validate(self) -> Evaluation:
        """Validation scores: each process takes every ``world_size``-th sample, sums are combined exactly."""
        processes = self.processes
        indices = range(processes.rank, len(self.data.val), processes.world_size)
        totals = torch.zeros(len(self.objective.outputs), 3, dtype=torch.float64, device=self.device)
        self.module.eval()
        for inputs, targets in self._loader(self.data.val, indices, seed=0):
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                outputs = self.module(self._to_device(inputs))
            totals += self.objective.sums(outputs, self._to_device(targets)).double()
        self.module.train()
        return self.objective.evaluation(distributed.sum_across(totals, processes).tolist())

    def _end_epoch(self) -> dict[str, float]:
        """Validate, record the epoch, write metrics, plot and checkpoint; returns the epoch's row."""
        position, objective = self.position, self.objective
        scores = self.validate()
        self._clock()
        outputs = len(objective.outputs)
        trained = objective.evaluation([position.running[3 * k : 3 * k + 3] for k in range(outputs)])
        row = {
            "epoch": position.epoch + 1,
            "step": position.step,
            "lr": float(self.parts.scheduler.get_last_lr()[0]),
            **objective.columns("train", trained),
            **objective.columns("val", scores),
            **objective.columns("baseline", self.baseline),
            "samples_per_s": self.epoch_rate,
            "train_s": position.elapsed_s,
        }
        position.history.append(row)
        position.epoch += 1
        position.batch = 0
        position.running = []
        if self.processes.main:
            report.write_metrics_csv(self.config.out / "metrics.csv", position.history)
            if time.perf_counter() - self.plotted > PLOT_EVERY_S:
                self._plot()
        self._save_checkpoint()
        self.echo(self._epoch_line(row))
        return row

    def _plot(self) -> None:
        if self.plots and self.position.history:
            report.plot_loss_curve(
                self.config.out / "loss.png",
                self.position.history,
                self.objective.plotted(),
                title=f"{self.model.spec.name} on {self.config.data.source}",
            )
        self.plotted = time.perf_counter()

    def _clock(self) -> None:
        """Bring ``position.elapsed_s`` (time in :meth:`fit`, over all sessions of the run) up to now."""
        self.position.elapsed_s = self.elapsed_before + time.perf_counter() - self.session_started

    def _save_checkpoint(self) -> None:
        self._clock()
        if self.processes.main:
            checkpoint.save(self.config.out, self.parts, self.position, self.run_identity)

    def _finish(self) -> None:
        """The final model (and its Keras export) and a summary, written by the main process."""
        if not self.processes.main:
            return
        out = self.config.out
        torch_impl.save_safetensors(self.model, out / "model.safetensors")
        written = ["model.safetensors", "metrics.csv", *(["loss.png"] if self.plots else []), "summary.json"]
        if self.config.export_keras is not None:
            try:
                torch_impl.to_keras(self.model, self.config.export_keras)
            except torch_impl.ModelFileError as exc:
                raise TrainError(f"--export-keras: {exc}") from None
            written.append(str(self.config.export_keras))
        history = self.position.history
        summary = {
            "model": self.model.spec.name,
            "data": self.data.description,
            "task": self.data.describe_tasks(),
            "epochs": self.position.epoch,
            "final": history[-1] if history else None,
            "baseline": self.baseline.to_dict(),
            "train_s": self.position.elapsed_s,
            "device": str(self.device),
            "processes": self.processes.world_size,
            "settings": self.config.trajectory(),
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
        if history:
            self.echo(
                f"done: validation {self.objective.format(self.objective.from_columns('val', history[-1]))} vs trivial baseline "
                f"{self.objective.format(self.baseline)} after {self.position.epoch} epochs, {self.position.elapsed_s:.1f} s; "
                f"wrote {', '.join(written)} in {out}"
            )

    # -- helpers --------------------------------------------------------------------------

    def _loader(self, dataset: SampleSet, sampler: Iterable[int], *, seed: int) -> DataLoader[Sample]:
        """Batches of ``local_batch``; workers and pinned memory on CUDA. ``seed`` seeds the workers, not the order."""
        workers = self.config.workers
        if workers is None:
            workers = min(4, os.cpu_count() or 1) if self.device.type == "cuda" else 0
        return DataLoader(
            dataset,
            batch_size=self.local_batch,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.device.type == "cuda",
            worker_init_fn=_ignore_interrupts if workers else None,
            generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched by data loading
        )

    def _print_header(self) -> None:
        config, data, processes = self.config, self.data, self.processes
        inputs = ", ".join(f"{i.name} {dims_text(i.per_sample)}" for i in self.model.spec.inputs)
        self.echo(f"model: {self.model.spec.name} ({config.model.kind} {config.model.value}); inputs per sample: {inputs}")
        for note in self.notes:
            self.echo(f"  adapted: {note}")
        self.echo(f"data: {data.description}; {data.describe_tasks()}")
        where = (
            f"{processes.world_size} processes of {self.local_batch} samples per step" if processes.distributed else "1 process"
        )
        self.echo(
            f"device: {self.device}, {where}; amp {config.amp}{', compiled' if config.compile else ''}; "
            f"batch {config.batch_size}, lr {config.lr:g} ({config.lr_schedule}), {self.steps_per_epoch} steps per epoch"
        )
        self.echo(f"trivial baseline on validation: {self.objective.format(self.baseline)}")
        if self.position.step:
            self.echo(f"resuming at epoch {self.position.epoch + 1}, batch {self.position.batch} (step {self.position.step})")

    def _epoch_line(self, row: dict[str, float]) -> str:
        objective = self.objective
        return (
            f"epoch {row['epoch']}/{self.config.epochs}  train {objective.format(objective.from_columns('train', row))}"
            f"  val {objective.format(objective.from_columns('val', row))}  (baseline {objective.format(self.baseline)})"
            f"  {row['samples_per_s']:,.0f} samples/s"
        )


def _mean_loss(sums: torch.Tensor) -> float:
    """The loss of running ``(outputs, 3)`` sums: the sum of every output's mean loss."""
    return Objective.loss(sums).item()


def _amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``--amp`` on ``device`` (``None``: full precision)."""
    if amp == "off":
        return None
    if amp == "fp16" and device.type == "cpu":
        raise TrainError("--amp fp16 is for CUDA (oneDNN has no float16 LSTM on most CPUs); use --amp bf16 on the CPU")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise TrainError(f"--amp bf16: {torch.cuda.get_device_name(device)} does not support bfloat16; use --amp fp16")
    return torch.bfloat16 if amp == "bf16" else torch.float16


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The per-step LR schedule: constant, cosine decay to 0, or one-cycle (warm-up to ``lr``, then down)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
    if config.lr_schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps)
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


def _ignore_interrupts(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which stops cleanly (a dead worker would crash it)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
