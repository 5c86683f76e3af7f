"""Helpers shared by the test packages: edit a nested experiment document by a dotted path; import a stand-in
image's script by its file path."""

from __future__ import annotations

import copy
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any


def _walk(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        doc = doc[int(part)] if isinstance(doc, list) else doc.setdefault(part, {})
    return doc


def put(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A mutation that sets ``a.b.0.c`` (a list index may be one past the end: it appends)."""

    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = _walk(doc, parents)
        if isinstance(target, list):
            index = int(last)
            if index == len(target):
                target.append(value)
            else:
                target[index] = value
        else:
            target[last] = value

    return apply


def delete(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(doc: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = _walk(doc, parents)
        if isinstance(target, list):
            del target[int(last)]
        else:
            target.pop(last, None)

    return apply


BASE: dict[str, Any] = {
    "apiVersion": "kubeflow.org/v1beta1",
    "kind": "Experiment",
    "metadata": {"namespace": "kubeflow", "name": "random"},
    "spec": {
        "objective": {"type": "minimize", "goal": 0.001, "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random"},
        "parallelTrialCount": 3,
        "maxTrialCount": 12,
        "maxFailedTrialCount": 3,
        "parameters": [
            {"name": "lr", "parameterType": "double", "feasibleSpace": {"min": "0.01", "max": "0.05"}},
            {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0.5", "max": "0.9"}},
        ],
        "trialTemplate": {
            "primaryContainerName": "training-container",
            "trialParameters": [
                {"name": "learningRate", "description": "Learning rate", "reference": "lr"},
                {"name": "momentum", "description": "Momentum", "reference": "momentum"},
            ],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "training-container",
                                    "image": "ghcr.io/kubeflow/katib/pytorch-mnist-cpu:latest",
                                    "command": [
                                        "python3",
                                        "/opt/pytorch-mnist/mnist.py",
                                        "--epochs=1",
                                        "--lr=${trialParameters.learningRate}",
                                        "--momentum=${trialParameters.momentum}",
                                    ],
                                }
                            ],
                            "restartPolicy": "Never",
                        }
                    }
                },
            },
        },
    },
}


def base_experiment() -> dict[str, Any]:
    return copy.deepcopy(BASE)


def load_module(path: Path, name: str) -> ModuleType:
    """Import a trainer script (or helper) by file path, without running its main(); the modules beside it
    are importable while it loads (as in its image, where it runs from its own directory)."""
    sys.path.insert(0, str(path.parent))
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))
