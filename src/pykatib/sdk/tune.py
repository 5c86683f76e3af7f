"""The Experiment that Katib's ``KatibClient.tune`` builds for a custom objective function, built the same way.

The trial is a Job (a PyTorchJob with ``TrainerResources``) whose container ``training-container`` runs
``bash -c SCRIPT``: the script writes the function's source (``inspect.getsource``) and a call of it with the
trial's parameters to a temporary file and runs it with ``python -u`` (``torchrun`` for a distributed trial),
after installing ``packages_to_install`` when given. Everything is Katib's to the byte, so an experiment made
by pykatib and one made by Katib's SDK are the same document.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from pykatib.sdk import constants
from pykatib.sdk._model import serialize
from pykatib.sdk.models import (
    V1beta1AlgorithmSetting,
    V1beta1AlgorithmSpec,
    V1beta1CollectorSpec,
    V1beta1Experiment,
    V1beta1ExperimentSpec,
    V1beta1MetricsCollectorSpec,
    V1beta1ObjectiveSpec,
    V1beta1TrialParameterSpec,
    V1beta1TrialTemplate,
    V1ObjectMeta,
    from_json,
)
from pykatib.sdk.types import TrainerResources

DEFAULT_PIP_INDEX_URLS = ["https://pypi.org/simple"]


def validate_objective_function(objective: Callable[..., Any]) -> None:
    """A callable taking one dict of parameters, as Katib requires (ValueError otherwise)."""
    if not callable(objective):
        raise ValueError(f"Objective function must be callable, got function type: {type(objective)}")
    signature = inspect.signature(objective)
    try:
        signature.bind({})
    except TypeError:
        raise ValueError(
            "Invalid args in the Objective function. The function args must have only 'parameters' dictionary. "
            f"Current Objective arguments: {signature}"
        ) from None


def format_pip_index_urls(pip_index_urls: list[str]) -> str:
    index_url = f"--index-url {pip_index_urls[0]}"
    for url in pip_index_urls[1:]:
        index_url += f" --extra-index-url {url}"
    return index_url


def get_script_for_python_packages(packages_to_install: list[str], pip_index_urls: list[str]) -> str:
    packages = " ".join(str(package) for package in packages_to_install)
    return textwrap.dedent(
        f"""
        if ! [ -x "$(command -v pip)" ]; then
            python3 -m ensurepip || python3 -m ensurepip --user || apt-get install python3-pip
        fi

        PIP_DISABLE_PIP_VERSION_CHECK=1 python3 -m pip install --prefer-binary --quiet \
        --no-warn-script-location {format_pip_index_urls(pip_index_urls)} {packages}
        """
    )


def get_exec_script_from_objective(
    objective: Callable[..., Any],
    entrypoint: str,
    input_params: dict[str, Any],
    packages_to_install: list[str] | None = None,
    pip_index_urls: list[str] | None = None,
) -> str:
    """The ``bash -c`` script that runs ``objective(input_params)`` in the trial (Katib's, unchanged)."""
    validate_objective_function(objective)
    try:
        source = inspect.getsource(objective)
    except (OSError, TypeError) as exc:
        raise ValueError(
            f"the source of the objective function {getattr(objective, '__name__', objective)!r} cannot be read "
            f"({exc}): define it in a file or a notebook cell, not in an interactive prompt or with exec()"
        ) from exc
    objective_code = f"{textwrap.dedent(source)}\n{objective.__name__}({input_params})\n"
    template = textwrap.dedent(
        """
                program_path=$(mktemp -d)
                read -r -d '' SCRIPT << EOM\n
                {objective_code}
                EOM
                printf "%s" \"$SCRIPT\" > \"$program_path/ephemeral_script.py\"
                {entrypoint} \"$program_path/ephemeral_script.py\""""
    )
    script = template.format(objective_code=objective_code, entrypoint=entrypoint)
    if packages_to_install is not None:
        script = get_script_for_python_packages(packages_to_install, pip_index_urls or DEFAULT_PIP_INDEX_URLS) + script
    return script


def trial_substitutions(
    parameters: Mapping[str, Any], experiment_parameters: list[Any], trial_parameters: list[Any]
) -> dict[str, Any]:
    """The function's input: each search space (``katib.search.*``) becomes ``${trialParameters.NAME}`` and is
    added to the experiment's and the template's parameters; other values are passed as they are."""
    input_params: dict[str, Any] = {}
    for name, value in parameters.items():
        if _is_parameter_spec(value):
            input_params[name] = f"${{trialParameters.{name}}}"
            spec = from_json(serialize(value), "V1beta1ParameterSpec")  # a copy: the caller's object is left alone
            spec.name = name
            experiment_parameters.append(spec)
            trial_parameters.append(V1beta1TrialParameterSpec(name=name, reference=name))
        else:
            input_params[name] = value
    return input_params


def _is_parameter_spec(value: object) -> bool:
    """Ours, or Katib's SDK's ``V1beta1ParameterSpec`` (compared by name: that SDK need not be installed)."""
    return type(value).__name__ == "V1beta1ParameterSpec" and hasattr(value, "feasible_space")


def container_resources(resources: Any) -> Any:
    """A dict (``cpu``, ``memory``, ``gpu`` -> ``nvidia.com/gpu``) as requests and limits, else the object's JSON."""
    if isinstance(resources, dict):
        lowered = {str(k).lower(): v for k, v in resources.items()}
        if "gpu" in lowered:
            lowered["nvidia.com/gpu"] = lowered.pop("gpu")
        return {"limits": lowered, "requests": dict(lowered)}
    return serialize(resources)


def container_env(env_per_trial: Any) -> tuple[list[Any], list[Any]]:
    """``env`` and ``envFrom`` of the trial's container from a dict or a list of V1EnvVar / V1EnvFromSource."""
    if isinstance(env_per_trial, dict):
        return [{"name": str(k), "value": str(v)} for k, v in env_per_trial.items()], []
    env: list[Any] = []
    env_from: list[Any] = []
    for item in env_per_trial or []:
        kind = type(item).__name__
        if kind == "V1EnvVar" or (isinstance(item, dict) and "name" in item):
            env.append(serialize(item))
        elif kind == "V1EnvFromSource" or (isinstance(item, dict) and {"configMapRef", "secretRef"} & set(item)):
            env_from.append(serialize(item))
        else:
            raise ValueError(f"Incorrect value for env_per_trial: {env_per_trial}")
    return env, env_from


def pod_template(container: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"annotations": {constants.ISTIO_SIDECAR_INJECTION: "false"}},
        "spec": {"containers": [container]},
    }


def job_template(retain: bool, trial_parameters: list[Any], pod: dict[str, Any], deadline: int | None) -> Any:
    pod["spec"]["restartPolicy"] = "Never"
    spec: dict[str, Any] = {"template": pod}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    job = {"apiVersion": "batch/v1", "kind": "Job", "spec": spec}
    return V1beta1TrialTemplate(primary_container_name=constants.DEFAULT_PRIMARY_CONTAINER_NAME, retain=retain,
                                trial_parameters=trial_parameters, trial_spec=job)  # fmt: skip


def pytorchjob_template(
    retain: bool, trial_parameters: list[Any], resources: TrainerResources, pod: dict[str, Any], deadline: int | None
) -> Any:
    run_policy: dict[str, Any] = {} if deadline is None else {"activeDeadlineSeconds": deadline}
    replicas: dict[str, Any] = {"Master": {"replicas": 1, "template": pod}}
    if resources.num_workers > 1:
        replicas["Worker"] = {"replicas": resources.num_workers - 1, "template": pod}
    job = {
        "apiVersion": constants.PYTORCHJOB_API_VERSION,
        "kind": constants.PYTORCHJOB_KIND,
        "spec": {"nprocPerNode": str(resources.num_procs_per_worker), "pytorchReplicaSpecs": replicas,
                 "runPolicy": run_policy},
    }  # fmt: skip
    return V1beta1TrialTemplate(primary_container_name=constants.PYTORCHJOB_CONTAINER, retain=retain,
                                trial_parameters=trial_parameters, trial_spec=job)  # fmt: skip


def build_experiment(
    name: str,
    namespace: str,
    *,
    objective: Callable[..., Any],
    parameters: Mapping[str, Any],
    base_image: str,
    env_per_trial: Any,
    algorithm_name: str,
    algorithm_settings: Any,
    objective_metric_name: str | None,
    additional_metric_names: list[str],
    objective_type: str,
    objective_goal: float | None,
    max_trial_count: int | None,
    parallel_trial_count: int | None,
    max_failed_trial_count: int | None,
    resources_per_trial: Any,
    retain_trials: bool,
    packages_to_install: list[str] | None,
    pip_index_urls: list[str] | None,
    metrics_collector_config: Mapping[str, Any],
    trial_active_deadline_seconds: int | None,
) -> Any:
    """The V1beta1Experiment of ``tune`` with a custom objective (the arguments as ``KatibClient.tune``'s)."""
    experiment = V1beta1Experiment(
        api_version=constants.API_VERSION,
        kind=constants.EXPERIMENT_KIND,
        metadata=V1ObjectMeta(name=name, namespace=namespace),
        spec=V1beta1ExperimentSpec(),
    )
    spec = experiment.spec
    spec.objective = V1beta1ObjectiveSpec(type=objective_type, objective_metric_name=objective_metric_name,
                                          additional_metric_names=additional_metric_names)  # fmt: skip
    if objective_goal is not None:
        spec.objective.goal = objective_goal
    if isinstance(algorithm_settings, dict):
        algorithm_settings = [V1beta1AlgorithmSetting(name=str(k), value=str(v)) for k, v in algorithm_settings.items()]
    spec.algorithm = V1beta1AlgorithmSpec(algorithm_name=algorithm_name, algorithm_settings=algorithm_settings)
    if max_trial_count is not None:
        spec.max_trial_count = max_trial_count
    if parallel_trial_count is not None:
        spec.parallel_trial_count = parallel_trial_count
    if max_failed_trial_count is not None:
        spec.max_failed_trial_count = max_failed_trial_count
    spec.metrics_collector_spec = V1beta1MetricsCollectorSpec(
        collector=V1beta1CollectorSpec(kind=metrics_collector_config["kind"])
    )

    experiment_parameters: list[Any] = []
    trial_parameters: list[Any] = []
    input_params = trial_substitutions(parameters, experiment_parameters, trial_parameters)
    distributed = isinstance(resources_per_trial, TrainerResources)
    torchrun = distributed and (resources_per_trial.num_workers > 1 or resources_per_trial.num_procs_per_worker > 1)
    entrypoint = constants.ENTRYPOINT_TORCH if torchrun else constants.ENTRYPOINT_PYTHON
    script = get_exec_script_from_objective(objective, entrypoint, input_params, packages_to_install, pip_index_urls)

    container: dict[str, Any] = {
        "name": constants.PYTORCHJOB_CONTAINER if distributed else constants.DEFAULT_PRIMARY_CONTAINER_NAME,
        "image": base_image,
        "command": list(constants.DEFAULT_COMMAND),
        "args": [script],
    }
    env, env_from = container_env(env_per_trial)
    if env:
        container["env"] = env
    if env_from:
        container["envFrom"] = env_from
    resources = resources_per_trial.resources_per_worker if distributed else resources_per_trial
    if resources is not None:
        container["resources"] = container_resources(resources)

    deadline = trial_active_deadline_seconds
    if distributed:
        template = pytorchjob_template(retain_trials, trial_parameters, resources_per_trial, pod_template(container),
                                       deadline)  # fmt: skip
    else:
        template = job_template(retain_trials, trial_parameters, pod_template(container), deadline)
    spec.parameters = experiment_parameters
    spec.trial_template = template
    return experiment
