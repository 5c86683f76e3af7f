"""Katib's vocabulary of trial and experiment conditions, as enums used everywhere in pykatib: the store,
the controller, status, the algorithms and the CLI all spell a phase or a reason through these.

They are ``StrEnum``: each member is the string Katib writes (``TrialPhase.SUCCEEDED == "Succeeded"``), so
documents, the store and Katib's clients see exactly Katib's words.
"""

from __future__ import annotations

from enum import StrEnum


class TrialPhase(StrEnum):
    """A trial's condition type (Katib's TrialConditionType); its latest true condition is its phase."""

    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    KILLED = "Killed"
    EARLY_STOPPED = "EarlyStopped"
    METRICS_UNAVAILABLE = "MetricsUnavailable"


# A trial that still runs or waits to run (it occupies a slot of parallelTrialCount).
ACTIVE_PHASES = frozenset({TrialPhase.CREATED, TrialPhase.RUNNING})
# A trial that ended, whatever the outcome.
FINAL_PHASES = frozenset(TrialPhase) - ACTIVE_PHASES
# A trial whose objective may rank it: it ran to its end, or its early stop says how far it got.
RANKED_PHASES = frozenset({TrialPhase.SUCCEEDED, TrialPhase.EARLY_STOPPED})


class TrialReason(StrEnum):
    """Why a trial is in its phase (the reason of its condition)."""

    CREATED = "TrialCreated"
    RUNNING = "TrialRunning"
    SUCCEEDED = "TrialSucceeded"
    FAILED = "TrialFailed"
    KILLED = "TrialKilled"
    EARLY_STOPPED = "TrialEarlyStopped"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    # pykatib's own: the trial's processes vanished with no exit record, or the user's Ctrl-C stopped it.
    # Such trials are run again and count against neither the budget nor maxFailedTrialCount.
    LOST = "TrialLost"
    INTERRUPTED = "TrialInterrupted"


REPLACED_REASONS = frozenset({TrialReason.LOST, TrialReason.INTERRUPTED})


class ExperimentCondition(StrEnum):
    """An experiment's condition types (Katib's ExperimentConditionType)."""

    CREATED = "Created"
    RUNNING = "Running"
    RESTARTING = "Restarting"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class ExperimentReason(StrEnum):
    """Why an experiment is in its condition, as Katib's controller writes it."""

    CREATED = "ExperimentCreated"
    RUNNING = "ExperimentRunning"
    RESTARTING = "ExperimentRestarting"
    GOAL_REACHED = "ExperimentGoalReached"
    MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"
    SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
    FAILED = "ExperimentFailed"
    STOPPED = "ExperimentStopped"  # pykatib's own: `pykatib stop` (Katib has no way to end an experiment early)


END_MESSAGES = {
    ExperimentReason.GOAL_REACHED: "Experiment has succeeded because Objective goal has reached",
    ExperimentReason.MAX_TRIALS_REACHED: "Experiment has succeeded because max trial count has reached",
    ExperimentReason.SUGGESTION_END_REACHED: "Experiment has succeeded because suggestion service has reached the end",
    ExperimentReason.FAILED: "Experiment has failed because max failed count has reached",
    ExperimentReason.STOPPED: "Experiment has succeeded because it was stopped by the user",
}
