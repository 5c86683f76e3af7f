"""The shipped example experiments the new-experiment page starts from: ``examples/*.yaml`` and Katib's own in
``examples/katib/`` of the project's checkout (an installed wheel has none: the page then offers a small one of
its own). Only files holding one Experiment are listed; a file is read only when it is one of those."""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3] / "examples"
MAX_EXAMPLE_BYTES = 256 * 1024
STARTER = """\
apiVersion: kubeflow.org/v1beta1
kind: Experiment
metadata:
  name: quadratic
spec:
  objective:
    type: minimize
    objectiveMetricName: loss
  algorithm:
    algorithmName: random
  parallelTrialCount: 2
  maxTrialCount: 6
  parameters:
    - name: x
      parameterType: double
      feasibleSpace: {min: "-2", max: "2"}
    - name: y
      parameterType: int
      feasibleSpace: {min: "0", max: "4"}
  trialTemplate:
    primaryContainerName: main
    trialParameters:
      - name: x
        reference: x
      - name: y
        reference: y
    trialSpec:
      apiVersion: batch/v1
      kind: Job
      spec:
        template:
          spec:
            containers:
              - name: main
                image: python:3.12
                command:
                  - python3
                  - -c
                  - "print('loss=%.4f' % ((${trialParameters.x} - 1) ** 2 + (${trialParameters.y} - 3) ** 2))"
            restartPolicy: Never
"""
STARTER_NAME = "quadratic (README)"


@functools.cache
def examples(root: Path = ROOT) -> dict[str, Path]:
    """Name (its path under ``examples/``) -> file, for each example holding exactly one Experiment."""
    found: dict[str, Path] = {}
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.yaml")):
        if path.stat().st_size > MAX_EXAMPLE_BYTES or "images" in path.relative_to(root).parts:
            continue
        try:
            documents = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue
        if len(documents) == 1 and isinstance(documents[0], dict) and documents[0].get("kind") == "Experiment":
            found[path.relative_to(root).as_posix()] = path
    return found


def example_names() -> list[str]:
    return [STARTER_NAME, *examples()]


def example_text(name: str) -> str | None:
    """The example's text; None for a name that is not listed."""
    if name == STARTER_NAME:
        return STARTER
    path = examples().get(name)
    return path.read_text() if path is not None else None
