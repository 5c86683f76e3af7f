"""Katib's validating webhook, plus the checks Katib leaves to fail late (docs/katib-compatibility.md).

Every check appends to one list, so a user sees all the problems of a file at once, each with the path
of the field (``spec.parameters[1].feasibleSpace.min``) in Katib's JSON names.
"""

from __future__ import annotations

import os.path
import re
from typing import Any

from pykatib.metrics.text import validate_filter
from pykatib.spec.errors import SpecError
from pykatib.spec.limits import (
    MAX_METRIC_NAME_LENGTH,
    MAX_NAME_LENGTH,
    MAX_NAMESPACE_LENGTH,
    MAX_PARAMETER_NAME_LENGTH,
)
from pykatib.spec.models import (
    CollectorKind,
    Experiment,
    ExperimentSpec,
    FileFormat,
    FileSystemKind,
    ObjectiveType,
    ParameterType,
    TrialTemplate,
)
from pykatib.spec.nas import nas_errors
from pykatib.spec.settings import (
    ALGORITHM_NAMES,
    EARLY_STOPPING_NAMES,
    SettingsContext,
    validate_algorithm_settings,
    validate_early_stopping_settings,
)
from pykatib.spec.space import SearchSpace, hyperband_resource, parse_search_space
from pykatib.trial.template import find_placeholders, parse_meta_reference, placeholder, substitute
from pykatib.trial.workflow import WorkflowError, is_workflow, workflow_plan

NAME_PATTERN = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
# A Kubernetes namespace is a DNS-1123 label. It is also a directory name under the work directory.
NAMESPACE_PATTERN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
HYPERBAND = "hyperband"


def validate(experiment: Experiment, *, trial_spec: dict[str, Any] | None = None) -> list[SpecError]:
    """All problems of a defaulted experiment. ``trial_spec`` is the rendered template when the experiment
    takes it from elsewhere (a ConfigMap, a v1alpha3 Go template rendered with sample values)."""
    errors: list[SpecError] = []
    _validate_metadata(experiment, errors)
    spec = experiment.spec
    _validate_counts(spec, errors)
    _validate_objective(spec, errors)
    space = _validate_parameters(spec, errors)
    _validate_algorithm(spec, space, errors)
    _validate_early_stopping(spec, errors)
    _validate_trial_template(experiment, trial_spec, errors)
    _validate_metrics_collector(spec, errors)
    return errors


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an experiment's name (Katib's rule), or None."""
    if not NAME_PATTERN.fullmatch(name):
        return (
            f"{_quoted(name)}: name must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character (e.g. 'my-name' or 'abc-123')"
        )
    return _length_problem(name, MAX_NAME_LENGTH)


def namespace_problem(namespace: str) -> str | None:
    """Why ``namespace`` cannot be a Kubernetes namespace (a DNS-1123 label), or None."""
    if not NAMESPACE_PATTERN.fullmatch(namespace):
        return (
            f"{_quoted(namespace)}: a namespace must consist of lower case alphanumeric characters or '-', and start "
            "and end with an alphanumeric character (a DNS-1123 label, e.g. 'default' or 'team-1')"
        )
    return _length_problem(namespace, MAX_NAMESPACE_LENGTH)


def _quoted(value: str) -> str:
    """``value`` as repr() shows it, cut short: a wrong 10,000-character name is not echoed in full."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _length_problem(value: str, limit: int) -> str | None:
    return f"must be at most {limit} characters (got {len(value)})" if len(value) > limit else None


def _check_length(path: str, value: str | None, limit: int, errors: list[SpecError]) -> None:
    if value is not None and (problem := _length_problem(value, limit)) is not None:
        errors.append(SpecError(path, problem))


def _validate_metadata(exp: Experiment, errors: list[SpecError]) -> None:
    name, namespace = exp.metadata.name, exp.metadata.namespace
    if not name:
        errors.append(SpecError("metadata.name", "must be specified"))
    elif (problem := name_problem(name)) is not None:
        errors.append(SpecError("metadata.name", problem))
    # Defaulted to "default" when absent; anything else names a directory, so it is checked in full.
    if namespace is not None and (problem := namespace_problem(namespace)) is not None:
        errors.append(SpecError("metadata.namespace", problem))


def _validate_counts(spec: ExperimentSpec, errors: list[SpecError]) -> None:
    max_failed, max_trials, parallel = (
        spec.max_failed_trial_count,
        spec.max_trial_count,
        spec.parallel_trial_count,
    )
    if max_failed is not None and max_failed < 0:
        errors.append(SpecError("spec.maxFailedTrialCount", f"should not be less than 0, got {max_failed}"))
    if max_trials is not None and max_trials <= 0:
        errors.append(SpecError("spec.maxTrialCount", f"must be greater than 0, got {max_trials}"))
    if parallel is not None and parallel <= 0:
        errors.append(SpecError("spec.parallelTrialCount", f"must be greater than 0, got {parallel}"))
    if max_failed is not None and max_trials is not None and max_failed > max_trials:
        errors.append(
            SpecError(
                "spec.maxFailedTrialCount",
                f"should be less than or equal to spec.maxTrialCount ({max_failed} > {max_trials})",
            )
        )
    if parallel is not None and max_trials is not None and parallel > max_trials:
        errors.append(
            SpecError(
                "spec.parallelTrialCount",
                f"should be less than or equal to spec.maxTrialCount ({parallel} > {max_trials})",
            )
        )


def _validate_objective(spec: ExperimentSpec, errors: list[SpecError]) -> None:
    objective = spec.objective
    if objective is None:
        errors.append(SpecError("spec.objective", "must be specified"))
        return
    if objective.type not in (ObjectiveType.MINIMIZE, ObjectiveType.MAXIMIZE):
        errors.append(SpecError("spec.objective.type", "must be minimize or maximize"))
    if not objective.objective_metric_name:
        errors.append(SpecError("spec.objective.objectiveMetricName", "must be specified"))
    # Metric names are stored with every observation: bounded here, the same for every store backend.
    _check_length("spec.objective.objectiveMetricName", objective.objective_metric_name, MAX_METRIC_NAME_LENGTH, errors)
    additional = objective.additional_metric_names or []
    if objective.objective_metric_name and objective.objective_metric_name in additional:
        errors.append(
            SpecError(
                "spec.objective.additionalMetricNames",
                f"should not contain spec.objective.objectiveMetricName ({_quoted(objective.objective_metric_name)})",
            )
        )
    listed: set[str] = set()
    for i, name in enumerate(additional):
        if not name:
            errors.append(SpecError(f"spec.objective.additionalMetricNames[{i}]", "must not be empty"))
        elif name in listed:
            errors.append(SpecError(f"spec.objective.additionalMetricNames[{i}]", f"duplicate metric {_quoted(name)}"))
        else:
            listed.add(name)
            _check_length(f"spec.objective.additionalMetricNames[{i}]", name, MAX_METRIC_NAME_LENGTH, errors)
    metrics = {objective.objective_metric_name, *additional}
    seen: set[str] = set()
    for i, strategy in enumerate(objective.metric_strategies or ()):
        path = f"spec.objective.metricStrategies[{i}].name"
        if strategy.name not in metrics:
            errors.append(
                SpecError(path, f"metric {_quoted(strategy.name)} is neither the objective nor an additional metric")
            )
        elif strategy.name in seen:
            errors.append(SpecError(path, f"duplicate strategy for metric {_quoted(strategy.name)}"))
        seen.add(strategy.name)


def _validate_parameters(spec: ExperimentSpec, errors: list[SpecError]) -> SearchSpace:
    parameters = spec.parameters or []
    if not parameters and spec.nas_config is None:
        errors.append(SpecError("spec", "spec.parameters or spec.nasConfig must be specified"))
    if parameters and spec.nas_config is not None:
        errors.append(SpecError("spec", "only one of spec.parameters and spec.nasConfig can be specified"))
    for i, parameter in enumerate(parameters):
        path = f"spec.parameters[{i}]"
        fs = parameter.feasible_space
        if not parameter.name:
            errors.append(SpecError(f"{path}.name", "must be specified"))
        _check_length(f"{path}.name", parameter.name, MAX_PARAMETER_NAME_LENGTH, errors)
        if parameter.parameter_type is None:
            errors.append(SpecError(f"{path}.parameterType", "must be specified: double, int, discrete or categorical"))
        if fs.is_empty():
            errors.append(SpecError(f"{path}.feasibleSpace", "feasibleSpace must be specified"))
        elif parameter.parameter_type in (ParameterType.DOUBLE, ParameterType.INT):
            if fs.list:
                errors.append(
                    SpecError(
                        f"{path}.feasibleSpace.list",
                        f"feasibleSpace.list is not supported for parameterType: {parameter.parameter_type}",
                    )
                )
            for bound in ("min", "max"):
                if not getattr(fs, bound):
                    errors.append(
                        SpecError(
                            f"{path}.feasibleSpace.{bound}",
                            f"feasibleSpace.{bound} must be specified for parameterType: {parameter.parameter_type}",
                        )
                    )
        elif parameter.parameter_type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
            for key in ("min", "max", "step"):
                if getattr(fs, key):
                    errors.append(
                        SpecError(
                            f"{path}.feasibleSpace.{key}",
                            f"feasibleSpace .max, .min and .step is not supported for parameterType: "
                            f"{parameter.parameter_type}",
                        )
                    )
    # Numbers are parsed only where the structure is right, so one mistake is not reported twice.
    structurally_bad = {e.path.split(".feasibleSpace")[0] for e in errors if e.path.startswith("spec.parameters[")}
    parsable = [p for i, p in enumerate(parameters) if f"spec.parameters[{i}]" not in structurally_bad]
    index = {id(p): i for i, p in enumerate(parameters)}
    space, problems = parse_search_space(parsable, fixed_range=hyperband_resource(spec))
    for problem in problems:
        # parse_search_space numbers the filtered list; map back to the user's indices.
        match = re.match(r"spec\.parameters\[(\d+)\](.*)", problem.path)
        if match:
            original = index[id(parsable[int(match.group(1))])]
            problem = SpecError(f"spec.parameters[{original}]{match.group(2)}", problem.message)
        errors.append(problem)
    return space


def _validate_algorithm(spec: ExperimentSpec, space: SearchSpace, errors: list[SpecError]) -> None:
    algorithm = spec.algorithm
    if algorithm is None:
        errors.append(SpecError("spec.algorithm", "must be specified"))
        return
    name = algorithm.algorithm_name
    if not name:
        errors.append(
            SpecError("spec.algorithm.algorithmName", f"must be specified: one of {', '.join(ALGORITHM_NAMES)}")
        )
        return
    context = SettingsContext(
        space=space,
        parameter_specs=spec.parameters or [],
        max_trial_count=spec.max_trial_count,
        parallel_trial_count=spec.parallel_trial_count or 1,
        has_nas_config=spec.nas_config is not None,
    )
    errors.extend(validate_algorithm_settings(name, algorithm.algorithm_settings or [], context))
    if spec.nas_config is not None:
        # What Katib's enas and darts services check when they start, checked here: a server never stores
        # an experiment its suggester would refuse.
        errors.extend(nas_errors(name, spec.nas_config))


def _validate_early_stopping(spec: ExperimentSpec, errors: list[SpecError]) -> None:
    early = spec.early_stopping
    if early is None:
        return
    if not early.algorithm_name:
        errors.append(
            SpecError(
                "spec.earlyStopping.algorithmName",
                f"must be specified: one of {', '.join(EARLY_STOPPING_NAMES)}",
            )
        )
        return
    errors.extend(validate_early_stopping_settings(early.algorithm_name, early.algorithm_settings or []))


def _validate_trial_template(exp: Experiment, rendered: dict[str, Any] | None, errors: list[SpecError]) -> None:
    template = exp.spec.trial_template
    path = "spec.trialTemplate"
    if template is None:
        errors.append(SpecError(path, "must be specified"))
        return
    sources = [s for s in (template.trial_spec, template.config_map, template.go_template) if s is not None]
    if not sources:
        errors.append(SpecError(path, "spec.trialTemplate.trialSpec or spec.trialTemplate.configMap must be specified"))
        return
    if len(sources) > 1:
        errors.append(
            SpecError(
                path,
                "only one of spec.trialTemplate.trialSpec or spec.trialTemplate.configMap can be specified",
            )
        )
        return
    if template.config_map is not None:
        cm = template.config_map
        if not (cm.config_map_name and cm.config_map_namespace and cm.template_path):
            errors.append(
                SpecError(f"{path}.configMap", "configMapName, configMapNamespace and templatePath must be specified")
            )
            return
    trial_spec = template.trial_spec if template.trial_spec is not None else rendered
    if trial_spec is None:
        return  # a template that could not be read or rendered: the loader has said why
    if not template.primary_container_name:
        errors.append(SpecError(f"{path}.primaryContainerName", "must be specified"))
    if not template.success_condition or not template.failure_condition:
        errors.append(
            SpecError(
                path,
                "successCondition and failureCondition must be specified (Katib defaults them only "
                "for Job, TrainJob, TFJob, PyTorchJob, XGBoostJob and MPIJob)",
            )
        )
    if template.go_template is not None:
        return  # v1alpha3 has no trialParameters; the loader rendered the Go template already
    if template.trial_parameters is None:
        errors.append(SpecError(f"{path}.trialParameters", "must be specified"))
        return
    _validate_trial_parameters(exp.spec, trial_spec, errors)
    _validate_trial_object(trial_spec, errors)
    _validate_workflow(template, trial_spec, errors)


def _validate_trial_parameters(spec: ExperimentSpec, trial_spec: dict[str, Any], errors: list[SpecError]) -> None:
    template = spec.trial_template
    assert template is not None and template.trial_parameters is not None
    path = "spec.trialTemplate.trialParameters"
    parameter_names = {p.name for p in spec.parameters or ()}
    used = set(find_placeholders(trial_spec))
    names: set[str] = set()
    references: set[str] = set()
    for i, tp in enumerate(template.trial_parameters):
        if not tp.name or not tp.reference or "{" in tp.name or "}" in tp.name:
            errors.append(
                SpecError(
                    f"{path}[{i}]",
                    "name and reference must be specified and name must not contain '{' or '}'",
                )
            )
            continue
        if tp.name in names:
            errors.append(SpecError(f"{path}[{i}].name", f"parameter name {tp.name!r} can't be duplicated"))
            continue
        if tp.reference in references:
            errors.append(
                SpecError(f"{path}[{i}].reference", f"parameter reference {tp.reference!r} can't be duplicated")
            )
            continue
        names.add(tp.name)
        references.add(tp.reference)
        if parameter_names and tp.reference not in parameter_names and parse_meta_reference(tp.reference) is None:
            errors.append(
                SpecError(
                    f"{path}[{i}].reference",
                    f"parameter reference {tp.reference!r} does not exist in spec.parameters "
                    f"({', '.join(sorted(parameter_names))}) and is not a ${{trialSpec.Name|Namespace|Kind|"
                    "APIVersion|Labels[key]|Annotations[key]}} reference",
                )
            )
        if tp.name not in used:
            errors.append(
                SpecError(
                    f"{path}[{i}].name",  # Katib's words, then which placeholder is missing
                    f"parameter name: {tp.name} in spec.trialParameters not found in spec.trialTemplate: "
                    f"{placeholder(tp.name)} is not used there",
                )
            )
    for name in sorted(used - names):
        errors.append(
            SpecError(
                "spec.trialTemplate",
                f"{placeholder(name)} is used in the template but not declared in spec.trialTemplate.trialParameters",
            )
        )


def _validate_workflow(template: TrialTemplate, trial_spec: dict[str, Any], errors: list[SpecError]) -> None:
    """An Argo Workflow: what pykatib cannot run in it is refused here, each part with its field's path."""
    rendered = substitute(trial_spec, dict.fromkeys(find_placeholders(trial_spec), "test-value"))
    if not isinstance(rendered, dict) or not is_workflow(rendered):
        return
    try:
        workflow_plan(rendered, primary_container_name=template.primary_container_name,
                      primary_pod_labels=template.primary_pod_labels, check_commands=False)  # fmt: skip
    except WorkflowError as exc:
        errors.extend(SpecError(path, message) for path, message in exc.problems)


def _validate_trial_object(trial_spec: dict[str, Any], errors: list[SpecError]) -> None:
    path = "spec.trialTemplate.trialSpec"
    rendered = substitute(trial_spec, dict.fromkeys(find_placeholders(trial_spec), "test-value"))
    if not isinstance(rendered, dict):
        errors.append(SpecError(path, "must be a Kubernetes object (a mapping)"))
        return
    metadata = rendered.get("metadata") or {}
    if isinstance(metadata, dict) and (metadata.get("name") or metadata.get("namespace")):
        errors.append(
            SpecError(
                f"{path}.metadata",
                "metadata.name and metadata.namespace in spec.trialTemplate must be omitted",
            )
        )
    if not rendered.get("apiVersion") or not rendered.get("kind"):
        errors.append(SpecError(path, "APIVersion and Kind in spec.trialTemplate must be specified"))


def _validate_metrics_collector(spec: ExperimentSpec, errors: list[SpecError]) -> None:
    mc = spec.metrics_collector_spec
    if mc is None or mc.collector is None:
        return
    path = "spec.metricsCollectorSpec"
    kind = mc.collector.kind
    fsp = mc.source.file_system_path if mc.source else None
    if kind is CollectorKind.FILE:
        if fsp is None or fsp.kind is not FileSystemKind.FILE or not fsp.path or not os.path.isabs(fsp.path):
            errors.append(
                SpecError(
                    f"{path}.source.fileSystemPath.path",
                    "file path where metrics file exists is required (kind: File and an absolute path)",
                )
            )
        if fsp is None or fsp.format not in (FileFormat.TEXT, FileFormat.JSON):
            errors.append(
                SpecError(f"{path}.source.fileSystemPath.format", "format of metrics file is required: TEXT or JSON")
            )
        elif fsp.format is FileFormat.JSON and mc.source is not None and mc.source.filter is not None:
            errors.append(SpecError(f"{path}.source.filter", "filter must be nil when format of metrics file is json"))
    elif kind is CollectorKind.TENSORFLOW_EVENT:
        if fsp is None or fsp.kind is not FileSystemKind.DIRECTORY or not fsp.path or not os.path.isabs(fsp.path):
            errors.append(
                SpecError(
                    f"{path}.source.fileSystemPath.path",
                    "directory path where tensorflow event files "
                    "exist is required (kind: Directory and an absolute path)",
                )
            )
        if fsp is not None and fsp.format is not None:
            errors.append(SpecError(f"{path}.source.fileSystemPath.format", "must be empty for TensorFlowEvent"))
    elif kind is CollectorKind.PROMETHEUS_METRIC:
        http_get = (mc.source.http_get if mc.source else None) or {}
        port = http_get.get("port")
        if not (isinstance(port, int) and not isinstance(port, bool) and port > 0) and not (
            isinstance(port, str) and port.isdigit() and int(port) > 0
        ):
            errors.append(
                SpecError(
                    f"{path}.source.httpGet.port",
                    f"must be a positive integer for metrics collector kind: {kind}",
                )
            )
        if not str(http_get.get("path", "")).startswith("/"):
            errors.append(
                SpecError(f"{path}.source.httpGet.path", f"path is invalid for metrics collector kind: {kind}")
            )
    elif kind is CollectorKind.CUSTOM:
        if mc.collector.custom_collector is None:
            errors.append(SpecError(f"{path}.collector.customCollector", f"metrics collector kind: {kind} is required"))
        if fsp is not None and (not fsp.path or not os.path.isabs(fsp.path) or fsp.kind is None):
            errors.append(SpecError(f"{path}.source.fileSystemPath", ".spec.metricsCollectorSpec.source is invalid"))
    filters = (mc.source.filter.metrics_format if mc.source and mc.source.filter else None) or []
    for i, regex in enumerate(filters):
        problem = validate_filter(regex)
        if problem:
            errors.append(SpecError(f"{path}.source.filter.metricsFormat[{i}]", problem))
