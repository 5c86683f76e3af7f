"""``pykatib run --configmap FILE``: a trial template from a ConfigMap in a file of its own, as on a cluster."""

from __future__ import annotations

from pathlib import Path

import yaml

from e2e_support import make_experiment, run_pykatib, trials_of, write_experiment
from pykatib.cli_run import RunOptions
from server_support import TRIAL_CODE


def test_run_reads_the_template_from_a_configmap_file(tmp_path: Path, workdir: Path) -> None:
    objective = {"type": "maximize", "objectiveMetricName": "accuracy"}
    doc = make_experiment(
        ["python3", "-c", TRIAL_CODE, "${trialParameters.x}", "0"], objective=objective, maxTrialCount=2
    )
    template = doc["spec"]["trialTemplate"]
    trial_spec = template.pop("trialSpec")
    template["configMap"] = {"configMapName": "templates", "configMapNamespace": "team", "templatePath": "job"}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "templates", "namespace": "team"},
                  "data": {"job": yaml.safe_dump(trial_spec)}}  # fmt: skip
    configmaps = tmp_path / "templates.yaml"
    configmaps.write_text(yaml.safe_dump(config_map))
    path = write_experiment(tmp_path, doc)

    code, status, stderr = run_pykatib(path, "--workdir", str(workdir))
    assert code == 2 and status is None
    assert "ConfigMap team/templates not found" in stderr and "--configmap FILE" in stderr

    code, status, stderr = run_pykatib(path, "--workdir", str(workdir), "--configmap", str(configmaps))
    assert code == 0, stderr
    assert status is not None and status["trialsSucceeded"] == 2
    assert all(t.objective_value == float(t.parameter_assignments["x"]) for t in trials_of(workdir, "e2e"))
    # The line that continues an interrupted run names the ConfigMap files too.
    again = RunOptions(str(path), workdir=workdir, configmaps=[str(configmaps)]).resume_command()
    assert f"--configmap {configmaps}" in again
