"""How ``pykatib run`` prints an ENAS result: under the optimal trial, its architecture one line per layer
(the assignment Katib's enas suggestion gives, read as Katib's ModelConstructor builds the network)."""

from __future__ import annotations

from typing import Any

from pykatib.progress import optimal_summary
from pykatib.spec.models import NasConfig
from pykatib.suggest.enas_space import assignment, graph


def _categorical(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": [value]}}


def _status(assignments: dict[str, str]) -> dict[str, Any]:
    return {
        "currentOptimalTrial": {
            "bestTrialName": "enas-cpu-x",
            "parameterAssignments": [{"name": name, "value": value} for name, value in assignments.items()],
            "observation": {"metrics": [{"name": "Validation-Accuracy", "min": "0.5", "max": "0.9", "latest": "0.9"}]},
        }
    }


NAS = NasConfig.model_validate(
    {
        "graphConfig": {"numLayers": 2, "inputSizes": [32, 32, 3], "outputSizes": [10]},
        "operations": [
            {"operationType": "convolution",
             "parameters": [_categorical("filter_size", "3"), _categorical("num_filter", "32"),
                            _categorical("stride", "1")]},
            {"operationType": "reduction",
             "parameters": [_categorical("reduction_type", "max_pooling"), _categorical("pool_size", "2")]},
        ],
    }
)  # fmt: skip


def test_optimal_summary_of_an_enas_experiment_adds_one_line_per_layer() -> None:
    # Layer 1: operation 1; layer 2: operation 0, reading the input too (skip bit 0 is 1).
    status = _status(assignment(graph(NAS), [1, 0, 1]))
    lines = optimal_summary(status, algorithm="enas").splitlines()
    assert lines[0].startswith("Optimal trial enas-cpu-x: architecture=[[1], [0, 1]], nn_config={")
    assert lines[1] == "  Validation-Accuracy: min 0.5, max 0.9, latest 0.9"
    assert lines[2:] == [
        "  layer 1: max_pooling 2x2; skip from -",
        "  layer 2: convolution 3x3, 32 filters, stride 1; skip from input",
    ]


def test_only_an_enas_experiment_gets_the_layers() -> None:
    status = _status(assignment(graph(NAS), [1, 0, 1]))
    assert len(optimal_summary(status).splitlines()) == len(optimal_summary(status, algorithm="random").splitlines())
    assert len(optimal_summary(status, algorithm="random").splitlines()) == 2
    # Assignments that are no ENAS architecture add nothing, even for enas.
    assert optimal_summary(_status({"lr": "0.1"}), algorithm="enas").splitlines() == [
        "Optimal trial enas-cpu-x: lr=0.1",
        "  Validation-Accuracy: min 0.5, max 0.9, latest 0.9",
    ]
