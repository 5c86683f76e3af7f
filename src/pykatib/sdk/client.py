"""``KatibClient``: Katib's SDK client (``kubeflow.katib.KatibClient``) against a ``pykatib server``.

The same methods, arguments, return types and exceptions as Katib's 0.19 SDK; the requests are the ones
Katib's client sends to Kubernetes (the custom objects API for experiments, trials and suggestions; pods and
their logs), sent to the server found as ``pykatib.sdk.connect`` says. No Kubernetes package is needed.
The server runs the experiments: they go on after the process that created them exits.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from pykatib.client.connection import MERGE_PATCH, Connection, KubeApiError
from pykatib.client.resources import EXPERIMENTS, SUGGESTIONS, TRIALS, Resource
from pykatib.sdk import constants
from pykatib.sdk._model import serialize
from pykatib.sdk.connect import CONNECT_TIMEOUT_S, connect, katib_errors
from pykatib.sdk.logs import job_log_lines
from pykatib.sdk.models import from_json
from pykatib.sdk.observations import trial_metric_logs
from pykatib.sdk.status import has_condition, print_experiment_status
from pykatib.sdk.tune import build_experiment
from pykatib.server.names import SOURCE_DIR_ANNOTATION

logger = logging.getLogger(__name__)
POLL_S = 0.5  # how often wait_for_experiment_condition looks; it prints the status every polling_interval


class KatibClient:
    """Katib's client. ``host``/``token``/``ca_cert`` name a remote ``pykatib server``; without them (and without
    ``config_file`` or ``client_configuration``) the local one is used, started when none runs. ``home`` is the
    local server's home (``$PYKATIB_HOME``, else ``~/.pykatib``)."""

    def __init__(
        self,
        config_file: str | None = None,
        context: str | None = None,
        client_configuration: Any = None,
        namespace: str = "default",
        *,
        host: str | None = None,
        token: str | None = None,
        ca_cert: str | None = None,
        home: str | Path | None = None,
    ) -> None:
        self.namespace = namespace
        self.in_cluster = False
        self.connection: Connection = connect(
            host=host, token=token, ca_cert=ca_cert, home=home, config_file=config_file, context=context,
            client_configuration=client_configuration, timeout=constants.DEFAULT_TIMEOUT,
        )  # fmt: skip
        self.home = home

    @property
    def url(self) -> str:
        """The server's URL."""
        return self.connection.url

    def close(self) -> None:
        """Close the HTTP connection (the server and its experiments go on)."""
        self.connection.close()

    # --- requests ---------------------------------------------------------------------------------------

    def _call(self, method: str, path: str, timeout: float | None, **kwargs: Any) -> Any:
        self.connection.client.timeout = httpx.Timeout(timeout or constants.DEFAULT_TIMEOUT, connect=CONNECT_TIMEOUT_S)
        return self.connection.request(method, path, **kwargs)

    def _get(self, resource: Resource, kind: str, name: str, namespace: str | None, timeout: float | None) -> Any:
        namespace = namespace or self.namespace
        with katib_errors(f"get Katib {kind}", f"{namespace}/{name}"):
            return from_json(self._call("GET", resource.path(namespace, name), timeout), f"V1beta1{kind}")

    def _list(self, resource: Resource, kind: str, namespace: str | None, timeout: float | None,
              selector: str | None = None) -> list[Any]:  # fmt: skip
        namespace = namespace or self.namespace
        params = {"labelSelector": selector} if selector else None
        with katib_errors(f"list Katib {kind}s in namespace", namespace):
            answer = self._call("GET", resource.path(namespace), timeout, params=params)
        return [from_json(item, f"V1beta1{kind}") for item in answer.get("items") or []]

    # --- experiments ------------------------------------------------------------------------------------

    def create_experiment(self, experiment: Any, namespace: str | None = None) -> None:
        """Create an Experiment: a V1beta1Experiment (pykatib's or Katib's SDK's) or its dict."""
        namespace = namespace or self.namespace
        body = serialize(experiment)
        if not isinstance(body, dict):
            raise ValueError(f"an Experiment must be a V1beta1Experiment or a dict, got {type(experiment).__name__}")
        metadata = body.setdefault("metadata", {})
        name = metadata.get("name") or metadata.get("generateName")
        if not name:
            raise ValueError("Experiment must have a name or generateName")
        body.setdefault("apiVersion", constants.API_VERSION)
        body.setdefault("kind", constants.EXPERIMENT_KIND)
        metadata.setdefault("namespace", namespace)
        # Relative paths in its commands are found from here, as for `pykatib apply` (a notebook's directory).
        metadata.setdefault("annotations", {}).setdefault(SOURCE_DIR_ANNOTATION, os.getcwd())
        try:
            with katib_errors("create Katib Experiment", f"{namespace}/{name}"):
                created = self._call("POST", EXPERIMENTS.path(namespace), None, body=body)
        except RuntimeError as exc:
            cause = exc.__cause__
            if isinstance(cause, KubeApiError) and cause.code == 409:
                raise RuntimeError(f"A Katib Experiment with the name {namespace}/{name} already exists.") from cause
            raise
        logger.debug("Experiment %s/%s has been created", namespace, created["metadata"]["name"])

    def tune(
        self,
        name: str,
        model_provider_parameters: Any = None,
        dataset_provider_parameters: Any = None,
        trainer_parameters: Any = None,
        storage_config: dict[str, Any] | None = None,
        objective: Callable[..., Any] | None = None,
        base_image: str = constants.BASE_IMAGE_PYTORCH,
        parameters: dict[str, Any] | None = None,
        namespace: str | None = None,
        env_per_trial: Any = None,
        algorithm_name: str = "random",
        algorithm_settings: Any = None,
        objective_metric_name: str | None = None,
        additional_metric_names: list[str] | None = None,
        objective_type: str = "maximize",
        objective_goal: float | None = None,
        max_trial_count: int | None = None,
        parallel_trial_count: int | None = None,
        max_failed_trial_count: int | None = None,
        resources_per_trial: Any = None,
        retain_trials: bool = False,
        packages_to_install: list[str] | None = None,
        pip_index_urls: list[str] | None = None,
        metrics_collector_config: dict[str, Any] | None = None,
        trial_active_deadline_seconds: int | None = None,
    ) -> None:
        """Create the Experiment that tunes ``objective(parameters)``, as Katib's ``tune`` does (custom objective
        only: the HuggingFace/S3 path needs Katib's storage initializer on a cluster)."""
        external = any(p is not None for p in (model_provider_parameters, dataset_provider_parameters,
                                               trainer_parameters))  # fmt: skip
        custom = objective is not None or parameters is not None
        if external == custom:
            raise ValueError(
                "Invalid configuration for creating a Katib Experiment for hyperparameter optimization. You should "
                "specify one of the following options:\n1. Use external models and datasets: specify "
                "`model_provider_parameters`, `dataset_provider_parameters` and `trainer_parameters`;\n2. Use custom "
                "objective function: specify `objective`, `base_image` and `parameters`."
            )
        if not name:
            raise ValueError("Please specify name for the Experiment.")
        if external:
            raise ValueError(
                "pykatib does not support tune() with model_provider_parameters, dataset_provider_parameters and "
                "trainer_parameters (HuggingFace/S3 models need Katib's storage initializer on a cluster): pass an "
                "objective function and its parameters instead"
            )
        if not objective or not parameters:
            raise ValueError("One of the required parameters is None")
        namespace = namespace or self.namespace
        experiment = build_experiment(
            name, namespace, objective=objective, parameters=parameters, base_image=base_image,
            env_per_trial=env_per_trial, algorithm_name=algorithm_name, algorithm_settings=algorithm_settings,
            objective_metric_name=objective_metric_name, additional_metric_names=list(additional_metric_names or []),
            objective_type=objective_type, objective_goal=objective_goal, max_trial_count=max_trial_count,
            parallel_trial_count=parallel_trial_count, max_failed_trial_count=max_failed_trial_count,
            resources_per_trial=resources_per_trial, retain_trials=retain_trials,
            packages_to_install=packages_to_install, pip_index_urls=pip_index_urls,
            metrics_collector_config=metrics_collector_config or {"kind": "StdOut"},
            trial_active_deadline_seconds=trial_active_deadline_seconds,
        )  # fmt: skip
        self.create_experiment(experiment, namespace)

    def get_experiment(self, name: str, namespace: str | None = None,
                       timeout: int = constants.DEFAULT_TIMEOUT) -> Any:  # fmt: skip
        """The V1beta1Experiment; RuntimeError when it does not exist."""
        return self._get(EXPERIMENTS, "Experiment", name, namespace, timeout)

    def list_experiments(self, namespace: str | None = None, timeout: int = constants.DEFAULT_TIMEOUT) -> list[Any]:
        """Every V1beta1Experiment of the namespace."""
        return self._list(EXPERIMENTS, "Experiment", namespace, timeout)

    def get_experiment_conditions(self, name: str, namespace: str | None = None, experiment: Any = None,
                                  timeout: int = constants.DEFAULT_TIMEOUT) -> list[Any]:  # fmt: skip
        """The experiment's V1beta1ExperimentConditions (an empty list before it has any)."""
        if experiment is None:
            experiment = self.get_experiment(name, namespace, timeout)
        status = experiment.status
        return list(status.conditions) if status and status.conditions else []

    def _is(self, condition: str, name: str, namespace: str | None, experiment: Any, timeout: int) -> bool:
        return has_condition(self.get_experiment_conditions(name, namespace, experiment, timeout), condition)

    def is_experiment_created(self, name: str, namespace: str | None = None, experiment: Any = None,
                              timeout: int = constants.DEFAULT_TIMEOUT) -> bool:  # fmt: skip
        return self._is(constants.EXPERIMENT_CONDITION_CREATED, name, namespace, experiment, timeout)

    def is_experiment_running(self, name: str, namespace: str | None = None, experiment: Any = None,
                              timeout: int = constants.DEFAULT_TIMEOUT) -> bool:  # fmt: skip
        return self._is(constants.EXPERIMENT_CONDITION_RUNNING, name, namespace, experiment, timeout)

    def is_experiment_restarting(self, name: str, namespace: str | None = None, experiment: Any = None,
                                 timeout: int = constants.DEFAULT_TIMEOUT) -> bool:  # fmt: skip
        return self._is(constants.EXPERIMENT_CONDITION_RESTARTING, name, namespace, experiment, timeout)

    def is_experiment_succeeded(self, name: str, namespace: str | None = None, experiment: Any = None,
                                timeout: int = constants.DEFAULT_TIMEOUT) -> bool:  # fmt: skip
        return self._is(constants.EXPERIMENT_CONDITION_SUCCEEDED, name, namespace, experiment, timeout)

    def is_experiment_failed(self, name: str, namespace: str | None = None, experiment: Any = None,
                             timeout: int = constants.DEFAULT_TIMEOUT) -> bool:  # fmt: skip
        return self._is(constants.EXPERIMENT_CONDITION_FAILED, name, namespace, experiment, timeout)

    def wait_for_experiment_condition(
        self,
        name: str,
        namespace: str | None = None,
        expected_condition: str = constants.EXPERIMENT_CONDITION_SUCCEEDED,
        timeout: int = 600,
        polling_interval: int = 15,
        apiserver_timeout: int = constants.DEFAULT_TIMEOUT,
    ) -> Any:
        """Wait until the experiment has ``expected_condition``; return it. RuntimeError when it Failed (unless
        Failed is awaited), TimeoutError after ``timeout`` seconds. It looks every half second and prints the
        trials' status every ``polling_interval`` seconds, as Katib's prints at each of its polls."""
        namespace = namespace or self.namespace
        deadline = time.monotonic() + timeout
        next_print = time.monotonic()
        while True:
            experiment = self.get_experiment(name, namespace, apiserver_timeout)
            conditions = self.get_experiment_conditions(name, namespace, experiment)
            failed = has_condition(conditions, constants.EXPERIMENT_CONDITION_FAILED)
            if expected_condition != constants.EXPERIMENT_CONDITION_FAILED and failed:
                raise RuntimeError(f"Experiment: {namespace}/{name} is Failed. Experiment conditions: {conditions}")
            if has_condition(conditions, expected_condition):
                print_experiment_status(experiment)
                logger.debug("Experiment: %s/%s is %s", namespace, name, expected_condition)
                return experiment
            now = time.monotonic()
            if now >= next_print:
                print_experiment_status(experiment)
                next_print = now + polling_interval
            if now >= deadline:
                raise TimeoutError(
                    f"Timeout waiting for Experiment: {namespace}/{name} to reach {expected_condition} state"
                )
            time.sleep(min(POLL_S, max(deadline - now, 0.0)))

    def edit_experiment_budget(
        self,
        name: str,
        namespace: str | None = None,
        max_trial_count: int | None = None,
        parallel_trial_count: int | None = None,
        max_failed_trial_count: int | None = None,
        timeout: int = constants.DEFAULT_TIMEOUT,
    ) -> None:
        """Change the trial budget; raising maxTrialCount of a Succeeded experiment resumes it (LongRunning)."""
        namespace = namespace or self.namespace
        if max_trial_count is None and parallel_trial_count is None and max_failed_trial_count is None:
            raise ValueError(
                "Invalid input arguments. You have to set max_trial_count, parallel_trial_count, or "
                "max_failed_trial_count to modify Experiment Trial budget."
            )
        self.get_experiment(name, namespace, timeout)  # RuntimeError when it does not exist, as Katib's
        budget = {"maxTrialCount": max_trial_count, "parallelTrialCount": parallel_trial_count,
                  "maxFailedTrialCount": max_failed_trial_count}  # fmt: skip
        patch = {"spec": {k: v for k, v in budget.items() if v is not None}}
        with katib_errors("edit Katib Experiment", f"{namespace}/{name}"):
            self._call("PATCH", EXPERIMENTS.path(namespace, name), timeout, body=patch, content_type=MERGE_PATCH)
        logger.debug("Experiment %s/%s has been updated", namespace, name)

    def delete_experiment(self, name: str, namespace: str | None = None, delete_options: Any = None) -> None:
        """Delete the experiment: its running trials are stopped, its trials and their files removed."""
        namespace = namespace or self.namespace
        body = serialize(delete_options) if delete_options is not None else None
        with katib_errors("delete Katib Experiment", f"{namespace}/{name}"):
            self._call("DELETE", EXPERIMENTS.path(namespace, name), None, body=body)
        logger.debug("Experiment %s/%s has been deleted", namespace, name)

    # --- suggestions and trials -------------------------------------------------------------------------

    def get_suggestion(self, name: str, namespace: str | None = None,
                       timeout: int = constants.DEFAULT_TIMEOUT) -> Any:  # fmt: skip
        return self._get(SUGGESTIONS, "Suggestion", name, namespace, timeout)

    def list_suggestions(self, namespace: str | None = None, timeout: int = constants.DEFAULT_TIMEOUT) -> list[Any]:
        return self._list(SUGGESTIONS, "Suggestion", namespace, timeout)

    def get_trial(self, name: str, namespace: str | None = None, timeout: int = constants.DEFAULT_TIMEOUT) -> Any:
        return self._get(TRIALS, "Trial", name, namespace, timeout)

    def list_trials(self, experiment_name: str | None = None, namespace: str | None = None,
                    timeout: int = constants.DEFAULT_TIMEOUT) -> list[Any]:  # fmt: skip
        """The namespace's V1beta1Trials, or only the experiment's when it is named."""
        selector = f"{constants.EXPERIMENT_LABEL}={experiment_name}" if experiment_name is not None else None
        return self._list(TRIALS, "Trial", namespace, timeout, selector)

    def get_success_trial_details(self, experiment_name: str | None = None, namespace: str | None = None,
                                  timeout: int = constants.DEFAULT_TIMEOUT) -> list[dict[str, Any]]:  # fmt: skip
        """``{"name", "parameter_assignments", "metrics"}`` of each Succeeded trial."""
        result = []
        for trial in self.list_trials(experiment_name, namespace, timeout):
            status = trial.status
            if status and status.conditions and has_condition(status.conditions, constants.TRIAL_CONDITION_SUCCEEDED):
                observation = status.observation
                result.append({
                    "name": trial.metadata.name,
                    "parameter_assignments": trial.spec.parameter_assignments,
                    "metrics": observation.metrics if observation else None,
                })  # fmt: skip
        return result

    def get_optimal_hyperparameters(self, name: str, namespace: str | None = None,
                                    timeout: int = constants.DEFAULT_TIMEOUT) -> Any:  # fmt: skip
        """The experiment's V1beta1OptimalTrial, or None before a trial has reported its metrics."""
        experiment = self.get_experiment(name, namespace, timeout)
        optimal = experiment.status.current_optimal_trial if experiment.status else None
        if optimal and optimal.observation and optimal.observation.metrics:
            return optimal
        return None

    def get_trial_metrics(
        self,
        name: str,
        namespace: str | None = None,
        db_manager_address: str = constants.DEFAULT_DB_MANAGER_ADDRESS,
        timeout: int = constants.DEFAULT_TIMEOUT,
    ) -> Any:
        """The trial's metric logs (``MetricLog`` messages) from the DB manager, by gRPC ``GetObservationLog``;
        Katib's default address means the local server's DB manager (``db_manager`` in its server.json)."""
        return trial_metric_logs(self, name, namespace or self.namespace, db_manager_address, timeout)

    def get_job_logs(self, name: str, trial_name: str, follow: bool | None = False,
                     namespace: str | None = None) -> Iterator[str]:  # fmt: skip
        """The lines of the trial's primary pod's log; with ``follow``, as they come until the trial ends. A
        generator, as Katib's: its errors (ValueError, RuntimeError) come when it is iterated."""
        if not name:
            raise ValueError("Experiment name is required")
        if not trial_name:
            raise ValueError("Trial name is required")
        yield from job_log_lines(self.connection, trial_name, bool(follow), namespace or self.namespace)
