"""Loss, metric and trivial baseline for each task.

Regression: loss MSE, metric MAE; baseline: predict the training targets' mean (per output unit).
Classification: loss cross-entropy, metric accuracy; baseline: predict the training set's class
frequencies (cross-entropy of that prior; accuracy of its most frequent class).
Frames (next-frame prediction): loss MSE, metric MAE over every cell; baseline: persistence, each
input frame predicting the next one.

Everything is summed per batch and divided by the count at the end, so sums from several batches
(or processes) combine exactly; the mean loss for backward equals ``F.mse_loss`` / ``F.cross_entropy``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lstm2d.train.data import Task


@dataclass(frozen=True)
class Scores:
    """A loss and a metric, e.g. validation or baseline scores."""

    loss: float
    metric: float


class Objective:
    """The loss and metric of a task, for model outputs ``(B, units)`` or ``(B, T, units)``.

    ``probabilities``: the model ends in a softmax, so its outputs are probabilities, not logits.
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
        """Validation scores of the trivial predictor fitted on the training targets (frames: persistence)."""
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
