"""Pydantic models of Katib's v1beta1 Experiment (docs/katib-compatibility.md, "Experiment spec and validation").

Field names are Katib's JSON names (camelCase) so that a model dumped with ``by_alias=True`` is the
same YAML a Katib user wrote. Numbers inside ``feasibleSpace`` and ``algorithmSettings`` stay strings,
as in Katib: they are parsed and checked by ``pykatib.spec.validation``, which can then name the field.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict
from pydantic.alias_generators import to_camel

API_VERSION = "kubeflow.org/v1beta1"
API_VERSION_V1ALPHA3 = "kubeflow.org/v1alpha3"
KIND = "Experiment"


def _number_as_string(value: Any) -> Any:
    """Katib keeps feasibleSpace and setting values as strings; users often write bare numbers."""
    if isinstance(value, bool):
        return value  # left for pydantic to reject: `true` is never a number here
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return value


# A YAML scalar that Katib stores as a string: "0.01", 0.01 and 1 are all accepted.
KatibString = Annotated[str, BeforeValidator(_number_as_string)]
# Counts are int32 in Katib's API; strict so that `true` or "3" is reported instead of coerced.
Count = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
# FeasibleSpace has a field named `list`, which shadows the builtin inside that class body.
StringList = list[KatibString]


class KatibModel(BaseModel):
    """Base: camelCase aliases, unknown fields rejected (a typo must not be silently ignored)."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=False,
    )


class ObjectiveType(StrEnum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class MetricStrategyType(StrEnum):
    MIN = "min"
    MAX = "max"
    LATEST = "latest"


class ParameterType(StrEnum):
    DOUBLE = "double"
    INT = "int"
    DISCRETE = "discrete"
    CATEGORICAL = "categorical"


class Distribution(StrEnum):
    UNIFORM = "uniform"
    LOG_UNIFORM = "logUniform"
    NORMAL = "normal"
    LOG_NORMAL = "logNormal"


class ResumePolicy(StrEnum):
    NEVER = "Never"
    LONG_RUNNING = "LongRunning"
    FROM_VOLUME = "FromVolume"


class CollectorKind(StrEnum):
    STDOUT = "StdOut"
    FILE = "File"
    TENSORFLOW_EVENT = "TensorFlowEvent"
    PROMETHEUS_METRIC = "PrometheusMetric"
    CUSTOM = "Custom"
    PUSH = "Push"
    NONE = "None"  # the older name of Push


class FileSystemKind(StrEnum):
    FILE = "File"
    DIRECTORY = "Directory"


class FileFormat(StrEnum):
    TEXT = "TEXT"
    JSON = "JSON"


class ObjectMeta(KatibModel):
    # Kubernetes metadata carries many fields we do not use (uid, generation...): keep them.
    model_config = ConfigDict(extra="allow")

    name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class MetricStrategy(KatibModel):
    name: str
    value: MetricStrategyType


class ObjectiveSpec(KatibModel):
    type: ObjectiveType | None = None
    goal: float | None = None
    objective_metric_name: str | None = None
    additional_metric_names: list[str] | None = None
    metric_strategies: list[MetricStrategy] | None = None


class AlgorithmSetting(KatibModel):
    name: str
    value: KatibString = ""


class AlgorithmSpec(KatibModel):
    algorithm_name: str | None = None
    algorithm_settings: list[AlgorithmSetting] | None = None

    def setting(self, algorithm_name: str, name: str) -> str | None:
        """The raw value of setting ``name`` when this is ``algorithm_name``, else None."""
        if self.algorithm_name != algorithm_name:
            return None
        return next((s.value for s in self.algorithm_settings or () if s.name == name), None)


class EarlyStoppingSpec(KatibModel):
    algorithm_name: str | None = None
    algorithm_settings: list[AlgorithmSetting] | None = None


class FeasibleSpace(KatibModel):
    max: KatibString | None = None
    min: KatibString | None = None
    list: StringList | None = None
    step: KatibString | None = None
    distribution: Distribution | None = None

    def is_empty(self) -> bool:
        # distribution is left out: the defaults fill it in before validation runs.
        return not (self.max or self.min or self.list or self.step)


class ParameterSpec(KatibModel):
    name: str
    parameter_type: ParameterType | None = None
    feasible_space: FeasibleSpace = Field(default_factory=FeasibleSpace)


class GraphConfig(KatibModel):
    num_layers: Count | None = None
    input_sizes: list[Count] | None = None
    output_sizes: list[Count] | None = None


class Operation(KatibModel):
    operation_type: str | None = None
    parameters: list[ParameterSpec] | None = None


class NasConfig(KatibModel):
    graph_config: GraphConfig | None = None
    operations: list[Operation] | None = None


class TrialParameterSpec(KatibModel):
    name: str = ""
    description: str | None = None
    reference: str = ""


class ConfigMapSource(KatibModel):
    config_map_name: str | None = None
    config_map_namespace: str | None = None
    template_path: str | None = None


class GoTemplate(KatibModel):
    """v1alpha3's trial template (kept after conversion; rendered per trial by pykatib.trial.gotemplate)."""

    raw_template: str | None = None
    template_spec: ConfigMapSource | None = None


class TrialTemplate(KatibModel):
    retain: bool | None = None
    trial_spec: dict[str, Any] | None = None
    config_map: ConfigMapSource | None = None
    go_template: GoTemplate | None = None
    trial_parameters: list[TrialParameterSpec] | None = None
    primary_pod_labels: dict[str, str] | None = None
    primary_container_name: str | None = None
    success_condition: str | None = None
    failure_condition: str | None = None


class FileSystemPath(KatibModel):
    path: str | None = None
    kind: FileSystemKind | None = None
    format: FileFormat | None = None


class FilterSpec(KatibModel):
    metrics_format: list[str] | None = None


class SourceSpec(KatibModel):
    http_get: dict[str, Any] | None = None
    file_system_path: FileSystemPath | None = None
    filter: FilterSpec | None = None


class CollectorSpec(KatibModel):
    kind: CollectorKind | None = None
    custom_collector: dict[str, Any] | None = None


class MetricsCollectorSpec(KatibModel):
    source: SourceSpec | None = None
    collector: CollectorSpec | None = None


class ExperimentSpec(KatibModel):
    parameters: list[ParameterSpec] | None = None
    objective: ObjectiveSpec | None = None
    algorithm: AlgorithmSpec | None = None
    early_stopping: EarlyStoppingSpec | None = None
    trial_template: TrialTemplate | None = None
    parallel_trial_count: Count | None = None
    max_trial_count: Count | None = None
    max_failed_trial_count: Count | None = None
    metrics_collector_spec: MetricsCollectorSpec | None = None
    nas_config: NasConfig | None = None
    resume_policy: ResumePolicy | None = None


class Condition(KatibModel):
    model_config = ConfigDict(extra="allow")

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_update_time: str | None = None
    last_transition_time: str | None = None


class Metric(KatibModel):
    name: str
    min: str | None = None
    max: str | None = None
    latest: str | None = None


class Observation(KatibModel):
    metrics: list[Metric] | None = None


class ParameterAssignment(KatibModel):
    name: str
    value: str


class OptimalTrial(KatibModel):
    best_trial_name: str | None = None
    parameter_assignments: list[ParameterAssignment] | None = None
    observation: Observation | None = None


class ExperimentStatus(KatibModel):
    """Katib's status block; counts and name lists are filled by the controller."""

    model_config = ConfigDict(extra="allow")

    start_time: str | None = None
    completion_time: str | None = None
    last_reconcile_time: str | None = None
    conditions: list[Condition] | None = None
    current_optimal_trial: OptimalTrial | None = None
    trials: int | None = None
    trials_succeeded: int | None = None
    trials_failed: int | None = None
    trials_killed: int | None = None
    trials_pending: int | None = None
    trials_running: int | None = None
    trials_early_stopped: int | None = None
    trial_metrics_unavailable: int | None = None


class Experiment(KatibModel):
    api_version: str = API_VERSION
    kind: str = KIND
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ExperimentSpec = Field(default_factory=ExperimentSpec)
    status: ExperimentStatus | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Katib-shaped document (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
