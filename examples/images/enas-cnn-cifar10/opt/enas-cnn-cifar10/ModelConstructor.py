"""Katib's enas-cnn-cifar10 ``ModelConstructor.py`` in PyTorch: the network of one ENAS architecture.

Layer 0 is the input; layer l applies its operation to the layer before it concatenated with the earlier
layers its skip bits select, exactly as Katib's ``build_model``; then global average pooling, dropout 0.4 and
a dense layer to ``output_sizes[-1]`` classes.
"""

from __future__ import annotations

import json
from typing import Any

import torch
from op_library import OPS, Op, concat, concat_shape
from torch import Tensor, nn


class Network(nn.Module):
    def __init__(self, arch: list[list[int]], nn_config: dict[str, Any]) -> None:
        super().__init__()
        num_layers = int(nn_config["num_layers"])
        height, width, channels = (int(v) for v in nn_config["input_sizes"])
        output_size = int(nn_config["output_sizes"][-1])
        embedding: dict[str, dict[str, Any]] = nn_config["embedding"]
        self.inputs: list[list[int]] = []  # per layer, the earlier layers it reads (0: the input)
        shapes = [(channels, height, width)]
        ops: list[Op] = []
        for index in range(1, num_layers + 1):
            opt_config = embedding[str(arch[index - 1][0])]
            skip = arch[index - 1][1 : index + 1]
            sources = [index - 1] + [i for i in range(index - 1) if index > 1 and skip[i] == 1]
            kind = str(opt_config["opt_type"])
            if kind not in OPS:
                raise ValueError(f"layer {index}: unknown operation type {kind!r}; known: {', '.join(OPS)}")
            op = OPS[kind](concat_shape([shapes[i] for i in sources]), opt_config)
            self.inputs.append(sources)
            shapes.append(op.shape)
            ops.append(op)
        self.ops = nn.ModuleList(ops)
        self.dropout = nn.Dropout(0.4)
        self.dense = nn.Linear(shapes[-1][0], output_size)
        nn.init.xavier_uniform_(self.dense.weight)
        nn.init.zeros_(self.dense.bias)
        self.shapes = shapes

    def forward(self, x: Tensor) -> Tensor:
        layers = [x]
        for op, sources in zip(self.ops, self.inputs, strict=True):
            layers.append(op(concat([layers[i] for i in sources])))
        pooled = torch.mean(layers[-1], dim=(2, 3))
        return self.dense(self.dropout(pooled))  # logits: the softmax is in the loss

    def summary(self) -> str:
        lines = [f"input: {self.shapes[0]}"]
        for index, (op, sources) in enumerate(zip(self.ops, self.inputs, strict=True), start=1):
            lines.append(f"layer {index} from {sources}: {type(op.body).__name__} -> {op.shape}")
        params = sum(p.numel() for p in self.parameters())
        lines.append(f"Total params: {params}")
        return "\n".join(lines)


class ModelConstructor:
    """Katib's class: the architecture and nn_config as JSON text (``"`` quotes), then :meth:`build_model`."""

    def __init__(self, arc_json: str, nn_json: str) -> None:
        self.arch = json.loads(arc_json)
        self.nn_config = json.loads(nn_json)

    def build_model(self) -> Network:
        return Network(self.arch, self.nn_config)
