"""Katib's ``Custom`` metrics collector: the collector's container runs as a process beside the trial.

Katib injects ``metricsCollectorSpec.collector.customCollector`` into the trial's primary pod as a
sidecar container; the collector reads what the trial writes (the ``source.fileSystemPath``, redirected
into the trial's root as for the trial itself) and reports to Katib's DB manager over gRPC
(``ReportObservationLog``), which here appends to the trial's pushed-metrics file. The sidecar starts with
the trial and gets SIGTERM once the trial's processes have ended, then a grace period to report the rest
(``execute.local.SIDECAR_GRACE_SECONDS``): off a cluster it cannot watch the training process through the
pod's shared process namespace as Katib's collectors do.
"""

from __future__ import annotations

from typing import Any

from pykatib.spec.models import CollectorKind, Experiment
from pykatib.trial.job import ContainerProcess, Entrypoints, container_argv, container_env

SIDECAR_REPLICA = "metrics-collector"


def custom_collector(experiment: Experiment) -> dict[str, Any] | None:
    """The ``customCollector`` container of a Custom metrics collector, else None."""
    mc = experiment.spec.metrics_collector_spec
    collector = mc.collector if mc else None
    if collector is None or collector.kind is not CollectorKind.CUSTOM:
        return None
    return collector.custom_collector or {}


def sidecar_process(
    container: dict[str, Any], primary: ContainerProcess, trial_name: str, namespace: str, entrypoint: Entrypoints
) -> ContainerProcess:
    """The collector as one more process of the trial's primary pod (the pod name is the primary's)."""
    argv = container_argv(container, "metricsCollectorSpec.collector.customCollector", entrypoint)
    # The Downward API fields Katib's collectors read (its example passes the pod's name).
    env = container_env(container, {"metadata.name": f"{trial_name}-{primary.key}", "metadata.namespace": namespace})
    return ContainerProcess(SIDECAR_REPLICA, 0, container, argv, env)
