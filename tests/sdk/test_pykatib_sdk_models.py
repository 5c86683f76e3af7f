"""``import pykatib as katib`` without a server: the models, ``katib.search``, the Experiment ``tune`` builds, and
``import pykatib`` staying light. Where Katib's official SDK can be installed (``katib_sdk``), its model tables
and its ``tune`` Experiment are compared with pykatib's, field by field."""

from __future__ import annotations

import datetime
import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import pykatib as katib
from katib_sdk import KatibSdk
from pykatib.sdk import models
from pykatib.sdk._model import serialize
from pykatib.sdk.tune import build_experiment

OBJECTIVE = """
def objective(parameters):
    result = 4 * int(parameters["a"]) - float(parameters["b"]) ** 2
    print(f"result={result}")
"""
# Every argument of the custom-objective path that changes the document, with values Katib's SDK accepts too.
TUNE_ARGS = """dict(
    name="tune-doc",
    objective=objective,
    parameters={"a": katib.search.int(min=10, max=20, step=2), "b": katib.search.double(min=0.1, max=0.2),
                "c": katib.search.categorical(["x", "y"]), "epochs": 3},
    objective_metric_name="result",
    additional_metric_names=["loss"],
    objective_type="minimize",
    objective_goal=0.5,
    algorithm_name="tpe",
    algorithm_settings={"random_state": 7},
    max_trial_count=6,
    parallel_trial_count=2,
    max_failed_trial_count=1,
    resources_per_trial={"CPU": "2", "gpu": 1, "memory": "1Gi"},
    env_per_trial={"SEED": 1},
    retain_trials=True,
    packages_to_install=["numpy==2.0"],
    pip_index_urls=["https://pypi.org/simple", "https://example.com/simple"],
    metrics_collector_config={"kind": "Push"},
    trial_active_deadline_seconds=60,
)"""
DISTRIBUTED_ARGS = """dict(
    name="tune-dist",
    objective=objective,
    parameters={"a": katib.search.int(min=10, max=20)},
    objective_metric_name="result",
    resources_per_trial=katib.TrainerResources(num_workers=3, num_procs_per_worker=2,
                                               resources_per_worker={"cpu": "1"}),
)"""


def _load_objective(tmp_path: Path) -> ModuleType:
    """The objective in a real file: tune() reads its source with inspect.getsource, as Katib's does."""
    path = tmp_path / "objective_module.py"
    path.write_text(OBJECTIVE)
    spec = importlib.util.spec_from_file_location("objective_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ours(tmp_path: Path, args: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = eval(args, {"katib": katib, "objective": _load_objective(tmp_path).objective})
    name = kwargs.pop("name")
    kwargs = {"env_per_trial": None, "algorithm_name": "random", "algorithm_settings": None,
              "additional_metric_names": [], "objective_type": "maximize", "objective_goal": None,
              "max_trial_count": None, "parallel_trial_count": None, "max_failed_trial_count": None,
              "resources_per_trial": None, "retain_trials": False, "packages_to_install": None,
              "pip_index_urls": None, "metrics_collector_config": {"kind": "StdOut"},
              "trial_active_deadline_seconds": None, "base_image": katib.BASE_IMAGE_PYTORCH, **kwargs}  # fmt: skip
    document: dict[str, Any] = serialize(build_experiment(name, "default", **kwargs))
    return document


def _katibs(katib_sdk: KatibSdk, tmp_path: Path, args: str) -> dict[str, Any]:
    """The Experiment Katib's own tune() would create (its create_experiment captured, no cluster needed)."""
    code = f"""
        import json, sys
        sys.path.insert(0, {str(tmp_path)!r})
        import kubeflow.katib as katib
        from kubeflow.katib.api_client import ApiClient
        from objective_module import objective

        created = []
        client = katib.KatibClient.__new__(katib.KatibClient)
        client.namespace = "default"
        client.create_experiment = lambda experiment, namespace=None: created.append(experiment)
        client.tune(**{textwrap.indent(args, "        ").lstrip()})
        print(json.dumps(ApiClient().sanitize_for_serialization(created[0])))
    """
    document: dict[str, Any] = json.loads(katib_sdk.run(code).stdout)
    return document


@pytest.mark.parametrize("args", [TUNE_ARGS, DISTRIBUTED_ARGS], ids=["job", "pytorchjob"])
def test_tune_builds_katibs_experiment(katib_sdk: KatibSdk, tmp_path: Path, args: str) -> None:
    ours = _ours(tmp_path, args)
    theirs = _katibs(katib_sdk, tmp_path, args)
    # Katib 0.19's search.categorical puts the values in feasibleSpace.distribution (kubeflow/katib#2625).
    for parameter in theirs["spec"]["parameters"]:
        if parameter["parameterType"] == "categorical":
            parameter["feasibleSpace"] = {"list": parameter["feasibleSpace"].pop("distribution")}
    assert ours == theirs


def test_model_tables_are_katibs(katib_sdk: KatibSdk) -> None:
    code = """
        import json
        import kubeflow.katib.models as m
        names = [n for n in dir(m) if n.startswith("V1beta1") and getattr(m, n).__module__.startswith("kubeflow.")]
        print(json.dumps({n: [getattr(m, n).openapi_types, getattr(m, n).attribute_map]
                          for n in names + ["V1ObjectMeta", "V1ListMeta"]}))
    """
    theirs = json.loads(katib_sdk.run(code).stdout)
    ours = {name: [cls.openapi_types, cls.attribute_map] for name, cls in models.CLASSES.items()}
    assert ours == theirs


def test_every_model_is_exported() -> None:
    for name, cls in models.CLASSES.items():
        assert getattr(katib, name) is cls
        assert getattr(models, name) is cls
    assert set(models.TABLE) <= set(dir(katib))
    with pytest.raises(AttributeError):
        _ = katib.V1beta1Nothing


def test_models_behave_as_katibs() -> None:
    space = katib.V1beta1FeasibleSpace(None, None, "2", "1")  # positional, in Katib's order
    assert (space.min, space.max, space.list) == ("1", "2", None)
    spec = katib.V1beta1ParameterSpec(name="x", parameter_type="double", feasible_space=space)
    assert spec.to_dict() == {"feasible_space": {"distribution": None, "list": None, "max": "2", "min": "1",
                                                 "step": None}, "name": "x", "parameter_type": "double"}  # fmt: skip
    assert spec == katib.V1beta1ParameterSpec(name="x", parameter_type="double",
                                              feasible_space=katib.V1beta1FeasibleSpace(min="1", max="2"))  # fmt: skip
    assert spec != katib.V1beta1ParameterSpec(name="y")
    assert "'parameter_type': 'double'" in repr(spec)
    assert serialize(spec) == {"feasibleSpace": {"max": "2", "min": "1"}, "name": "x", "parameterType": "double"}
    with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
        katib.V1beta1ParameterSpec(nope=1)
    with pytest.raises(AttributeError):
        _ = spec.nope
    with pytest.raises(TypeError):
        hash(spec)


def test_server_json_becomes_models() -> None:
    data = {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": "e", "labels": {"a": "b"}, "unknownField": 1, "creationTimestamp": "2024-05-01T10:00:00Z"},
        "spec": {"maxTrialCount": 3, "parameters": [{"name": "x", "feasibleSpace": {"list": ["1", "2"]}}],
                 "objective": {"goal": 0.5}, "trialTemplate": {"trialSpec": {"kind": "Job", "spec": {"a": None}}}},
        "status": {"currentOptimalTrial": {"parameterAssignments": [{"name": "x", "value": "1"}],
                                           "observation": {"metrics": [{"name": "m", "latest": "0.5"}]}},
                   "conditions": [{"type": "Succeeded", "status": "True", "lastUpdateTime": "2024-05-01T10:00:01Z"}]},
    }  # fmt: skip
    experiment = models.from_json(data, "V1beta1Experiment")
    assert isinstance(experiment, katib.V1beta1Experiment)
    assert experiment.metadata.labels == {"a": "b"}
    assert experiment.metadata.creation_timestamp == datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC)
    assert experiment.spec.parameters[0].feasible_space.list == ["1", "2"]
    assert experiment.spec.objective.goal == 0.5
    assert experiment.spec.trial_template.trial_spec == {"kind": "Job", "spec": {"a": None}}  # "object": as it is
    assert experiment.status.current_optimal_trial.parameter_assignments[0].name == "x"
    assert experiment.status.current_optimal_trial.observation.metrics[0].latest == "0.5"
    assert experiment.status.conditions[0].type == "Succeeded"
    assert not hasattr(experiment.metadata, "unknown_field")


def test_search_is_katibs() -> None:
    assert serialize(katib.search.double(min=0.1, max=0.2)) == {
        "parameterType": "double", "feasibleSpace": {"min": "0.1", "max": "0.2"}}  # fmt: skip
    assert serialize(katib.search.int(min=1, max=9, step=2)) == {
        "parameterType": "int", "feasibleSpace": {"min": "1", "max": "9", "step": "2"}}  # fmt: skip
    assert serialize(katib.search.categorical(["sgd", 3])) == {
        "parameterType": "categorical", "feasibleSpace": {"list": ["sgd", "3"]}}  # fmt: skip


def test_foreign_models_serialize_by_their_attribute_map() -> None:
    kubernetes = pytest.importorskip("kubernetes.client")
    meta = kubernetes.V1ObjectMeta(name="e", generate_name=None, labels={"k": "v"})
    container = kubernetes.V1Container(name="c", image="i", env=[kubernetes.V1EnvVar(name="A", value="1")])
    assert serialize(katib.V1beta1Experiment(metadata=meta)) == {"metadata": {"name": "e", "labels": {"k": "v"}}}
    assert serialize(container) == {"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]}


def test_import_pykatib_is_light() -> None:
    code = """
        import sys
        import pykatib as katib
        katib.report_metrics, katib.search.double(min=0, max=1), katib.V1beta1Experiment
        heavy = ("httpx", "fastapi", "uvicorn", "grpc", "kubernetes", "sqlalchemy", "click", "rich", "pykatib.server")
        print(sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(heavy)))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout
