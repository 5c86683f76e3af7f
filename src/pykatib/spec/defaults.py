"""Katib's mutating webhook: the defaults an Experiment gets before it is validated (docs/katib-compatibility.md)."""

from __future__ import annotations

from typing import Any

from pykatib.spec.models import (
    CollectorKind,
    CollectorSpec,
    Distribution,
    Experiment,
    FileFormat,
    FileSystemKind,
    FileSystemPath,
    MetricsCollectorSpec,
    MetricStrategy,
    MetricStrategyType,
    ObjectiveType,
    ResumePolicy,
    SourceSpec,
)

DEFAULT_NAMESPACE = "default"
DEFAULT_PARALLEL_TRIAL_COUNT = 3
DEFAULT_FILE_METRICS_PATH = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_PATH = "/var/log/katib/tfevent/"

JOB_KIND = "Job"
JOB_SUCCESS_CONDITION = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
JOB_FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_JOB_SUCCESS_CONDITION = 'status.conditions.#(type=="Succeeded")#|#(status=="True")#'
KUBEFLOW_JOB_FAILURE_CONDITION = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
KUBEFLOW_JOB_KINDS = ("TFJob", "PyTorchJob", "XGBoostJob", "MPIJob")
KUBEFLOW_PRIMARY_POD_LABELS = {"training.kubeflow.org/job-role": "master"}
# Kubeflow Trainer v2 (Katib 0.19): a TrainJob completes like a batch Job; its primary pod is node 0.
TRAINJOB_KIND = "TrainJob"
TRAINJOB_PRIMARY_POD_LABELS = {
    "jobset.sigs.k8s.io/replicatedjob-name": "node",
    "batch.kubernetes.io/job-completion-index": "0",
}


def apply_defaults(experiment: Experiment, *, trial_kind: str | None = None) -> Experiment:
    """Return a copy with Katib's defaults filled in; fields the user set are never changed.

    ``trial_kind`` is the kind of the rendered trial when the template is not a plain ``trialSpec``
    (a v1alpha3 Go template or a ConfigMap), since the condition defaults depend on it.
    """
    exp = experiment.model_copy(deep=True)
    spec = exp.spec
    if not exp.metadata.namespace:  # absent or empty: Kubernetes puts the object in the default namespace
        exp.metadata.namespace = DEFAULT_NAMESPACE
    if spec.parallel_trial_count is None:
        spec.parallel_trial_count = DEFAULT_PARALLEL_TRIAL_COUNT
    if spec.resume_policy is None:
        spec.resume_policy = ResumePolicy.NEVER
    _default_metric_strategies(exp)
    _default_metrics_collector(exp)
    for parameter in spec.parameters or ():
        if parameter.feasible_space.distribution is None:
            parameter.feasible_space.distribution = Distribution.UNIFORM
    _default_trial_template(exp, trial_kind)
    return exp


def _default_metric_strategies(exp: Experiment) -> None:
    objective = exp.spec.objective
    if objective is None or objective.type not in (ObjectiveType.MINIMIZE, ObjectiveType.MAXIMIZE):
        return
    default = MetricStrategyType.MIN if objective.type is ObjectiveType.MINIMIZE else MetricStrategyType.MAX
    strategies = list(objective.metric_strategies or ())
    named = {s.name for s in strategies}
    for name in [objective.objective_metric_name, *(objective.additional_metric_names or ())]:
        if name and name not in named:
            strategies.append(MetricStrategy(name=name, value=default))
            named.add(name)
    objective.metric_strategies = strategies


def _default_metrics_collector(exp: Experiment) -> None:
    spec = exp.spec
    if spec.metrics_collector_spec is None:
        spec.metrics_collector_spec = MetricsCollectorSpec()
    mc = spec.metrics_collector_spec
    if mc.collector is None:
        mc.collector = CollectorSpec()
    if mc.collector.kind is None:
        mc.collector.kind = CollectorKind.STDOUT
    kind = mc.collector.kind
    if kind is CollectorKind.FILE:
        fsp = _file_system_path(mc)
        if fsp.path is None and fsp.kind is None:
            fsp.path, fsp.kind = DEFAULT_FILE_METRICS_PATH, FileSystemKind.FILE
        if fsp.format is None:
            fsp.format = FileFormat.TEXT
    elif kind is CollectorKind.TENSORFLOW_EVENT:
        fsp = _file_system_path(mc)
        if fsp.path is None and fsp.kind is None:
            fsp.path, fsp.kind = DEFAULT_TFEVENT_PATH, FileSystemKind.DIRECTORY


def _file_system_path(mc: MetricsCollectorSpec) -> FileSystemPath:
    if mc.source is None:
        mc.source = SourceSpec()
    if mc.source.file_system_path is None:
        mc.source.file_system_path = FileSystemPath()
    return mc.source.file_system_path


def _default_trial_template(exp: Experiment, trial_kind: str | None) -> None:
    template = exp.spec.trial_template
    if template is None:
        return
    kind: Any = trial_kind
    if template.trial_spec is not None:
        kind = template.trial_spec.get("kind")
    if kind in (JOB_KIND, TRAINJOB_KIND):
        template.success_condition = template.success_condition or JOB_SUCCESS_CONDITION
        template.failure_condition = template.failure_condition or JOB_FAILURE_CONDITION
        if kind == TRAINJOB_KIND and template.primary_pod_labels is None:
            template.primary_pod_labels = dict(TRAINJOB_PRIMARY_POD_LABELS)
    elif kind in KUBEFLOW_JOB_KINDS:
        template.success_condition = template.success_condition or KUBEFLOW_JOB_SUCCESS_CONDITION
        template.failure_condition = template.failure_condition or KUBEFLOW_JOB_FAILURE_CONDITION
        if template.primary_pod_labels is None:
            template.primary_pod_labels = dict(KUBEFLOW_PRIMARY_POD_LABELS)
