"""Katib's SDK helpers for conditions: whether one holds, and the status line its waits print."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pykatib.sdk.constants import CONDITION_STATUS_TRUE


def has_condition(conditions: Iterable[Any], condition_type: str) -> bool:
    """Whether a condition of this type has status True."""
    return any(c.type == condition_type and c.status == CONDITION_STATUS_TRUE for c in conditions)


def print_experiment_status(experiment: Any) -> None:
    """The trial counts, the optimal trial and the conditions, printed as Katib's SDK prints them."""
    status = experiment.status
    if not status:
        return
    print(
        f"Experiment Trials status: {status.trials or 0} Trials, {status.trials_pending or 0} Pending Trials, "
        f"{status.trials_running or 0} Running Trials, {status.trials_succeeded or 0} Succeeded Trials, "
        f"{status.trials_failed or 0} Failed Trials, {status.trials_early_stopped or 0} EarlyStopped Trials, "
        f"{status.trial_metrics_unavailable or 0} MetricsUnavailable Trials"
    )
    print(f"Current Optimal Trial:\n {status.current_optimal_trial}")
    print(f"Experiment conditions:\n {status.conditions}")
