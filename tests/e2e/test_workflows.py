"""Argo Workflow trials through ``pykatib run`` (Katib's example itself runs in test_katib_examples.py), and
Katib's Tekton example, which Katib's webhook rejects as pykatib does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from e2e_support import KATIB_EXAMPLES, make_experiment, run_pykatib, trial_dir, trials_of, write_experiment


def argo_experiment(first_step: list[str]) -> dict[str, Any]:
    """One trial of a Workflow: ``first_step``'s command, then the training step printing its loss."""
    doc = make_experiment(["x"], maxTrialCount=1, parallelTrialCount=1, maxFailedTrialCount=1)
    template = doc["spec"]["trialTemplate"]
    template["primaryPodLabels"] = {"role": "train"}
    template["successCondition"] = 'status.[@this].#(phase=="Succeeded")#'
    template["failureCondition"] = 'status.[@this].#(phase=="Failed")#'
    template["trialParameters"] = [{"name": "x", "reference": "x"}]
    template["trialSpec"] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "spec": {
            "entrypoint": "flow",
            "templates": [
                {"name": "flow", "steps": [[{"name": "first", "template": "first"}], [
                    {"name": "train", "template": "train",
                     "arguments": {"parameters": [{"name": "n", "value": "{{steps.first.outputs.result}}"}]}}]]},
                {"name": "first", "container": {"image": "python:3.12", "command": first_step}},
                {"name": "train", "metadata": {"labels": {"role": "train"}}, "inputs": {"parameters": [{"name": "n"}]},
                 "script": {"image": "python:3.12", "command": ["python3"], "source":
                            "print('loss=%s' % ({{inputs.parameters.n}} * ${trialParameters.x}))"}},
            ],
        },
    }  # fmt: skip
    return doc


def test_a_workflow_trial_succeeds_with_its_primary_steps_metrics(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, argo_experiment(["python3", "-c", "print(10)"]))
    rc, status, stderr = run_pykatib(path, "--workdir", str(tmp_path / "state"))
    assert rc == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 1
    (trial,) = trials_of(tmp_path / "state", "e2e")
    x = float(trial.parameter_assignments["x"])
    assert trial.objective_value is not None and abs(trial.objective_value - 10 * x) < 1e-6


def test_a_failed_step_fails_the_trial_and_the_training_never_runs(tmp_path: Path) -> None:
    path = write_experiment(tmp_path, argo_experiment(["python3", "-c", "raise SystemExit(4)"]))
    rc, _, stderr = run_pykatib(path, "--workdir", str(tmp_path / "state"))
    assert rc == 1, stderr
    (trial,) = trials_of(tmp_path / "state", "e2e")
    assert trial.phase == "Failed"
    log = (trial_dir(tmp_path / "state", "e2e", trial.name) / "trial.log").read_text()
    assert "step first (first-0) failed with exit status 4; its log: first-0.log" in log
    assert "loss=" not in log


def test_katibs_tekton_example_is_refused_as_katibs_webhook_refuses_it(tmp_path: Path) -> None:
    """Its template never says ${trialParameters.learningRate}: Katib's validator says the same words."""
    rc, status, stderr = run_pykatib(KATIB_EXAMPLES / "tekton" / "pipeline-run.yaml", "--workdir", str(tmp_path))
    said = " ".join(stderr.split())
    assert (rc, status) == (2, None), stderr
    assert (
        "spec.trialTemplate.trialParameters[0].name: parameter name: learningRate in spec.trialParameters not "
        "found in spec.trialTemplate" in said
    )
    assert not (tmp_path / "experiments").exists()  # nothing was started


def test_an_unmapped_image_of_a_step_is_named_before_anything_starts(tmp_path: Path) -> None:
    doc = argo_experiment(["python3", "-c", "print(1)"])
    first = doc["spec"]["trialTemplate"]["trialSpec"]["spec"]["templates"][1]
    first["container"] = {"image": "ghcr.io/me/prepare:v1", "command": ["python3", "/opt/prepare/run.py"]}
    path = write_experiment(tmp_path, doc)
    rc, status, stderr = run_pykatib(path, "--workdir", str(tmp_path / "state"))
    assert (rc, status) == (2, None), stderr
    assert (
        "the trial template cannot run here: first-0: /opt/prepare/run.py not found; the image "
        "ghcr.io/me/prepare:v1 is not mapped to a directory: pass --image ghcr.io/me/prepare:v1=DIR"
    ) in " ".join(stderr.split())
    assert not (tmp_path / "state" / "experiments").exists()
