"""Katib's validating-webhook rules (validator_test.go's cases) and pykatib's stricter number checks.

Each case mutates a valid experiment and names the path and words of the error it must produce; each rule
also has a passing neighbour, so a rule that rejects everything would fail here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pykatib.spec.loader import load_document
from tests_support import delete, put

Mutation = Callable[[dict[str, Any]], None]


def errors_of(doc: dict[str, Any]) -> list[str]:
    loaded = load_document(doc, source="test", index=0, config_maps={})
    return [str(e) for e in loaded.errors]


def param(i: int, key: str, value: Any) -> Mutation:
    return put(f"spec.parameters.{i}.feasibleSpace.{key}", value)


def both(*mutations: Mutation) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for mutation in mutations:
            mutation(doc)

    return apply


def template_command(command: list[str]) -> Mutation:
    return put("spec.trialTemplate.trialSpec.spec.template.spec.containers.0.command", command)


INVALID: list[tuple[str, Mutation, str, str]] = [
    # metadata
    ("name-missing", delete("metadata.name"), "metadata.name", "must be specified"),
    ("name-uppercase", put("metadata.name", "Random"), "metadata.name", "lower case"),
    ("name-trailing-dash", put("metadata.name", "random-"), "metadata.name", "end with an alphanumeric"),
    ("name-leading-digit", put("metadata.name", "1random"), "metadata.name", "start with an alphabetic"),
    ("name-too-long", put("metadata.name", "a" * 41), "metadata.name", "at most 40"),
    # counts
    ("max-failed-negative", put("spec.maxFailedTrialCount", -1), "spec.maxFailedTrialCount", "less than 0"),
    ("max-trials-zero", put("spec.maxTrialCount", 0), "spec.maxTrialCount", "greater than 0"),
    ("max-trials-negative", put("spec.maxTrialCount", -2), "spec.maxTrialCount", "greater than 0"),
    ("parallel-zero", put("spec.parallelTrialCount", 0), "spec.parallelTrialCount", "greater than 0"),
    (
        "max-failed-over-max",
        put("spec.maxFailedTrialCount", 13),
        "spec.maxFailedTrialCount",
        "less than or equal",
    ),
    (
        "parallel-over-max",
        put("spec.parallelTrialCount", 13),
        "spec.parallelTrialCount",
        "less than or equal",
    ),
    ("count-not-int", put("spec.maxTrialCount", "12"), "spec.maxTrialCount", "valid integer"),
    ("count-bool", put("spec.parallelTrialCount", True), "spec.parallelTrialCount", "valid integer"),
    (
        "count-huge",
        put("spec.maxTrialCount", 10**30),
        "spec.maxTrialCount",
        "less than or equal to 2147483647",
    ),
    # objective
    ("objective-missing", delete("spec.objective"), "spec.objective", "must be specified"),
    (
        "objective-type-bad",
        put("spec.objective.type", "minimise"),
        "spec.objective.type",
        "'minimize' or 'maximize'",
    ),
    ("objective-type-missing", delete("spec.objective.type"), "spec.objective.type", "minimize or maximize"),
    (
        "objective-metric-missing",
        delete("spec.objective.objectiveMetricName"),
        "spec.objective.objectiveMetricName",
        "must be specified",
    ),
    (
        "additional-contains-objective",
        put("spec.objective.additionalMetricNames", ["acc", "loss"]),
        "spec.objective.additionalMetricNames",
        "should not contain",
    ),
    (
        "additional-duplicate",
        put("spec.objective.additionalMetricNames", ["acc", "acc"]),
        "spec.objective.additionalMetricNames[1]",
        "duplicate",
    ),
    (
        "strategy-unknown-metric",
        put("spec.objective.metricStrategies", [{"name": "acc", "value": "max"}]),
        "spec.objective.metricStrategies[0].name",
        "neither the objective",
    ),
    (
        "strategy-bad-value",
        put("spec.objective.metricStrategies", [{"name": "loss", "value": "median"}]),
        "spec.objective.metricStrategies[0].value",
        "'min', 'max' or 'latest'",
    ),
    ("goal-not-number", put("spec.objective.goal", "high"), "spec.objective.goal", "valid number"),
    # algorithm and early stopping
    ("algorithm-missing", delete("spec.algorithm"), "spec.algorithm", "must be specified"),
    (
        "algorithm-name-empty",
        put("spec.algorithm.algorithmName", ""),
        "spec.algorithm.algorithmName",
        "must be specified",
    ),
    (
        "algorithm-unknown",
        put("spec.algorithm.algorithmName", "invalid-algorithm"),
        "spec.algorithm.algorithmName",
        "invalid-algorithm",
    ),
    (
        "algorithm-setting-unknown",
        put("spec.algorithm.algorithmSettings", [{"name": "gamma", "value": "0.5"}]),
        "spec.algorithm.algorithmSettings[0].name",
        "unknown setting gamma for algorithm random",
    ),
    (
        "tpe-gamma-range",
        both(
            put("spec.algorithm.algorithmName", "tpe"),
            put("spec.algorithm.algorithmSettings", [{"name": "gamma", "value": "1.5"}]),
        ),
        "spec.algorithm.algorithmSettings[0].value",
        "(0, 1)",
    ),
    (
        "early-stopping-unknown",
        put("spec.earlyStopping", {"algorithmName": "meanstop"}),
        "spec.earlyStopping.algorithmName",
        "meanstop",
    ),
    (
        "early-stopping-empty",
        put("spec.earlyStopping", {"algorithmName": ""}),
        "spec.earlyStopping.algorithmName",
        "must be specified",
    ),
    (
        "resume-policy-bad",
        put("spec.resumePolicy", "Sometimes"),
        "spec.resumePolicy",
        "'Never', 'LongRunning'",
    ),
    # parameters
    (
        "no-parameters",
        delete("spec.parameters"),
        "spec",
        "spec.parameters or spec.nasConfig must be specified",
    ),
    ("parameters-and-nas", put("spec.nasConfig", {"graphConfig": {"numLayers": 2}}), "spec", "only one of"),
    (
        "parameter-type-bad",
        put("spec.parameters.0.parameterType", "float"),
        "spec.parameters[0].parameterType",
        "'double', 'int', 'discrete' or 'categorical'",
    ),
    (
        "parameter-type-missing",
        delete("spec.parameters.0.parameterType"),
        "spec.parameters[0].parameterType",
        "must be specified",
    ),
    (
        "distribution-bad",
        param(0, "distribution", "gaussian"),
        "spec.parameters[0].feasibleSpace.distribution",
        "'uniform', 'logUniform', 'normal' or 'logNormal'",
    ),
    (
        "feasible-space-empty",
        put("spec.parameters.0.feasibleSpace", {}),
        "spec.parameters[0].feasibleSpace",
        "must be specified",
    ),
    (
        "double-with-list",
        param(0, "list", ["0.1", "0.2"]),
        "spec.parameters[0].feasibleSpace.list",
        "not supported",
    ),
    (
        "double-without-max",
        delete("spec.parameters.0.feasibleSpace.max"),
        "spec.parameters[0].feasibleSpace.max",
        "must be specified",
    ),
    (
        "categorical-with-min",
        both(
            put(
                "spec.parameters.1",
                {
                    "name": "momentum",
                    "parameterType": "categorical",
                    "feasibleSpace": {"list": ["a"], "min": "1"},
                },
            )
        ),
        "spec.parameters[1].feasibleSpace.min",
        "not supported",
    ),
    (
        "discrete-with-step",
        put(
            "spec.parameters.1",
            {"name": "momentum", "parameterType": "discrete", "feasibleSpace": {"list": ["1"], "step": "1"}},
        ),
        "spec.parameters[1].feasibleSpace.step",
        "not supported",
    ),
    (
        "min-not-number",
        param(1, "min", "half"),
        "spec.parameters[1].feasibleSpace.min",
        "'half' is not a number",
    ),
    ("max-nan", param(1, "max", "nan"), "spec.parameters[1].feasibleSpace.max", "finite"),
    ("min-over-max", param(1, "min", "0.95"), "spec.parameters[1].feasibleSpace.min", "less than max"),
    ("min-equals-max", param(1, "min", "0.9"), "spec.parameters[1].feasibleSpace.min", "less than max"),
    ("step-zero", param(1, "step", "0"), "spec.parameters[1].feasibleSpace.step", "greater than 0"),
    ("step-negative", param(1, "step", "-0.1"), "spec.parameters[1].feasibleSpace.step", "greater than 0"),
    ("step-over-range", param(1, "step", "0.5"), "spec.parameters[1].feasibleSpace.step", "must not exceed"),
    (
        "log-uniform-nonpositive",
        both(param(1, "min", "0"), param(1, "distribution", "logUniform")),
        "spec.parameters[1].feasibleSpace.min",
        "logUniform needs min > 0",
    ),
    (
        "int-fractional",
        put(
            "spec.parameters.1",
            {"name": "momentum", "parameterType": "int", "feasibleSpace": {"min": "1.5", "max": "4"}},
        ),
        "spec.parameters[1].feasibleSpace.min",
        "integer",
    ),
    (
        "list-duplicate",
        put(
            "spec.parameters.1",
            {
                "name": "momentum",
                "parameterType": "categorical",
                "feasibleSpace": {"list": ["sgd", "adam", "sgd"]},
            },
        ),
        "spec.parameters[1].feasibleSpace.list[2]",
        "duplicate value 'sgd'",
    ),
    (
        "discrete-not-number",
        put(
            "spec.parameters.1",
            {"name": "momentum", "parameterType": "discrete", "feasibleSpace": {"list": ["1", "two"]}},
        ),
        "spec.parameters[1].feasibleSpace.list[1]",
        "not a number",
    ),
    ("parameter-name-duplicate", put("spec.parameters.1.name", "lr"), "spec.parameters[1].name", "duplicate"),
    (
        "parameter-unknown-field",
        put("spec.parameters.0.feasibleSpace.maximum", "3"),
        "spec.parameters[0].feasibleSpace.maximum",
        "unknown field (did you mean 'max'?)",
    ),
    ("spec-typo", put("spec.maxTrialCounts", 3), "spec.maxTrialCounts", "did you mean 'maxTrialCount'"),
    # trial template
    ("template-missing", delete("spec.trialTemplate"), "spec.trialTemplate", "must be specified"),
    ("template-no-source", delete("spec.trialTemplate.trialSpec"), "spec.trialTemplate", "trialSpec or"),
    (
        "template-two-sources",
        put("spec.trialTemplate.configMap", {"configMapName": "a"}),
        "spec.trialTemplate",
        "only one of",
    ),
    (
        "configmap-incomplete",
        both(
            delete("spec.trialTemplate.trialSpec"),
            put("spec.trialTemplate.configMap", {"configMapName": "a"}),
        ),
        "spec.trialTemplate.configMap",
        "configMapName, configMapNamespace and templatePath",
    ),
    (
        "configmap-not-found",
        both(
            delete("spec.trialTemplate.trialSpec"),
            put(
                "spec.trialTemplate.configMap",
                {"configMapName": "a", "configMapNamespace": "b", "templatePath": "c"},
            ),
        ),
        "spec.trialTemplate.configMap",
        "ConfigMap b/a not found",
    ),
    (
        "primary-container-missing",
        delete("spec.trialTemplate.primaryContainerName"),
        "spec.trialTemplate.primaryContainerName",
        "must be specified",
    ),
    (
        "conditions-missing-custom-kind",
        put("spec.trialTemplate.trialSpec.kind", "RayJob"),
        "spec.trialTemplate",
        "successCondition and failureCondition",
    ),
    (
        "trial-parameters-missing",
        delete("spec.trialTemplate.trialParameters"),
        "spec.trialTemplate.trialParameters",
        "must be specified",
    ),
    (
        "trial-parameter-no-reference",
        put("spec.trialTemplate.trialParameters.1.reference", ""),
        "spec.trialTemplate.trialParameters[1]",
        "name and reference must be specified",
    ),
    (
        "trial-parameter-brace",
        put("spec.trialTemplate.trialParameters.1.name", "mo{m"),
        "spec.trialTemplate.trialParameters[1]",
        "must not contain",
    ),
    (
        "trial-parameter-duplicate-name",
        put("spec.trialTemplate.trialParameters.1.name", "learningRate"),
        "spec.trialTemplate.trialParameters[1].name",
        "can't be duplicated",
    ),
    (
        "trial-parameter-duplicate-reference",
        put("spec.trialTemplate.trialParameters.1.reference", "lr"),
        "spec.trialTemplate.trialParameters[1].reference",
        "can't be duplicated",
    ),
    (
        "trial-parameter-bad-reference",
        put("spec.trialTemplate.trialParameters.1.reference", "mom"),
        "spec.trialTemplate.trialParameters[1].reference",
        "does not exist in spec.parameters",
    ),
    (
        "trial-parameter-unused",
        template_command(["python3", "--lr=${trialParameters.learningRate}"]),
        "spec.trialTemplate.trialParameters[1].name",
        "not used",
    ),
    (
        "template-placeholder-undeclared",
        template_command(
            [
                "--lr=${trialParameters.learningRate}",
                "--m=${trialParameters.momentum}",
                "--x=${trialParameters.batchSize}",
            ]
        ),
        "spec.trialTemplate",
        "${trialParameters.batchSize} is used in the template but not declared",
    ),
    (
        "template-metadata-name",
        put("spec.trialTemplate.trialSpec.metadata", {"name": "fixed"}),
        "spec.trialTemplate.trialSpec.metadata",
        "must be omitted",
    ),
    (
        "template-no-api-version",
        delete("spec.trialTemplate.trialSpec.apiVersion"),
        "spec.trialTemplate.trialSpec",
        "APIVersion and Kind",
    ),
    # metrics collector
    (
        "collector-kind-bad",
        put("spec.metricsCollectorSpec", {"collector": {"kind": "Stdout"}}),
        "spec.metricsCollectorSpec.collector.kind",
        "'StdOut'",
    ),
    (
        "file-relative-path",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {"fileSystemPath": {"path": "metrics.log", "kind": "File"}},
            },
        ),
        "spec.metricsCollectorSpec.source.fileSystemPath.path",
        "absolute path",
    ),
    (
        "file-kind-directory",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {"fileSystemPath": {"path": "/m", "kind": "Directory"}},
            },
        ),
        "spec.metricsCollectorSpec.source.fileSystemPath.path",
        "kind: File",
    ),
    (
        "file-json-with-filter",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {
                    "fileSystemPath": {"path": "/m.json", "kind": "File", "format": "JSON"},
                    "filter": {"metricsFormat": ["(a)=(b)"]},
                },
            },
        ),
        "spec.metricsCollectorSpec.source.filter",
        "filter must be nil",
    ),
    (
        "tfevent-kind-file",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "TensorFlowEvent"},
                "source": {"fileSystemPath": {"path": "/t", "kind": "File"}},
            },
        ),
        "spec.metricsCollectorSpec.source.fileSystemPath.path",
        "Directory",
    ),
    (
        "tfevent-format",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "TensorFlowEvent"},
                "source": {"fileSystemPath": {"path": "/t", "kind": "Directory", "format": "TEXT"}},
            },
        ),
        "spec.metricsCollectorSpec.source.fileSystemPath.format",
        "must be empty",
    ),
    (
        "filter-bad-regex",
        put(
            "spec.metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": ["([a-z]+=(\\d+"]}}},
        ),
        "spec.metricsCollectorSpec.source.filter.metricsFormat[0]",
        "invalid metrics filter",
    ),
    (
        "filter-one-group",
        put(
            "spec.metricsCollectorSpec",
            {"collector": {"kind": "StdOut"}, "source": {"filter": {"metricsFormat": ["loss=(\\d+)"]}}},
        ),
        "spec.metricsCollectorSpec.source.filter.metricsFormat[0]",
        "at least two capture groups",
    ),
    (
        "prometheus-port",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "PrometheusMetric"},
                "source": {"httpGet": {"port": -1, "path": "/metrics"}},
            },
        ),
        "spec.metricsCollectorSpec.source.httpGet.port",
        "positive integer",
    ),
    (
        "custom-without-collector",
        put("spec.metricsCollectorSpec", {"collector": {"kind": "Custom"}}),
        "spec.metricsCollectorSpec.collector.customCollector",
        "is required",
    ),
    # documents
    ("wrong-kind", put("kind", "Trial"), "kind", "must be Experiment"),
    ("wrong-api-version", put("apiVersion", "kubeflow.org/v1"), "apiVersion", "must be kubeflow.org/v1beta1"),
]


@pytest.mark.parametrize(("mutation", "path", "words"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_experiment_names_field_and_problem(
    base: dict[str, Any], mutation: Mutation, path: str, words: str
) -> None:
    mutation(base)
    errors = errors_of(base)
    matching = [e for e in errors if e.startswith(f"{path}: ") and words in e]
    assert matching, f"no error at {path} with {words!r}; got {errors}"


VALID: list[tuple[str, Mutation]] = [
    ("base", lambda d: None),
    ("no-max-trials", both(delete("spec.maxTrialCount"), delete("spec.maxFailedTrialCount"))),
    ("max-failed-zero", put("spec.maxFailedTrialCount", 0)),
    ("parallel-equals-max", put("spec.parallelTrialCount", 12)),
    ("numbers-unquoted", both(param(0, "min", 0.01), param(0, "max", 1))),
    (
        "int-range-and-step",
        put(
            "spec.parameters.1",
            {
                "name": "momentum",
                "parameterType": "int",
                "feasibleSpace": {"min": "1", "max": "9", "step": "2"},
            },
        ),
    ),
    ("log-uniform-positive", param(0, "distribution", "logUniform")),
    (
        "categorical",
        put(
            "spec.parameters.1",
            {"name": "momentum", "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "adam"]}},
        ),
    ),
    (
        "discrete",
        put(
            "spec.parameters.1",
            {"name": "momentum", "parameterType": "discrete", "feasibleSpace": {"list": ["0.5", "0.9"]}},
        ),
    ),
    (
        "meta-reference",
        both(
            put(
                "spec.trialTemplate.trialParameters.2",
                {"name": "trialName", "reference": "${trialSpec.Name}"},
            ),
            template_command(
                [
                    "--lr=${trialParameters.learningRate}",
                    "--m=${trialParameters.momentum}",
                    "--name=${trialParameters.trialName}",
                ]
            ),
        ),
    ),
    (
        "meta-label-reference",
        both(
            put(
                "spec.trialTemplate.trialParameters.2",
                {"name": "app", "reference": "${trialSpec.Labels[app]}"},
            ),
            template_command(
                [
                    "--lr=${trialParameters.learningRate}",
                    "--m=${trialParameters.momentum}",
                    "--app=${trialParameters.app}",
                ]
            ),
        ),
    ),
    ("additional-metrics", put("spec.objective.additionalMetricNames", ["accuracy"])),
    ("strategy-latest", put("spec.objective.metricStrategies", [{"name": "loss", "value": "latest"}])),
    ("early-stopping", put("spec.earlyStopping", {"algorithmName": "medianstop"})),
    ("resume-long-running", put("spec.resumePolicy", "LongRunning")),
    ("push-collector", put("spec.metricsCollectorSpec", {"collector": {"kind": "Push"}})),
    ("none-collector", put("spec.metricsCollectorSpec", {"collector": {"kind": "None"}})),
    (
        "file-json",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "File"},
                "source": {"fileSystemPath": {"path": "/k/m.json", "kind": "File", "format": "JSON"}},
            },
        ),
    ),
    (
        "custom-filter",
        put(
            "spec.metricsCollectorSpec",
            {
                "collector": {"kind": "StdOut"},
                "source": {"filter": {"metricsFormat": ["([a-z]+): ([\\d.]+)"]}},
            },
        ),
    ),
    ("tfjob-conditions-defaulted", put("spec.trialTemplate.trialSpec.kind", "TFJob")),
    (
        "custom-kind-with-conditions",
        both(
            put("spec.trialTemplate.trialSpec.kind", "RayJob"),
            put("spec.trialTemplate.successCondition", "status.ok"),
            put("spec.trialTemplate.failureCondition", "status.failed"),
        ),
    ),
]


@pytest.mark.parametrize("mutation", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_valid_experiment_has_no_errors(base: dict[str, Any], mutation: Mutation) -> None:
    mutation(base)
    assert errors_of(base) == []


def test_all_errors_of_a_document_come_together(base: dict[str, Any]) -> None:
    put("spec.maxTrialCount", 0)(base)
    put("spec.algorithm.algorithmName", "nope")(base)
    param(1, "min", "x")(base)
    put("metadata.name", "Bad")(base)
    errors = errors_of(base)
    paths = {e.split(": ")[0] for e in errors}
    assert {
        "spec.maxTrialCount",
        "spec.algorithm.algorithmName",
        "spec.parameters[1].feasibleSpace.min",
        "metadata.name",
    } <= paths


def test_error_paths_use_katib_names_and_indices(base: dict[str, Any]) -> None:
    param(1, "max", "lots")(base)
    (error,) = errors_of(base)
    assert re.fullmatch(r"spec\.parameters\[1\]\.feasibleSpace\.max: 'lots' is not a number", error)
