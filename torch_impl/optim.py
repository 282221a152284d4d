"""Training a torch model the way Keras trains its twin: Keras' Adam.

Two things make a torch training run drift from the same run in Keras, with the same weights and batches:

- **Adam's epsilon.** Keras (``keras/src/optimizers/adam.py``) updates
  ``var -= alpha * m / (sqrt(v) + eps)`` with ``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`` and
  ``eps = 1e-7``; ``torch.optim.Adam`` divides the bias-corrected moments, ``m_hat / (sqrt(v_hat) + eps)``,
  with ``eps = 1e-8``. They agree only if torch's epsilon were ``eps_keras / sqrt(1 - beta_2^t)``, which
  changes every step. :class:`KerasAdam` is Keras' update, op for op.
- **The recurrent biases.** Keras' LSTM, SimpleRNN and GRU(reset_after=False) have one bias where
  ``nn.LSTM`` / ``nn.RNN`` have two, ``bias_ih`` and ``bias_hh``, which the cell only ever adds. Both get
  the same gradient, so training both moves their sum twice as far as Keras moves its bias (SGD) or
  by up to twice the step (Adam). lstm2d's recurrent layers therefore keep the ``bias_hh`` tensors Keras
  does not have frozen (``requires_grad=False``); ``bias_ih + bias_hh`` then follows Keras' bias exactly,
  whatever ``bias_hh`` holds, when ``model.parameters()`` is trained.

Keras' plain SGD (``momentum=0``) is ``torch.optim.SGD``'s update, ``var -= lr * grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn


class KerasAdam(torch.optim.Optimizer):
    """Keras 3's ``keras.optimizers.Adam`` as a ``torch.optim.Optimizer``: same defaults, same update, same op order.

    Per step ``t`` (one count for the whole optimizer, like Keras' ``iterations``; a parameter without a
    gradient is skipped but the count still advances), for each parameter ``var`` with gradient ``g``::

        var -= var * weight_decay * lr                      # only if weight_decay (Keras' decoupled decay)
        alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)
        m += (g - m) * (1 - beta_1)
        v += (g * g - v) * (1 - beta_2)
        v_hat = max(v_hat, v)                               # only with amsgrad; then v_hat replaces v below
        var -= m * alpha / (sqrt(v) + epsilon)

    Args mirror Keras' (``learning_rate`` is ``lr``): ``lr=1e-3``, ``beta_1=0.9``, ``beta_2=0.999``,
    ``epsilon=1e-7``, ``amsgrad=False``, ``weight_decay=None``::

        optimizer = KerasAdam(model.parameters(), lr=1e-3)
    """

    def __init__(
        self,
        params: Iterable[nn.Parameter] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        weight_decay: float | None = None,
    ) -> None:
        if not lr >= 0:
            raise ValueError(f"lr: expected a non-negative number, got {lr!r}")
        for name, beta in (("beta_1", beta_1), ("beta_2", beta_2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{name}: expected a number in [0, 1), got {beta!r}")
        if not epsilon >= 0:
            raise ValueError(f"epsilon: expected a non-negative number, got {epsilon!r}")
        if weight_decay is not None and not weight_decay >= 0:
            raise ValueError(f"weight_decay: expected None or a non-negative number, got {weight_decay!r}")
        defaults = {"lr": lr, "beta_1": beta_1, "beta_2": beta_2, "epsilon": epsilon, "amsgrad": amsgrad,
                    "weight_decay": weight_decay, "step": 0}  # fmt: skip
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(  # type: ignore[override]  # torch's stub wants a float-returning closure; ours returns the loss tensor
        self, closure: Callable[[], torch.Tensor] | None = None
    ) -> torch.Tensor | None:
        """One Keras Adam update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            group["step"] += 1
            beta_1, beta_2, epsilon = group["beta_1"], group["beta_2"], group["epsilon"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                if param.grad.is_sparse:
                    raise RuntimeError("KerasAdam does not support sparse gradients")
                self._update(param, param.grad, self.state[param], group, beta_1, beta_2, epsilon)
        return loss

    @staticmethod
    def _update(
        param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any], group: dict[str, Any],
        beta_1: float, beta_2: float, epsilon: float,
    ) -> None:  # fmt: skip
        if not state:
            state["momentum"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["velocity"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["velocity_hat"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        lr = torch.tensor(group["lr"], dtype=param.dtype, device=param.device)
        if group["weight_decay"]:
            param.sub_(param * (group["weight_decay"] * lr))
        step = torch.tensor(float(group["step"]), dtype=param.dtype, device=param.device)
        beta_1_power = torch.tensor(beta_1, dtype=param.dtype, device=param.device) ** step
        beta_2_power = torch.tensor(beta_2, dtype=param.dtype, device=param.device) ** step
        alpha = lr * torch.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        m, v = state["momentum"], state["velocity"]
        grad = grad.to(param.dtype)
        m.add_((grad - m) * (1 - beta_1))
        v.add_((grad.square() - v) * (1 - beta_2))
        if group["amsgrad"]:
            v_hat = state["velocity_hat"]
            torch.maximum(v_hat, v, out=v_hat)
            v = v_hat
        param.sub_((m * alpha) / (v.sqrt() + epsilon))


__all__ = ["KerasAdam"]
