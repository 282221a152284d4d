"""Loss, metric and trivial baseline of each output's task, and of a model's outputs together.

Regression: loss MSE, metric MAE; baseline: predict the training targets' mean (per output unit).
Classification: loss cross-entropy, metric accuracy; baseline: predict the training set's class
frequencies (cross-entropy of that prior; accuracy of its most frequent class).
Frames (next-frame prediction): loss MSE, metric MAE over every cell; baseline: persistence, each
input frame predicting the next one.

A model of several outputs minimises the sum of its outputs' mean losses, each output's from its own task.
Everything is summed per batch and divided by the count at the end, so sums from several batches
(or processes) combine exactly; the mean loss for backward equals ``F.mse_loss`` / ``F.cross_entropy``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from lstm2d.train.data import SampleSet, Task


@dataclass(frozen=True)
class Scores:
    """A loss and a metric: one output's, e.g. on validation or of its trivial baseline."""

    loss: float
    metric: float


@dataclass(frozen=True)
class Evaluation:
    """Every output's scores, by output name. ``loss`` is the sum of their losses, what training minimises; ``metric``
    is the metric of a model's one output (``None`` with several outputs: each has its own, in ``outputs``)."""

    outputs: dict[str, Scores]

    @property
    def loss(self) -> float:
        return sum(scores.loss for scores in self.outputs.values())

    @property
    def metric(self) -> float | None:
        return next(iter(self.outputs.values())).metric if len(self.outputs) == 1 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss": self.loss,
            "metric": self.metric,
            "outputs": {name: {"loss": s.loss, "metric": s.metric} for name, s in self.outputs.items()},
        }


class OutputObjective:
    """The loss and metric of one output's task, for outputs ``(B, units)`` or ``(B, T, units)`` (frames: like the target).

    ``probabilities``: the output is a softmax's, so it holds probabilities, not logits.
    """

    def __init__(self, task: Task, *, probabilities: bool = False) -> None:
        self.task = task
        self.probabilities = probabilities
        self.loss_name, self.metric_name = ("cross_entropy", "accuracy") if task.kind == "classification" else ("mse", "mae")

    def sums(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``[loss sum, metric sum, count]`` of one batch as a float32 tensor (the loss sum keeps its graph)."""
        output = output.float()
        if self.task.kind != "classification":
            error = output - target
            loss, metric, count = error.square().sum(), error.detach().abs().sum(), target.numel()
        else:
            scores = output.reshape(-1, output.shape[-1])  # (B or B*T, classes)
            labels = target.reshape(-1)
            if self.probabilities:
                loss = F.nll_loss(scores.clamp_min(1e-12).log(), labels, reduction="sum")
            else:
                loss = F.cross_entropy(scores, labels, reduction="sum")
            metric, count = (scores.detach().argmax(dim=1) == labels).sum(), labels.numel()
        return torch.stack([loss, metric.to(loss.dtype), torch.tensor(float(count), device=loss.device)])

    def baseline(self, train_targets: torch.Tensor, val_targets: torch.Tensor, val_inputs: torch.Tensor) -> Scores:
        """Validation scores of the trivial predictor fitted on the training targets (frames: persistence of
        ``val_inputs``, the frames the targets follow)."""
        if self.task.kind == "frames":
            error = val_targets.double() - val_inputs.double()  # (N, T, C, H, W): frame t predicts frame t + 1
            return Scores(loss=error.square().mean().item(), metric=error.abs().mean().item())
        if self.task.kind == "regression":
            units = self.task.units
            mean = train_targets.reshape(-1, units).double().mean(dim=0)
            error = val_targets.reshape(-1, units).double() - mean
            return Scores(loss=error.square().mean().item(), metric=error.abs().mean().item())
        classes = self.task.units
        counts = torch.bincount(train_targets.reshape(-1), minlength=classes).double()
        prior = (counts + 1) / (counts.sum() + classes)  # add-one smoothing: no class has probability 0
        labels = val_targets.reshape(-1)
        return Scores(loss=-prior.log()[labels].mean().item(), metric=(labels == counts.argmax()).double().mean().item())


class Objective:
    """Every output's objective, by output name in the model's output order; running sums are ``(outputs, 3)``:
    ``[loss sum, metric sum, count]`` per output."""

    def __init__(self, tasks: Mapping[str, Task], *, probabilities: Mapping[str, bool] | None = None) -> None:
        self.outputs = {
            name: OutputObjective(task, probabilities=bool((probabilities or {}).get(name))) for name, task in tasks.items()
        }

    def sums(self, outputs: torch.Tensor | Sequence[torch.Tensor], targets: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``(outputs, 3)`` sums of one batch (the loss sums keep their graph); ``outputs`` in the model's order."""
        given = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        return torch.stack(
            [head.sums(output, targets[name]) for (name, head), output in zip(self.outputs.items(), given, strict=True)]
        )

    @staticmethod
    def loss(sums: torch.Tensor) -> torch.Tensor:
        """The loss to minimise from ``(outputs, 3)`` sums: the sum of every output's mean loss."""
        return (sums[:, 0] / sums[:, 2]).sum()

    def evaluation(self, sums: Sequence[Sequence[float]]) -> Evaluation:
        """Mean loss and metric per output from ``(outputs, 3)`` sums (as numbers)."""
        return Evaluation(
            {name: Scores(loss / count, metric / count) for name, (loss, metric, count) in zip(self.outputs, sums, strict=True)}
        )

    def baseline(self, train: SampleSet, val: SampleSet) -> Evaluation:
        """Every output's trivial baseline on validation (frames: persistence of the model's one input)."""
        frames = next(iter(val.inputs.values()))
        return Evaluation(
            {name: head.baseline(train.targets[name], val.targets[name], frames) for name, head in self.outputs.items()}
        )

    def columns(self, prefix: str, evaluation: Evaluation) -> dict[str, float]:
        """The ``metrics.csv`` columns of an evaluation: ``<prefix>_<loss>`` and ``<prefix>_<metric>`` for a model of
        one output (``train_mse``, ``val_accuracy``); with several, ``<prefix>_loss`` (the sum) and
        ``<prefix>_<output>_<loss>``, ``<prefix>_<output>_<metric>`` for each."""
        if len(self.outputs) == 1:
            ((head, scores),) = zip(self.outputs.values(), evaluation.outputs.values(), strict=True)
            return {f"{prefix}_{head.loss_name}": scores.loss, f"{prefix}_{head.metric_name}": scores.metric}
        columns = {f"{prefix}_loss": evaluation.loss}
        for (name, head), scores in zip(self.outputs.items(), evaluation.outputs.values(), strict=True):
            columns[f"{prefix}_{name}_{head.loss_name}"] = scores.loss
            columns[f"{prefix}_{name}_{head.metric_name}"] = scores.metric
        return columns

    def from_columns(self, prefix: str, row: Mapping[str, float]) -> Evaluation:
        """The evaluation :meth:`columns` wrote into ``row``."""
        keys = [""] if len(self.outputs) == 1 else [f"{name}_" for name in self.outputs]
        return Evaluation(
            {
                name: Scores(row[f"{prefix}_{key}{head.loss_name}"], row[f"{prefix}_{key}{head.metric_name}"])
                for key, (name, head) in zip(keys, self.outputs.items(), strict=True)
            }
        )

    def plotted(self) -> list[str]:
        """The column names (without ``train_`` / ``val_`` / ``baseline_``) worth a panel of the loss curve: the loss
        and metric of a model's one output; with several, the summed loss and each output's metric."""
        if len(self.outputs) == 1:
            head = next(iter(self.outputs.values()))
            return [head.loss_name, head.metric_name]
        return ["loss", *(f"{name}_{head.metric_name}" for name, head in self.outputs.items())]

    def format(self, evaluation: Evaluation) -> str:
        """``mse 0.01 mae 0.08``; with several outputs ``loss 1.2 (out: mse 0.01 mae 0.08; cls: cross_entropy ...)``."""
        parts = [
            f"{head.loss_name} {scores.loss:.4g} {head.metric_name} {scores.metric:.4g}"
            for head, scores in zip(self.outputs.values(), evaluation.outputs.values(), strict=True)
        ]
        if len(parts) == 1:
            return parts[0]
        named = "; ".join(f"{name}: {part}" for name, part in zip(self.outputs, parts, strict=True))
        return f"loss {evaluation.loss:.4g} ({named})"
