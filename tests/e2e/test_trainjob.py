"""Kubeflow Trainer v2's TrainJob as a trial kind (Katib 0.19), through ``pykatib run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from e2e_support import make_experiment, run_pykatib, trial_dir, trials_of, write_experiment, write_script

# Each node checks what the torch runtime gives it; node 0 (the primary) reports.
NODE = """
import os, sys
rank, nodes = int(os.environ["PET_NODE_RANK"]), int(os.environ["PET_NNODES"])
assert nodes == 2 and os.environ["PET_MASTER_ADDR"] == "localhost" and int(os.environ["PET_MASTER_PORT"]) > 0
print(f"node {rank} of {nodes}")
if rank == 0:
    print("accuracy=" + sys.argv[1])
"""


def test_a_trainjob_trial_runs_its_nodes_and_node_0_reports(tmp_path: Path, workdir: Path) -> None:
    """Once refused: "successCondition and failureCondition must be specified"."""
    script = write_script(tmp_path, "node.py", NODE)
    doc = make_experiment(
        ["python3", str(script), "${trialParameters.x}"],
        objective={"type": "maximize", "objectiveMetricName": "accuracy"},
        maxTrialCount=2,
    )
    template = doc["spec"]["trialTemplate"]
    template["primaryContainerName"] = "node"
    template["trialSpec"] = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "spec": {
            "runtimeRef": {"name": "torch-distributed"},
            "trainer": {"image": "example/trainer", "command": ["python3", str(script), "${trialParameters.x}"],
                        "numNodes": 2},
        },
    }  # fmt: skip
    code, status, stderr = run_pykatib(write_experiment(tmp_path, doc), "--workdir", str(workdir))
    assert code == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 2, status
    for trial in trials_of(workdir, "e2e"):
        assert trial.objective_value == pytest.approx(float(trial.parameter_assignments["x"]))
        directory = trial_dir(workdir, "e2e", trial.name)
        assert "node 0 of 2" in (directory / "trial.log").read_text()
        assert "node 1 of 2" in (directory / "node-1.log").read_text()
