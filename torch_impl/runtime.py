"""Run any ``nn.Module`` fast on a device and dtype: training steps and inference, nothing model-specific.

What it applies, each an option of :class:`RuntimeOptions`:

- reduced precision by autocast (``bf16`` on CPU and CUDA, ``fp16`` on CUDA with loss scaling);
  weights and optimizer state stay fp32;
- ``torch.compile`` (inductor), recurrent layers included (Dynamo's ``allow_rnn``; compiling a
  100-step LSTM's training step takes minutes on two cores, once per shape);
- CUDA graphs for fixed shapes: the first call captures the inference forward, or a training
  step's forward and backward; every call copies the batch in and replays;
- inference without autograd (``torch.inference_mode``, eval mode);
- compacted recurrent weights (``flatten_parameters``), which cuDNN's fused LSTM wants;
- TF32 on CUDA, off unless asked (fp32 means fp32).

Models from ``torch_impl.build_model`` work unchanged; so does any other module.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

Dtype = Literal["fp32", "bf16", "fp16"]
TORCH_DTYPES: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
Tensors = torch.Tensor | tuple[torch.Tensor, ...]
"""A model's inputs, outputs or targets: one tensor, or a tuple (a model of several inputs or outputs)."""


@dataclass(frozen=True)
class RuntimeOptions:
    """How to run a model. ``dtype`` is the autocast compute dtype; ``fp32`` disables autocast."""

    dtype: Dtype = "fp32"
    compile: bool = False
    compile_mode: str | None = None  # torch.compile's mode ("default", "max-autotune", ...); None: its default
    cuda_graphs: bool = False
    tf32: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in TORCH_DTYPES:
            raise ValueError(f"dtype: expected one of {', '.join(TORCH_DTYPES)}, got {self.dtype!r}")
        if self.cuda_graphs and self.dtype == "fp16":
            raise ValueError("cuda_graphs with fp16 loss scaling is not supported; use bf16, which needs no scaling")


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter (CPU for a parameter-free module)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


@contextlib.contextmanager
def precision(device: torch.device, options: RuntimeOptions) -> Iterator[None]:
    """Autocast in ``options.dtype`` (nothing for fp32), with the TF32 setting applied on CUDA."""
    with contextlib.ExitStack() as stack:
        if device.type == "cuda":
            stack.enter_context(_tf32(options.tf32))
        if options.dtype != "fp32":
            stack.enter_context(torch.autocast(device.type, dtype=TORCH_DTYPES[options.dtype]))
        yield


@contextlib.contextmanager
def _tf32(enabled: bool) -> Iterator[None]:
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _prepare(model: nn.Module, options: RuntimeOptions) -> Callable[..., Any]:
    """Compact recurrent weights for cuDNN, then compile if asked."""
    for module in model.modules():
        if isinstance(module, nn.RNNBase):
            module.flatten_parameters()
    if not options.compile:
        return model
    compiled = torch.compile(model, mode=options.compile_mode)

    def run(*args: torch.Tensor) -> Any:
        # torch 2.13's Dynamo refuses nn.LSTM unless allow_rnn is set, and a refusal inside the
        # model's loop over layers makes it skip the whole forward (eager, silently). With it, the
        # LSTM is decomposed: one input-projection matmul, then per-step matmuls and fused gates.
        # oneDNN off while tracing: otherwise an LSTM fed straight from the input is kept as one
        # aten.mkldnn_rnn_layer call, which inductor's wrapper then calls with invalid arguments.
        with torch._dynamo.config.patch(allow_rnn=True), torch.backends.mkldnn.flags(enabled=False):
            return compiled(*args)

    return run


def _check_cuda_graphs(device: torch.device, options: RuntimeOptions) -> None:
    if options.cuda_graphs and device.type != "cuda":
        raise ValueError(f"cuda_graphs needs a model on a CUDA device, this one is on {device}")


class _Capture:
    """A CUDA graph of ``body`` over static input tensors: captured on the first call, replayed on every call.

    ``body`` first runs three times on a side stream (cuDNN's algorithm choice and the allocator
    settle there), then ``reset`` runs, then ``body`` is captured. Later calls must bring tensors of
    the captured shapes and dtypes; they are copied into the static inputs before each replay. The
    output (a tensor or a tuple of them) is the graph's static one.
    """

    def __init__(self, body: Callable[..., Any], reset: Callable[[], None] = lambda: None) -> None:
        self.body = body
        self.reset = reset
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, ...] = ()
        self.output: Any = None

    def __call__(self, *tensors: torch.Tensor) -> Any:
        if self.graph is None:
            self._capture(tensors)
        for static, tensor in zip(self.inputs, tensors, strict=True):
            if static.shape != tensor.shape or static.dtype != tensor.dtype:
                raise ValueError(
                    f"this CUDA graph was captured for inputs {[tuple(t.shape) for t in self.inputs]}, "
                    f"got {[tuple(t.shape) for t in tensors]}; build another runner for other shapes"
                )
            static.copy_(tensor)
        assert self.graph is not None
        self.graph.replay()
        return self.output

    def _capture(self, tensors: tuple[torch.Tensor, ...]) -> None:
        self.inputs = tuple(t.clone() for t in tensors)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.body(*self.inputs)
        torch.cuda.current_stream().wait_stream(side)
        self.reset()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.output = self.body(*self.inputs)


class InferenceRunner:
    """``runner(x)`` is ``model(x)`` in eval mode without autograd, in the options' dtype; a model of several inputs
    takes them positionally, ``runner(x1, x2, ...)``, and returns what the model returns (a tuple for several outputs).

    With ``cuda_graphs`` the returned tensor is the graph's static output: the next call
    overwrites it (clone it to keep it).
    """

    def __init__(self, model: nn.Module, options: RuntimeOptions = RuntimeOptions()) -> None:
        self.device = model_device(model)
        _check_cuda_graphs(self.device, options)
        self.options = options
        self.forward = _prepare(model.eval(), options)
        self._capture = _Capture(self._run) if options.cuda_graphs else None

    def _run(self, *inputs: torch.Tensor) -> Any:
        with torch.inference_mode(), precision(self.device, self.options):
            return self.forward(*inputs)

    def __call__(self, *inputs: torch.Tensor) -> Any:
        return self._capture(*inputs) if self._capture is not None else self._run(*inputs)


class TrainingStep:
    """``step(x, y)``: zero the gradients, forward in the options' dtype, loss, backward, optimizer step.

    ``x`` is the model's input, or a tuple of its inputs (passed positionally); ``y`` the target, or a tuple of
    targets, given to ``loss_fn(outputs, y)`` as it comes.

    Returns the loss (detached). fp16 scales the loss (``torch.amp.GradScaler``). With
    ``cuda_graphs``, forward, loss and backward are one captured graph that writes the gradients
    into the same buffers on every replay (so they are not zeroed in between); the optimizer step
    runs after each replay, outside the graph (a fused optimizer is one kernel per parameter
    group, and its state stays the optimizer's own). The returned loss is the graph's static tensor.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor],
        options: RuntimeOptions = RuntimeOptions(),
    ) -> None:
        self.device = model_device(model)
        _check_cuda_graphs(self.device, options)
        self.options = options
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.forward = _prepare(model.train(), options)
        self.scaler = torch.amp.GradScaler(self.device.type) if options.dtype == "fp16" else None
        self._capture = _Capture(self._forward_backward, self._drop_gradients) if options.cuda_graphs else None
        self._split = (1, False)  # of the flat tensors _forward_backward gets: (how many are inputs, whether y is a tuple)

    def _drop_gradients(self) -> None:
        """Before capture: no gradient buffers, so the captured backward allocates (and then rewrites) its own."""
        self.optimizer.zero_grad(set_to_none=True)

    def _forward_backward(self, *tensors: torch.Tensor) -> torch.Tensor:
        """Forward, loss and backward on the inputs then the targets, flat (as a CUDA graph captures them)."""
        count, several_targets = self._split
        targets = tensors[count:] if several_targets else tensors[count]
        with precision(self.device, self.options):
            loss = self.loss_fn(self.forward(*tensors[:count]), targets)
        (loss if self.scaler is None else self.scaler.scale(loss)).backward()
        return loss.detach()

    def __call__(self, x: Tensors, y: Tensors) -> torch.Tensor:
        inputs = x if isinstance(x, tuple) else (x,)
        targets = y if isinstance(y, tuple) else (y,)
        self._split = (len(inputs), isinstance(y, tuple))
        if self._capture is not None:
            loss = self._capture(*inputs, *targets)
        else:
            self.optimizer.zero_grad(set_to_none=True)
            loss = self._forward_backward(*inputs, *targets)
        if self.scaler is None:
            self.optimizer.step()
        else:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return loss
