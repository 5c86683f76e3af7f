"""Katib's SDK models (``kubeflow.katib.models``), built from one table: class -> {attribute: type}.

The types are Katib's ``openapi_types`` strings, so every class has the same constructor keywords (and
positional order), attributes and ``to_dict()`` as Katib's. ``V1ObjectMeta`` and ``V1ListMeta`` are the
Kubernetes client's (Katib re-exports them); the other Kubernetes types Katib's schemas name (``V1Container``
of a custom collector, ``V1HTTPGetAction``) are kept as plain JSON dicts here.
"""

from __future__ import annotations

from typing import Any

from pykatib.sdk._model import Model, deserialize, make_model

_CONDITION = {
    "last_transition_time": "datetime",
    "last_update_time": "datetime",
    "message": "str",
    "reason": "str",
    "status": "str",
    "type": "str",
}
_SETTING = {"name": "str", "value": "str"}
_OBJECT = {"api_version": "str", "kind": "str", "metadata": "V1ObjectMeta"}

TABLE: dict[str, dict[str, str]] = {
    "V1beta1AlgorithmSetting": _SETTING,
    "V1beta1AlgorithmSpec": {"algorithm_name": "str", "algorithm_settings": "list[V1beta1AlgorithmSetting]"},
    "V1beta1CollectorSpec": {"custom_collector": "V1Container", "kind": "str"},
    "V1beta1ConfigMapSource": {"config_map_name": "str", "config_map_namespace": "str", "template_path": "str"},
    "V1beta1EarlyStoppingRule": {"comparison": "str", "name": "str", "start_step": "int", "value": "str"},
    "V1beta1EarlyStoppingSetting": _SETTING,
    "V1beta1EarlyStoppingSpec": {"algorithm_name": "str", "algorithm_settings": "list[V1beta1EarlyStoppingSetting]"},
    "V1beta1Experiment": {**_OBJECT, "spec": "V1beta1ExperimentSpec", "status": "V1beta1ExperimentStatus"},
    "V1beta1ExperimentCondition": _CONDITION,
    "V1beta1ExperimentList": {
        "api_version": "str",
        "items": "list[V1beta1Experiment]",
        "kind": "str",
        "metadata": "V1ListMeta",
    },
    "V1beta1ExperimentSpec": {
        "algorithm": "V1beta1AlgorithmSpec",
        "early_stopping": "V1beta1EarlyStoppingSpec",
        "max_failed_trial_count": "int",
        "max_trial_count": "int",
        "metrics_collector_spec": "V1beta1MetricsCollectorSpec",
        "nas_config": "V1beta1NasConfig",
        "objective": "V1beta1ObjectiveSpec",
        "parallel_trial_count": "int",
        "parameters": "list[V1beta1ParameterSpec]",
        "resume_policy": "str",
        "trial_template": "V1beta1TrialTemplate",
    },
    "V1beta1ExperimentStatus": {
        "completion_time": "datetime",
        "conditions": "list[V1beta1ExperimentCondition]",
        "current_optimal_trial": "V1beta1OptimalTrial",
        "early_stopped_trial_list": "list[str]",
        "failed_trial_list": "list[str]",
        "killed_trial_list": "list[str]",
        "last_reconcile_time": "datetime",
        "metrics_unavailable_trial_list": "list[str]",
        "pending_trial_list": "list[str]",
        "running_trial_list": "list[str]",
        "start_time": "datetime",
        "succeeded_trial_list": "list[str]",
        "trial_metrics_unavailable": "int",
        "trials": "int",
        "trials_early_stopped": "int",
        "trials_failed": "int",
        "trials_killed": "int",
        "trials_pending": "int",
        "trials_running": "int",
        "trials_succeeded": "int",
    },
    "V1beta1FeasibleSpace": {"distribution": "str", "list": "list[str]", "max": "str", "min": "str", "step": "str"},
    "V1beta1FileSystemPath": {"format": "str", "kind": "str", "path": "str"},
    "V1beta1FilterSpec": {"metrics_format": "list[str]"},
    "V1beta1GraphConfig": {"input_sizes": "list[int]", "num_layers": "int", "output_sizes": "list[int]"},
    "V1beta1Metric": {"latest": "str", "max": "str", "min": "str", "name": "str"},
    "V1beta1MetricStrategy": _SETTING,
    "V1beta1MetricsCollectorSpec": {"collector": "V1beta1CollectorSpec", "source": "V1beta1SourceSpec"},
    "V1beta1NasConfig": {"graph_config": "V1beta1GraphConfig", "operations": "list[V1beta1Operation]"},
    "V1beta1ObjectiveSpec": {
        "additional_metric_names": "list[str]",
        "goal": "float",
        "metric_strategies": "list[V1beta1MetricStrategy]",
        "objective_metric_name": "str",
        "type": "str",
    },
    "V1beta1Observation": {"metrics": "list[V1beta1Metric]"},
    "V1beta1Operation": {"operation_type": "str", "parameters": "list[V1beta1ParameterSpec]"},
    "V1beta1OptimalTrial": {
        "best_trial_name": "str",
        "observation": "V1beta1Observation",
        "parameter_assignments": "list[V1beta1ParameterAssignment]",
    },
    "V1beta1ParameterAssignment": _SETTING,
    "V1beta1ParameterSpec": {"feasible_space": "V1beta1FeasibleSpace", "name": "str", "parameter_type": "str"},
    "V1beta1SourceSpec": {
        "file_system_path": "V1beta1FileSystemPath",
        "filter": "V1beta1FilterSpec",
        "http_get": "V1HTTPGetAction",
    },
    "V1beta1Suggestion": {**_OBJECT, "spec": "V1beta1SuggestionSpec", "status": "V1beta1SuggestionStatus"},
    "V1beta1SuggestionCondition": _CONDITION,
    "V1beta1SuggestionList": {
        "api_version": "str",
        "items": "list[V1beta1Suggestion]",
        "kind": "str",
        "metadata": "V1ListMeta",
    },
    "V1beta1SuggestionSpec": {
        "algorithm": "V1beta1AlgorithmSpec",
        "early_stopping": "V1beta1EarlyStoppingSpec",
        "requests": "int",
        "resume_policy": "str",
    },
    "V1beta1SuggestionStatus": {
        "algorithm_settings": "list[V1beta1AlgorithmSetting]",
        "completion_time": "datetime",
        "conditions": "list[V1beta1SuggestionCondition]",
        "last_reconcile_time": "datetime",
        "start_time": "datetime",
        "suggestion_count": "int",
        "suggestions": "list[V1beta1TrialAssignment]",
    },
    "V1beta1Trial": {**_OBJECT, "spec": "V1beta1TrialSpec", "status": "V1beta1TrialStatus"},
    "V1beta1TrialAssignment": {
        "early_stopping_rules": "list[V1beta1EarlyStoppingRule]",
        "labels": "dict(str, str)",
        "name": "str",
        "parameter_assignments": "list[V1beta1ParameterAssignment]",
    },
    "V1beta1TrialCondition": _CONDITION,
    "V1beta1TrialList": {"api_version": "str", "items": "list[V1beta1Trial]", "kind": "str", "metadata": "V1ListMeta"},
    "V1beta1TrialParameterSpec": {"description": "str", "name": "str", "reference": "str"},
    "V1beta1TrialSource": {"config_map": "V1beta1ConfigMapSource", "trial_spec": "object"},
    "V1beta1TrialSpec": {
        "early_stopping_rules": "list[V1beta1EarlyStoppingRule]",
        "failure_condition": "str",
        "labels": "dict(str, str)",
        "metrics_collector": "V1beta1MetricsCollectorSpec",
        "objective": "V1beta1ObjectiveSpec",
        "parameter_assignments": "list[V1beta1ParameterAssignment]",
        "primary_container_name": "str",
        "primary_pod_labels": "dict(str, str)",
        "retain_run": "bool",
        "run_spec": "object",
        "success_condition": "str",
    },
    "V1beta1TrialStatus": {
        "completion_time": "datetime",
        "conditions": "list[V1beta1TrialCondition]",
        "last_reconcile_time": "datetime",
        "observation": "V1beta1Observation",
        "start_time": "datetime",
    },
    "V1beta1TrialTemplate": {
        "config_map": "V1beta1ConfigMapSource",
        "failure_condition": "str",
        "primary_container_name": "str",
        "primary_pod_labels": "dict(str, str)",
        "retain": "bool",
        "success_condition": "str",
        "trial_parameters": "list[V1beta1TrialParameterSpec]",
        "trial_spec": "object",
    },
    # The Kubernetes client's, re-exported by Katib's SDK.
    "V1ObjectMeta": {
        "annotations": "dict(str, str)",
        "creation_timestamp": "datetime",
        "deletion_grace_period_seconds": "int",
        "deletion_timestamp": "datetime",
        "finalizers": "list[str]",
        "generate_name": "str",
        "generation": "int",
        "labels": "dict(str, str)",
        "managed_fields": "list[V1ManagedFieldsEntry]",
        "name": "str",
        "namespace": "str",
        "owner_references": "list[V1OwnerReference]",
        "resource_version": "str",
        "self_link": "str",
        "uid": "str",
    },
    "V1ListMeta": {"_continue": "str", "remaining_item_count": "int", "resource_version": "str", "self_link": "str"},
}
_JSON_NAMES = {"V1ListMeta": {"_continue": "continue"}}

CLASSES: dict[str, type[Model]] = {
    name: make_model(name, types, _JSON_NAMES.get(name)) for name, types in TABLE.items()
}


def from_json(data: Any, class_name: str) -> Any:
    """The server's JSON object as the model ``class_name`` (``V1beta1Experiment``...)."""
    return deserialize(data, class_name, CLASSES)


# Module attributes, one per class, as in ``kubeflow.katib.models`` (typed as Model classes for checkers).
V1beta1AlgorithmSetting = CLASSES["V1beta1AlgorithmSetting"]
V1beta1AlgorithmSpec = CLASSES["V1beta1AlgorithmSpec"]
V1beta1CollectorSpec = CLASSES["V1beta1CollectorSpec"]
V1beta1ConfigMapSource = CLASSES["V1beta1ConfigMapSource"]
V1beta1EarlyStoppingRule = CLASSES["V1beta1EarlyStoppingRule"]
V1beta1EarlyStoppingSetting = CLASSES["V1beta1EarlyStoppingSetting"]
V1beta1EarlyStoppingSpec = CLASSES["V1beta1EarlyStoppingSpec"]
V1beta1Experiment = CLASSES["V1beta1Experiment"]
V1beta1ExperimentCondition = CLASSES["V1beta1ExperimentCondition"]
V1beta1ExperimentList = CLASSES["V1beta1ExperimentList"]
V1beta1ExperimentSpec = CLASSES["V1beta1ExperimentSpec"]
V1beta1ExperimentStatus = CLASSES["V1beta1ExperimentStatus"]
V1beta1FeasibleSpace = CLASSES["V1beta1FeasibleSpace"]
V1beta1FileSystemPath = CLASSES["V1beta1FileSystemPath"]
V1beta1FilterSpec = CLASSES["V1beta1FilterSpec"]
V1beta1GraphConfig = CLASSES["V1beta1GraphConfig"]
V1beta1Metric = CLASSES["V1beta1Metric"]
V1beta1MetricStrategy = CLASSES["V1beta1MetricStrategy"]
V1beta1MetricsCollectorSpec = CLASSES["V1beta1MetricsCollectorSpec"]
V1beta1NasConfig = CLASSES["V1beta1NasConfig"]
V1beta1ObjectiveSpec = CLASSES["V1beta1ObjectiveSpec"]
V1beta1Observation = CLASSES["V1beta1Observation"]
V1beta1Operation = CLASSES["V1beta1Operation"]
V1beta1OptimalTrial = CLASSES["V1beta1OptimalTrial"]
V1beta1ParameterAssignment = CLASSES["V1beta1ParameterAssignment"]
V1beta1ParameterSpec = CLASSES["V1beta1ParameterSpec"]
V1beta1SourceSpec = CLASSES["V1beta1SourceSpec"]
V1beta1Suggestion = CLASSES["V1beta1Suggestion"]
V1beta1SuggestionCondition = CLASSES["V1beta1SuggestionCondition"]
V1beta1SuggestionList = CLASSES["V1beta1SuggestionList"]
V1beta1SuggestionSpec = CLASSES["V1beta1SuggestionSpec"]
V1beta1SuggestionStatus = CLASSES["V1beta1SuggestionStatus"]
V1beta1Trial = CLASSES["V1beta1Trial"]
V1beta1TrialAssignment = CLASSES["V1beta1TrialAssignment"]
V1beta1TrialCondition = CLASSES["V1beta1TrialCondition"]
V1beta1TrialList = CLASSES["V1beta1TrialList"]
V1beta1TrialParameterSpec = CLASSES["V1beta1TrialParameterSpec"]
V1beta1TrialSource = CLASSES["V1beta1TrialSource"]
V1beta1TrialSpec = CLASSES["V1beta1TrialSpec"]
V1beta1TrialStatus = CLASSES["V1beta1TrialStatus"]
V1beta1TrialTemplate = CLASSES["V1beta1TrialTemplate"]
V1ObjectMeta = CLASSES["V1ObjectMeta"]
V1ListMeta = CLASSES["V1ListMeta"]

__all__ = ["CLASSES", "TABLE", "Model", "from_json", *TABLE]
