"""ENAS's search space and assignments, as Katib's enas suggestion service builds them (no torch here).

* :func:`operations`: Katib's ``Operation.SearchSpace``: every operation of ``nasConfig.operations`` expanded
  into one candidate per combination of its parameters' values (categorical lists as written, int ranges
  ``range(min, max + 1, step)``, double ranges ``np.arange(min, max + step, step)``), numbered in that order.
* :func:`assignment`: the two values Katib's ``GetSuggestions`` hands each trial, ``architecture`` (per
  layer, the operation id then one skip bit per earlier layer) and ``nn_config`` (layers, input and output
  sizes, and the operations the architecture uses), each ``json.dumps`` with ``"`` turned into ``'``.
* :func:`describe_assignment`: one readable line per layer of such an assignment, for people.

Where Katib's service crashes on a nasConfig (a discrete parameter, an int range without step, a double range
whose last value overshoots), pykatib does what the user meant; see :func:`pykatib.spec.nas.parameter_values`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

from pykatib.spec.models import NasConfig
from pykatib.spec.nas import Value, enas_errors, parameter_values

ARCHITECTURE = "architecture"
NN_CONFIG = "nn_config"
# Katib's ENAS checks of the nasConfig (spec validation runs them too), under the name this module's callers use.
nas_config_errors = enas_errors


@dataclass(frozen=True, slots=True)
class Operation:
    """One candidate of the search space: Katib's ``Operation`` (``get_dict()`` is :meth:`as_dict`)."""

    opt_id: int
    opt_type: str
    opt_params: dict[str, Value]

    def as_dict(self) -> dict[str, Any]:
        return {"opt_id": self.opt_id, "opt_type": self.opt_type, "opt_params": dict(self.opt_params)}


@dataclass(frozen=True, slots=True)
class Graph:
    """``nasConfig.graphConfig`` and the expanded operations: everything ENAS reads from the experiment."""

    num_layers: int
    input_sizes: tuple[int, ...]
    output_sizes: tuple[int, ...]
    operations: tuple[Operation, ...]


def graph(nas_config: NasConfig) -> Graph:
    """The graph and every candidate operation; ``nas_config_errors`` must be empty."""
    config = nas_config.graph_config
    assert config is not None and config.num_layers and config.input_sizes and config.output_sizes
    return Graph(int(config.num_layers), tuple(config.input_sizes), tuple(config.output_sizes), operations(nas_config))


def operations(nas_config: NasConfig) -> tuple[Operation, ...]:
    """Katib's ``SearchSpace(operations).search_space``: per operation, ``itertools.product`` of its parameters'
    values (the last parameter varies fastest), ids counted across all operations."""
    result: list[Operation] = []
    for operation in nas_config.operations or []:
        parameters = operation.parameters or []
        names = [p.name for p in parameters]
        kind = operation.operation_type or ""
        for combination in product(*(parameter_values(p) for p in parameters)):
            result.append(Operation(len(result), kind, dict(zip(names, combination, strict=True))))
    return tuple(result)


def organize(arc: Sequence[int], num_layers: int) -> list[list[int]]:
    """The controller's flat sample -> per layer ``[operation id, skip bits...]`` (layer l has l skip bits)."""
    organized, start = [], 0
    for layer in range(num_layers):
        organized.append([int(v) for v in arc[start : start + layer + 1]])
        start += layer + 1
    return organized


def _katib_str(value: object) -> str:
    # service.py: str(json.dumps(x)).replace('\"', '\'')
    return str(json.dumps(value)).replace('"', "'")


def assignment(space: Graph, arc: Sequence[int]) -> dict[str, str]:
    """``architecture`` and ``nn_config`` of one sampled architecture, exactly as Katib's GetSuggestions:

    .. code-block:: python

        nn_config['num_layers'] = experiment.num_layers
        nn_config['input_sizes'] = experiment.input_sizes
        nn_config['output_sizes'] = experiment.output_sizes
        nn_config['embedding'] = dict()
        for l in range(experiment.num_layers):
            opt = organized_arc[l][0]
            nn_config['embedding'][opt] = experiment.search_space[opt].get_dict()
        organized_arc_str = str(json.dumps(organized_arc)).replace('\\"', '\\'')
        nn_config_str = str(json.dumps(nn_config)).replace('\\"', '\\'')
    """
    organized = organize(arc, space.num_layers)
    embedding: dict[int, dict[str, Any]] = {}
    for layer in organized:
        embedding[layer[0]] = space.operations[layer[0]].as_dict()
    nn_config = {
        "num_layers": space.num_layers,
        "input_sizes": list(space.input_sizes),
        "output_sizes": list(space.output_sizes),
        "embedding": embedding,
    }
    return {ARCHITECTURE: _katib_str(organized), NN_CONFIG: _katib_str(nn_config)}


# --- for people ---------------------------------------------------------------------------------------


def _katib_json(text: str) -> Any:
    # What Katib's trial does with the value: the shell around it dropped its quotes; ' back to ".
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    return json.loads(text.replace("'", '"'))


def describe_operation(config: Mapping[str, Any]) -> str:
    """``convolution 5x5, 64 filters, stride 1`` for one ``nn_config`` embedding entry."""
    kind = str(config.get("opt_type", "?"))
    params = dict(config.get("opt_params") or {})
    if kind == "reduction":
        size = params.pop("pool_size", None)
        words = [str(params.pop("reduction_type", "max_pooling")) + (f" {size}x{size}" if size is not None else "")]
    else:
        size = params.pop("filter_size", None)
        words = [kind + (f" {size}x{size}" if size is not None else "")]
        if "num_filter" in params:
            words.append(f"{params.pop('num_filter')} filters")
    if "stride" in params:
        words.append(f"stride {params.pop('stride')}")
    if "depth_multiplier" in params:
        words.append(f"depth multiplier {params.pop('depth_multiplier')}")
    words.extend(f"{name} {value}" for name, value in params.items())
    return ", ".join(words)


def describe_assignment(assignment: Mapping[str, str]) -> list[str] | None:
    """One line per layer of an ENAS assignment (``architecture`` and ``nn_config``), e.g.
    ``layer 2: separable_convolution 3x3, 32 filters, stride 1, depth multiplier 2; skip from input``;
    None when the assignment is not one (another algorithm's, or values that do not parse).

    As Katib's ModelConstructor builds the network, layer l reads layer l-1 and each layer i < l-1 (0 is the
    input) whose skip bit i is 1.
    """
    try:
        architecture = _katib_json(assignment[ARCHITECTURE])
        embedding = _katib_json(assignment[NN_CONFIG])["embedding"]
        lines = []
        for index, layer in enumerate(architecture, start=1):
            operation = describe_operation(embedding[str(layer[0])])
            skips = [i for i, bit in enumerate(layer[1:index]) if bit == 1]
            sources = ", ".join("input" if i == 0 else f"layer {i}" for i in skips) or "-"
            lines.append(f"layer {index}: {operation}; skip from {sources}")
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return None
    return lines
