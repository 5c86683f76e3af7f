"""``KatibClient.get_job_logs``: the lines of a trial's primary pod's log, as Katib's SDK reads them.

The pod is found by the trial's label (and its ``primaryPodLabels``), preferring the one pykatib marks primary;
the container is Katib's choice (the StdOut collector's, whose log is the trial's output; else the primary
container). A generator, as Katib's: errors come when it is iterated, as Katib's RuntimeErrors.
"""

from __future__ import annotations

from collections.abc import Iterator

from pykatib.client.connection import ClientError, Connection, KubeApiError
from pykatib.client.resources import PODS, TRIALS
from pykatib.sdk import constants
from pykatib.server.names import COLLECTOR_CONTAINER, PRIMARY_LABEL


def job_log_lines(connection: Connection, trial_name: str, follow: bool, namespace: str) -> Iterator[str]:
    """The log's lines (followed until the trial ends with ``follow``); RuntimeError as Katib's when iterated."""
    try:
        pod, container = _trial_pod(connection, trial_name, namespace)
        path = f"{PODS.path(namespace, pod)}/log"
        params = {"container": container} if container else {}
        if follow:
            yield from _lines(connection, path, {**params, "follow": "true"})
        else:
            with connection.stream(path, params, follow=False) as chunks:
                yield from b"".join(chunks).decode("utf-8", errors="replace").splitlines()
    except KubeApiError as exc:
        if exc.code == 404:
            raise RuntimeError(f"Trial {trial_name} or associated job not found") from exc
        raise RuntimeError(f"Kubernetes API error: {exc.message}") from exc
    except ClientError as exc:
        raise RuntimeError(f"Failed to get job logs: {exc.message}") from exc
    except RuntimeError as exc:
        raise RuntimeError(f"Failed to get job logs: {exc}") from exc


def _trial_pod(connection: Connection, trial_name: str, namespace: str) -> tuple[str, str | None]:
    """The trial's primary pod and the container Katib's SDK reads (StdOut: the collector's, which prints
    the trial's output; else the primary container)."""
    trial = connection.get(TRIALS.path(namespace, trial_name))
    if "status" not in trial or "conditions" not in (trial.get("status") or {}):
        raise RuntimeError(f"Trial {trial_name} not found or has no status")
    spec = trial.get("spec") or {}
    selectors = [f"{constants.TRIAL_LABEL}={trial_name}"]
    selectors += [f"{k}={v}" for k, v in (spec.get("primaryPodLabels") or {}).items()]
    pods = connection.get(PODS.path(namespace), params={"labelSelector": ",".join(selectors)})["items"]
    if not pods:
        raise RuntimeError(f"No pods found for trial {trial_name}")
    primary = [p for p in pods if (p["metadata"].get("labels") or {}).get(PRIMARY_LABEL) == "true"]
    kind = ((spec.get("metricsCollector") or {}).get("collector") or {}).get("kind")
    container = COLLECTOR_CONTAINER if kind == "StdOut" else spec.get("primaryContainerName")
    return str((primary or pods)[0]["metadata"]["name"]), container


def _lines(connection: Connection, path: str, params: dict[str, str]) -> Iterator[str]:
    """The log's lines as they arrive, until the server ends the stream (the trial ended)."""
    with connection.stream(path, params, follow=True) as chunks:
        pending = b""
        for chunk in chunks:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.decode("utf-8", errors="replace")
        if pending:
            yield pending.decode("utf-8", errors="replace")
