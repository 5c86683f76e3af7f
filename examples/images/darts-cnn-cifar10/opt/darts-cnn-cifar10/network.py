"""The DARTS search network of Katib's darts-cnn-cifar10 image, at small scale: cells whose edges are mixed
operations (a softmax of the architecture weights, alpha, over every operation of the search space) and the
genotype read off the alphas.

The operations are those Katib's image knows, by the names Katib's suggestion derives from nasConfig
(``max_pooling_3x3``, ``separable_convolution_5x5``, ``skip_connection``...), plus ``none``, which the
image appends to the search space.
"""

from __future__ import annotations

import re
from collections import namedtuple

import torch
from torch import nn
from torch.nn import functional

Genotype = namedtuple("Genotype", "normal normal_concat reduce reduce_concat")
_NAME = re.compile(r"(avg_pooling|max_pooling|separable_convolution|dilated_convolution)_(\d+)x\1?(\d+)")


def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> nn.Module:
    groups = c_in if c_in == c_out and kernel > 1 else 1
    layers = [nn.ReLU(), nn.Conv2d(c_in, c_out, kernel, stride, padding, dilation=dilation, groups=groups, bias=False)]
    if groups > 1:  # depthwise, then pointwise: a separable convolution
        layers.append(nn.Conv2d(c_out, c_out, 1, bias=False))
    layers.append(nn.BatchNorm2d(c_out, affine=False))
    return nn.Sequential(*layers)


class Zero(nn.Module):
    """``none``: no edge (zeros of the output's shape)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride] * 0.0


class FactorizedReduce(nn.Module):
    """Halves height and width with two offset 1x1 convolutions (the skip connection of a reduction edge)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = functional.relu(x)
        shifted = functional.pad(x[:, :, 1:, 1:], (0, 1, 0, 1))
        return self.bn(torch.cat([self.a(x), self.b(shifted)], dim=1))


def operation(name: str, channels: int, stride: int) -> nn.Module:
    """One candidate operation of an edge, by its Katib name."""
    if name == "none":
        return Zero(stride)
    if name == "skip_connection":
        return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)
    match = _NAME.fullmatch(name)
    if match is None or match.group(2) != match.group(3):
        raise ValueError(f"unknown operation {name!r} in the search space")
    kind, size = match.group(1), int(match.group(2))
    if kind.endswith("pooling"):
        pool = nn.MaxPool2d(size, stride, size // 2) if kind == "max_pooling" else nn.AvgPool2d(size, stride, size // 2)
        return nn.Sequential(pool, nn.BatchNorm2d(channels, affine=False))
    if kind == "dilated_convolution":
        return _relu_conv_bn(channels, channels, size, stride, size - 1, dilation=2)
    return nn.Sequential(  # separable: twice, the second at stride 1
        _relu_conv_bn(channels, channels, size, stride, size // 2),
        _relu_conv_bn(channels, channels, size, 1, size // 2),
    )


class MixedOperation(nn.Module):
    """An edge: the weighted sum of every candidate operation."""

    def __init__(self, primitives: list[str], channels: int, stride: int) -> None:
        super().__init__()
        self.candidates = nn.ModuleList(operation(p, channels, stride) for p in primitives)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        start = torch.zeros((), device=x.device)
        return sum((w * op(x) for w, op in zip(weights, self.candidates, strict=True)), start)


class Cell(nn.Module):
    """Two inputs (the two previous cells), ``num_nodes`` intermediate nodes each fed by every earlier node."""

    def __init__(
        self, primitives: list[str], num_nodes: int, c_pp: int, c_p: int, c: int, reduce_prev: bool, reduce: bool
    ) -> None:
        super().__init__()
        self.reduce = reduce
        self.pre0 = FactorizedReduce(c_pp, c) if reduce_prev else _relu_conv_bn(c_pp, c, 1, 1, 0)
        self.pre1 = _relu_conv_bn(c_p, c, 1, 1, 0)
        self.edges = nn.ModuleList(
            nn.ModuleList(MixedOperation(primitives, c, 2 if reduce and j < 2 else 1) for j in range(2 + i))
            for i in range(num_nodes)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for node_edges, node_weights in zip(self.edges, weights, strict=True):
            states.append(sum(edge(s, w) for edge, s, w in zip(node_edges, states, node_weights, strict=False)))
        return torch.cat(states[2:], dim=1)


class SearchNetwork(nn.Module):
    """Stem, ``num_layers`` cells (reduction cells at 1/3 and 2/3 of the depth, as Katib's), pooling, classifier;
    the architecture weights (alphas) are kept apart from the network's weights."""

    def __init__(
        self,
        primitives: list[str],
        init_channels: int,
        input_channels: int,
        num_classes: int,
        num_layers: int,
        num_nodes: int,
        stem_multiplier: int,
    ) -> None:
        super().__init__()
        self.primitives, self.num_nodes, self.num_layers = primitives, num_nodes, num_layers
        c = stem_multiplier * init_channels
        self.stem = nn.Sequential(nn.Conv2d(input_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        c_pp, c_p, c = c, c, init_channels
        self.cells = nn.ModuleList()
        reduce_prev = False
        for i in range(num_layers):
            reduce = (num_layers == 2 and i == 1) or (num_layers > 2 and i in (num_layers // 3, 2 * num_layers // 3))
            c = c * 2 if reduce else c
            self.cells.append(Cell(primitives, num_nodes, c_pp, c_p, c, reduce_prev, reduce))
            reduce_prev = reduce
            c_pp, c_p = c_p, c * num_nodes
        self.classifier = nn.Linear(c_p, num_classes)
        n = len(primitives)
        self.alpha_normal = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(i + 2, n)) for i in range(num_nodes))
        reduce_nodes = num_nodes if num_layers > 1 else 0
        self.alpha_reduce = nn.ParameterList(nn.Parameter(1e-3 * torch.randn(i + 2, n)) for i in range(reduce_nodes))

    def weights(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if not name.startswith("alpha")]

    def alphas(self) -> list[nn.Parameter]:
        return [*self.alpha_normal, *self.alpha_reduce]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        normal = [functional.softmax(a, dim=-1) for a in self.alpha_normal]
        reduce = [functional.softmax(a, dim=-1) for a in self.alpha_reduce]
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, reduce if cell.reduce else normal)
        return self.classifier(functional.adaptive_avg_pool2d(s1, 1).flatten(1))

    def print_alphas(self) -> None:
        print("\n>>> Alphas Normal <<<")
        for alpha in self.alpha_normal:
            print(functional.softmax(alpha, dim=-1))
        if self.num_layers > 1:
            print("\n>>> Alpha Reduce <<<")
            for alpha in self.alpha_reduce:
                print(functional.softmax(alpha, dim=-1))
        print("\n")

    def _gene(self, alphas: nn.ParameterList) -> list[list[tuple[str, int]]]:
        # Per node: each edge's strongest operation other than "none" (the last primitive), then the two edges
        # whose strongest operation weighs most.
        gene = []
        for alpha in alphas:
            best, index = torch.topk(alpha[:, :-1], 1)
            edges = torch.topk(best.view(-1), 2).indices
            gene.append([(self.primitives[int(index[e])], int(e)) for e in edges])
        return gene

    def genotype(self) -> Genotype:
        concat = range(2, 2 + self.num_nodes)
        return Genotype(self._gene(self.alpha_normal), concat, self._gene(self.alpha_reduce), concat)
