"""Katib's mutating-webhook defaults, applied before validation."""

from __future__ import annotations

from typing import Any

from pykatib.spec.defaults import (
    DEFAULT_FILE_METRICS_PATH,
    DEFAULT_TFEVENT_PATH,
    JOB_SUCCESS_CONDITION,
    KUBEFLOW_JOB_SUCCESS_CONDITION,
)
from pykatib.spec.loader import parse_experiment
from pykatib.spec.models import CollectorKind, Distribution, FileFormat, FileSystemKind, ResumePolicy
from tests_support import delete, put


def test_counts_policy_namespace_and_collector(base: dict[str, Any]) -> None:
    delete("spec.parallelTrialCount")(base)
    delete("metadata.namespace")(base)
    exp = parse_experiment(base)
    assert exp.spec.parallel_trial_count == 3
    assert exp.spec.resume_policy is ResumePolicy.NEVER
    assert exp.metadata.namespace == "default"
    assert exp.spec.metrics_collector_spec.collector.kind is CollectorKind.STDOUT
    assert exp.spec.max_trial_count == 12  # set fields are never changed


def test_every_parameter_gets_uniform(base: dict[str, Any]) -> None:
    put("spec.parameters.1.feasibleSpace.distribution", "logUniform")(base)
    exp = parse_experiment(base)
    assert [p.feasible_space.distribution for p in exp.spec.parameters] == [
        Distribution.UNIFORM,
        Distribution.LOG_UNIFORM,
    ]


def test_metric_strategies_follow_objective_type(base: dict[str, Any]) -> None:
    put("spec.objective.additionalMetricNames", ["accuracy", "f1"])(base)
    put("spec.objective.metricStrategies", [{"name": "f1", "value": "latest"}])(base)
    exp = parse_experiment(base)
    got = {s.name: s.value.value for s in exp.spec.objective.metric_strategies}
    assert got == {"f1": "latest", "loss": "min", "accuracy": "min"}
    put("spec.objective.type", "maximize")(base)
    exp = parse_experiment(base)
    got = {s.name: s.value.value for s in exp.spec.objective.metric_strategies}
    assert got == {"f1": "latest", "loss": "max", "accuracy": "max"}


def test_file_collector_defaults(base: dict[str, Any]) -> None:
    put("spec.metricsCollectorSpec", {"collector": {"kind": "File"}})(base)
    fsp = parse_experiment(base).spec.metrics_collector_spec.source.file_system_path
    assert (fsp.path, fsp.kind, fsp.format) == (
        DEFAULT_FILE_METRICS_PATH,
        FileSystemKind.FILE,
        FileFormat.TEXT,
    )


def test_file_collector_keeps_path_and_filter(base: dict[str, Any]) -> None:
    put(
        "spec.metricsCollectorSpec",
        {
            "collector": {"kind": "File"},
            "source": {
                "fileSystemPath": {"path": "/katib/m.log", "kind": "File"},
                "filter": {"metricsFormat": ["(\\w+): (\\d+)"]},
            },
        },
    )(base)
    source = parse_experiment(base).spec.metrics_collector_spec.source
    assert source.file_system_path.path == "/katib/m.log"
    assert source.file_system_path.format is FileFormat.TEXT
    assert source.filter.metrics_format == ["(\\w+): (\\d+)"]


def test_tfevent_collector_defaults(base: dict[str, Any]) -> None:
    put("spec.metricsCollectorSpec", {"collector": {"kind": "TensorFlowEvent"}})(base)
    fsp = parse_experiment(base).spec.metrics_collector_spec.source.file_system_path
    assert (fsp.path, fsp.kind, fsp.format) == (DEFAULT_TFEVENT_PATH, FileSystemKind.DIRECTORY, None)


def test_job_conditions(base: dict[str, Any]) -> None:
    template = parse_experiment(base).spec.trial_template
    assert template.success_condition == JOB_SUCCESS_CONDITION
    assert "Failed" in template.failure_condition
    assert template.primary_pod_labels is None


def test_kubeflow_job_conditions_and_primary_pod_labels(base: dict[str, Any]) -> None:
    put("spec.trialTemplate.trialSpec.kind", "PyTorchJob")(base)
    template = parse_experiment(base).spec.trial_template
    assert template.success_condition == KUBEFLOW_JOB_SUCCESS_CONDITION
    assert template.primary_pod_labels == {"training.kubeflow.org/job-role": "master"}
    put("spec.trialTemplate.primaryPodLabels", {"training.kubeflow.org/replica-type": "worker"})(base)
    template = parse_experiment(base).spec.trial_template
    assert template.primary_pod_labels == {"training.kubeflow.org/replica-type": "worker"}


def test_trainjob_conditions_and_primary_pod_labels(base: dict[str, Any]) -> None:
    """Katib 0.19's defaults for Kubeflow Trainer v2's TrainJob (once: "successCondition ... must be specified")."""
    trainer = {
        "command": ["python3", "-c", "print(1)", "${trialParameters.learningRate}", "${trialParameters.momentum}"]
    }
    spec = {"apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob", "spec": {"trainer": trainer}}
    put("spec.trialTemplate.trialSpec", spec)(base)
    template = parse_experiment(base).spec.trial_template
    assert template.success_condition == 'status.conditions.#(type=="Complete")#|#(status=="True")#'
    assert template.failure_condition == 'status.conditions.#(type=="Failed")#|#(status=="True")#'
    assert template.primary_pod_labels == {
        "jobset.sigs.k8s.io/replicatedjob-name": "node",
        "batch.kubernetes.io/job-completion-index": "0",
    }


def test_defaulted_document_round_trips(base: dict[str, Any]) -> None:
    exp = parse_experiment(base)
    again = parse_experiment(exp.to_dict())
    assert again == exp
