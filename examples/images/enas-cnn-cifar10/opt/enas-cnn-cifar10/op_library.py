"""Katib's enas-cnn-cifar10 ``op_library.py`` (Keras layers) as PyTorch modules, with Keras's arithmetic.

Each operation reads its settings from an ``nn_config`` embedding entry (``opt_params``), with Katib's
defaults for those not given: convolution (ReLU, Conv2D ``same``, BatchNormalization), separable and
depthwise convolution (the same around Keras's SeparableConv2D / DepthwiseConv2D) and reduction (max or
average pooling, ``valid``, stride = pool size unless given; an identity when the input is 1 pixel wide, as
Katib's). :func:`concat` zero-pads smaller inputs to the largest height, then joins channels (Katib's concat).
Tensors are NCHW here where Keras's are NHWC; weights start as Keras's (Glorot uniform, zero bias).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional


def _int_params(config: Mapping[str, Any], defaults: dict[str, int]) -> dict[str, int]:
    params = dict(config.get("opt_params") or {})
    return {name: int(params.get(name, default)) for name, default in defaults.items()}


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``same``: the output is ceil(size / stride); the odd pixel of padding goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _keras_init(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d | nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class SameConv(nn.Module):
    """Conv2D/DepthwiseConv2D with ``padding='same'`` for any stride (PyTorch's own takes stride 1 only)."""

    def __init__(self, channels: int, filters: int, kernel: int, stride: int, groups: int = 1) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(channels, filters, kernel, stride, groups=groups)

    def forward(self, x: Tensor) -> Tensor:
        top, bottom = _same_padding(x.shape[2], self.kernel, self.stride)
        left, right = _same_padding(x.shape[3], self.kernel, self.stride)
        return self.conv(functional.pad(x, (left, right, top, bottom)))

    @staticmethod
    def size(size: int, stride: int) -> int:
        return math.ceil(size / stride)


def _batch_norm(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)  # Keras's epsilon and momentum (0.99)


class Op(nn.Module):
    """One layer: its module and the shape (channels, height, width) it produces."""

    def __init__(self, body: nn.Module, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.body = body
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x)


def conv(shape: tuple[int, int, int], config: Mapping[str, Any]) -> Op:
    p = _int_params(config, {"num_filter": 64, "filter_size": 3, "stride": 1})
    channels, height, width = shape
    body = nn.Sequential(
        nn.ReLU(),
        SameConv(channels, p["num_filter"], p["filter_size"], p["stride"]),
        _batch_norm(p["num_filter"]),
    )
    _keras_init(body)
    stride = p["stride"]
    return Op(body, (p["num_filter"], SameConv.size(height, stride), SameConv.size(width, stride)))


def sp_conv(shape: tuple[int, int, int], config: Mapping[str, Any]) -> Op:
    p = _int_params(config, {"num_filter": 64, "filter_size": 3, "stride": 1, "depth_multiplier": 1})
    channels, height, width = shape
    depth = channels * p["depth_multiplier"]
    depthwise = SameConv(channels, depth, p["filter_size"], p["stride"], groups=channels)
    depthwise.conv.bias = None  # SeparableConv2D has one bias, after the pointwise step
    body = nn.Sequential(nn.ReLU(), depthwise, nn.Conv2d(depth, p["num_filter"], 1), _batch_norm(p["num_filter"]))
    _keras_init(body)
    stride = p["stride"]
    return Op(body, (p["num_filter"], SameConv.size(height, stride), SameConv.size(width, stride)))


def dw_conv(shape: tuple[int, int, int], config: Mapping[str, Any]) -> Op:
    p = _int_params(config, {"filter_size": 3, "stride": 1, "depth_multiplier": 1})
    channels, height, width = shape
    depth = channels * p["depth_multiplier"]
    body = nn.Sequential(
        nn.ReLU(), SameConv(channels, depth, p["filter_size"], p["stride"], groups=channels), _batch_norm(depth)
    )
    _keras_init(body)
    stride = p["stride"]
    return Op(body, (depth, SameConv.size(height, stride), SameConv.size(width, stride)))


def reduction(shape: tuple[int, int, int], config: Mapping[str, Any]) -> Op:
    channels, height, width = shape
    if height == 1 or width == 1:
        print(
            "WARNING: One or more dimensions of the input of the reduction layer is 1. It cannot be further "
            "reduced. A identity layer will be used instead."
        )
        return Op(nn.Identity(), shape)
    params = dict(config.get("opt_params") or {})
    kind = str(params.get("reduction_type", "max_pooling"))
    size = int(params.get("pool_size", 2))
    stride = int(params["stride"]) if "stride" in params else size
    pool: nn.Module
    if kind == "max_pooling":
        pool = nn.MaxPool2d(size, stride)
    elif kind == "avg_pooling":
        pool = nn.AvgPool2d(size, stride)
    else:
        raise ValueError(f"unknown reduction_type {kind!r}: max_pooling or avg_pooling")
    return Op(pool, (channels, (height - size) // stride + 1, (width - size) // stride + 1))


OPS = {"convolution": conv, "separable_convolution": sp_conv, "depthwise_convolution": dw_conv, "reduction": reduction}


def concat_shape(shapes: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """The shape :func:`concat` gives: every input padded by the largest height's difference."""
    tallest = max(shape[1] for shape in shapes)
    return (
        sum(shape[0] for shape in shapes),
        tallest,
        max(shape[2] + tallest - shape[1] for shape in shapes),
    )


def concat(inputs: list[Tensor]) -> Tensor:
    """Katib's concat: ZeroPadding2D of each smaller input by the height difference (the odd pixel after),
    on both axes, then concatenation along channels."""
    if len(inputs) == 1:
        return inputs[0]
    tallest = max(x.shape[2] for x in inputs)
    padded = []
    for x in inputs:
        diff = tallest - x.shape[2]
        half = diff // 2
        padded.append(functional.pad(x, (half, diff - half, half, diff - half)) if diff else x)
    return torch.cat(padded, dim=1)
