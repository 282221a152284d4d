"""Conv2D + activation + non-overlapping max pooling as one op that never holds the full-size feature map.

Why: a per-frame CNN on small grids (seed-cnn: 1 -> 32 channels on 10x10 frames) is memory-bound,
not compute-bound. Run layer by layer, the 32-channel convolution output is 32x the size of its
input, and the activation and the max-pool each read it again: profiles of the plain version
spend more than half of a training step there. This op computes the convolution as an im2col
matrix product over chunks of frames small enough that the pre-pool block stays in the L2
cache, takes the max over each pooling window at once, then adds the bias and applies the
activation to the 4x smaller pooled map (max commutes with a per-channel bias and with any
non-decreasing activation: ``max(a(z + b)) = a(max(z) + b)``).

The backward pass saves nothing beyond the input frames, the weight and the output: it
recomputes each chunk's convolution to find which cell of each window won. Where several
cells tie for the max, they share the gradient equally (as ``torch.amax`` does; a max pool
gives it all to one cell; both are valid subgradients and agree wherever the max is unique).

The op is registered with ``torch.library`` so ``torch.compile`` sees one opaque kernel (its
chunk loop is not unrolled into the graph). Under bf16 autocast it stays in the weights' dtype
(fp32): its small-K matmul is not what bounds it, and ATen's bf16 gather and reductions are 4-10x
slower than fp32 ones on CPU (measured: ``index_select`` 239 vs 26 us per chunk), so bf16 made
the frontend slower, not faster.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lstm2d.spec import Conv2D, Pool2D, Shape
from torch_impl.layers.conv import FrameConv2d
from torch_impl.layers.frames import over_frames
from torch_impl.layers.pooling import FramePool2d

MONOTONE_ACTIVATIONS = ("linear", "relu", "tanh", "sigmoid")
"""Non-decreasing activations: they commute with a max. Softmax mixes channels and does not."""

CHUNK_BYTES = 1 << 20
"""Target size of one chunk's pre-pool block: well inside a 2 MiB L2 (AMD Zen 4, recent Intel server cores)."""


@dataclass(frozen=True)
class ConvPoolGeometry:
    """Kernel, conv stride and pool window (= pool stride) of a fusable Conv2D -> MaxPool pair, ``(rows, cols)`` each."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    pool: tuple[int, int]

    def pooled_size(self, height: int, width: int) -> tuple[int, int]:
        """Pooled output size of (padded) ``height x width`` frames; remainder cells are dropped, as ``valid`` pooling does."""
        conv_h = (height - self.kernel[0]) // self.stride[0] + 1
        conv_w = (width - self.kernel[1]) // self.stride[1] + 1
        return conv_h // self.pool[0], conv_w // self.pool[1]


def fusable(conv: Conv2D, pool: Pool2D, conv_out: Shape) -> bool:
    """Whether ``conv`` followed by ``pool`` (``conv_out``: the conv's output grid) is exactly this op.

    Needs an undilated convolution with a bias, a max pool whose windows tile without overlap or
    padding, and an activation that commutes with max.
    """
    pads = pool.padding == "valid" or (conv_out.height % pool.pool_size[0] == 0 and conv_out.width % pool.pool_size[1] == 0)
    return (
        pool.mode == "max"
        and pool.strides == pool.pool_size
        and pads
        and conv.activation in MONOTONE_ACTIVATIONS
        and conv.dilation_rate == (1, 1)
        and conv.use_bias
    )


def _patch_index(frame_shape: tuple[int, ...], geometry: ConvPoolGeometry, device: torch.device) -> torch.Tensor:
    """Where each im2col entry comes from, as flat indices into one ``(C, H, W)`` frame.

    Ordered (window row, window col, pooled row, pooled col, channel, kernel row, kernel col): for
    every pooled output, the patch of each conv position in its window. ``index_select`` with it
    builds a chunk's im2col matrix in one vectorised gather (an 8-d strided copy with 3-element
    inner rows is 10x slower), and ``index_add_`` scatters patch gradients back.
    """
    channels, height, width = frame_shape
    (kh, kw), (sh, sw), (ph, pw) = geometry.kernel, geometry.stride, geometry.pool
    out_h, out_w = geometry.pooled_size(height, width)
    grid = torch.arange(channels * height * width, device=device)
    s_c, s_h, s_w = height * width, width, 1
    view = grid.as_strided(
        (ph, pw, out_h, out_w, channels, kh, kw),
        (sh * s_h, sw * s_w, ph * sh * s_h, pw * sw * s_w, s_c, s_h, s_w),
    )
    return view.reshape(-1)


def _chunk_frames(frames: torch.Tensor, filters: int, geometry: ConvPoolGeometry) -> int:
    """How many frames per chunk keep the pre-pool block (frames x conv positions x filters) near CHUNK_BYTES."""
    out_h, out_w = geometry.pooled_size(frames.shape[2], frames.shape[3])
    per_frame = out_h * out_w * geometry.pool[0] * geometry.pool[1] * filters * frames.element_size()
    return max(1, CHUNK_BYTES // per_frame)


def _activate(pre: torch.Tensor, activation: str) -> torch.Tensor:
    """In place on ``pre`` (a fresh tensor): the Keras activation."""
    if activation == "relu":
        return pre.clamp_min_(0)
    if activation == "tanh":
        return pre.tanh_()
    if activation == "sigmoid":
        return pre.sigmoid_()
    return pre


def _activation_grad(out: torch.Tensor, grad: torch.Tensor, activation: str) -> torch.Tensor:
    """``grad * a'(pre)``, written with the activation's output (a fresh tensor)."""
    if activation == "relu":
        return grad * torch.gt(out, 0, out=torch.empty_like(out))  # a float mask: a bool one is 5x slower
    if activation == "tanh":
        return grad * (1 - out * out)
    if activation == "sigmoid":
        return grad * (out * (1 - out))
    return grad


def _geometry(weight: torch.Tensor, stride: list[int], pool: list[int]) -> ConvPoolGeometry:
    return ConvPoolGeometry((weight.shape[2], weight.shape[3]), (stride[0], stride[1]), (pool[0], pool[1]))


@torch.library.custom_op("lstm2d::conv_max_pool", mutates_args=())
def conv_max_pool(
    frames: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: list[int], pool: list[int], activation: str
) -> torch.Tensor:
    """``a(max_pool(conv2d(frames, weight, stride) + bias))``: frames ``(N, C, H, W)`` (padding already applied),
    weight ``(F, C, kh, kw)``, bias ``(F,)`` -> ``(N, F, Po, Qo)`` contiguous (torch's CHW flatten order)."""
    geometry = _geometry(weight, stride, pool)
    n_frames, filters = frames.shape[0], weight.shape[0]
    out_h, out_w = geometry.pooled_size(frames.shape[2], frames.shape[3])
    windows, positions = geometry.pool[0] * geometry.pool[1], out_h * out_w
    index = _patch_index(frames.shape[1:], geometry, frames.device)
    flat = frames.reshape(n_frames, -1)
    kernel = weight.reshape(filters, -1).t()  # (C*kh*kw, F)
    out = frames.new_empty(n_frames, filters, positions)  # (N, F, Po*Qo)
    chunk = _chunk_frames(frames, filters, geometry)
    for start in range(0, n_frames, chunk):
        columns = flat[start : start + chunk].index_select(1, index).view(-1, kernel.shape[0])  # (n*ph*pw*Po*Qo, C*kh*kw)
        block = torch.mm(columns, kernel).view(-1, windows, positions * filters)  # (n, ph*pw, Po*Qo*F)
        pooled = _activate(block.amax(dim=1).view(-1, positions, filters).add_(bias), activation)  # in cache
        out[start : start + chunk] = pooled.transpose(1, 2)
    return out.view(n_frames, filters, out_h, out_w)


@conv_max_pool.register_fake
def _(
    frames: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: list[int], pool: list[int], activation: str
) -> torch.Tensor:
    out_h, out_w = _geometry(weight, stride, pool).pooled_size(frames.shape[2], frames.shape[3])
    return frames.new_empty(frames.shape[0], weight.shape[0], out_h, out_w)


@torch.library.custom_op("lstm2d::conv_max_pool_backward", mutates_args=())
def conv_max_pool_backward(
    grad: torch.Tensor,
    out: torch.Tensor,
    frames: torch.Tensor,
    weight: torch.Tensor,
    stride: list[int],
    pool: list[int],
    activation: str,
    frames_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`conv_max_pool` for frames (zeros unless ``frames_grad``), weight and bias.

    Per chunk, while it is in cache: the activation's and the bias' gradient; recompute the conv
    block, mark each window's winners with a float mask (a float ``eq`` is vectorised, a bool one
    is not), split the pooled gradient among them, then one matmul gives the kernel gradient and,
    if asked, another the patch gradients, scattered back onto the frames with ``index_add_``.
    """
    geometry = _geometry(weight, stride, pool)
    n_frames, filters = frames.shape[0], weight.shape[0]
    windows, positions = geometry.pool[0] * geometry.pool[1], out.shape[2] * out.shape[3]
    grad, out = grad.view(n_frames, filters, positions), out.view(n_frames, filters, positions)
    index = _patch_index(frames.shape[1:], geometry, frames.device)
    flat = frames.reshape(n_frames, -1)
    kernel = weight.reshape(filters, -1).t()  # (C*kh*kw, F)
    accumulate = torch.promote_types(weight.dtype, torch.float32)  # bf16 grads are summed over frames in fp32
    grad_kernel = torch.zeros(kernel.shape, dtype=accumulate, device=kernel.device)
    grad_bias = torch.zeros(filters, dtype=accumulate, device=kernel.device)
    grad_flat = torch.zeros_like(flat)
    chunk = _chunk_frames(frames, filters, geometry)
    for start in range(0, n_frames, chunk):
        pre_grad = _activation_grad(out[start : start + chunk], grad[start : start + chunk], activation)  # (n, F, Po*Qo)
        grad_bias += pre_grad.sum((0, 2))
        pooled_grad = pre_grad.transpose(1, 2).reshape(-1, 1, positions * filters)
        columns = flat[start : start + chunk].index_select(1, index).view(-1, kernel.shape[0])
        block = torch.mm(columns, kernel).view(-1, windows, positions * filters)  # (n, ph*pw, Po*Qo*F)
        winners = torch.eq(block, block.amax(dim=1, keepdim=True), out=torch.empty_like(block))  # 1.0 where a cell wins
        block_grad = winners.mul_(pooled_grad / winners.sum(dim=1, keepdim=True)).view(-1, filters)  # ties share
        grad_kernel += torch.mm(columns.t(), block_grad)
        if frames_grad:
            columns_grad = torch.mm(block_grad, kernel.t()).view(block.shape[0], -1)  # (n, ph*pw*Po*Qo*C*kh*kw)
            grad_flat[start : start + chunk].index_add_(1, index, columns_grad)
    grad_weight = grad_kernel.t().contiguous().view(weight.shape).to(weight.dtype)
    return grad_flat.view(frames.shape), grad_weight, grad_bias.to(weight.dtype)


@conv_max_pool_backward.register_fake
def _(
    grad: torch.Tensor,
    out: torch.Tensor,
    frames: torch.Tensor,
    weight: torch.Tensor,
    stride: list[int],
    pool: list[int],
    activation: str,
    frames_grad: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return torch.empty_like(frames), torch.empty_like(weight), weight.new_empty(weight.shape[0])


def _setup_context(ctx: Any, inputs: tuple[Any, ...], output: torch.Tensor) -> None:
    frames, weight, _, stride, pool, activation = inputs
    ctx.save_for_backward(frames, weight, output)
    ctx.options = (stride, pool, activation)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    frames, weight, out = ctx.saved_tensors
    stride, pool, activation = ctx.options
    grad_frames, grad_weight, grad_bias = conv_max_pool_backward(
        grad.to(out.dtype).contiguous(), out, frames, weight, stride, pool, activation, ctx.needs_input_grad[0]
    )
    return (grad_frames if ctx.needs_input_grad[0] else None), grad_weight, grad_bias, None, None, None


conv_max_pool.register_autograd(_backward, setup_context=_setup_context)


class ConvMaxPool:
    """One stage standing for a :class:`FrameConv2d` and the max :class:`FramePool2d` after it.

    Holds the two modules (which keep their parameters and state-dict keys) and runs them as
    :func:`conv_max_pool` on the CPU, over all ``B*T`` frames at once; elsewhere (cuDNN on CUDA)
    it runs them one after the other. Input and output as the modules': frames ``(B, T, C, H, W)``
    or a grid ``(B, C, H, W)``.
    """

    def __init__(self, conv: FrameConv2d, pool: FramePool2d) -> None:
        self.conv = conv
        self.pool = pool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return self.pool(self.conv(x))
        return over_frames(self._frames, x)

    def _frames(self, frames: torch.Tensor) -> torch.Tensor:
        conv = self.conv
        frames = conv.pad(frames).to(conv.weight.dtype).contiguous()  # an autocast layer before may hand over bf16
        return conv_max_pool(frames, conv.weight, conv.bias, list(conv.stride), list(self.pool.kernel_size), conv.activation_name)
