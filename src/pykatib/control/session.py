"""Starting or resuming an experiment against a store: the checks a user needs before anything runs.

Shared by ``pykatib run`` and the SDK, so both refuse the same things with the same words.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pykatib.control.launch import TrialLaunchError, prepare_trial
from pykatib.control.render import TrialRenderError
from pykatib.earlystop import early_stopping_available
from pykatib.execute.localize import ImageMap
from pykatib.execute.resources import ResourceError
from pykatib.execute.trial_venv import TrialVenv
from pykatib.metrics.collector import CollectorUnavailableError
from pykatib.spec.conditions import ExperimentCondition, ExperimentReason
from pykatib.spec.errors import SpecError
from pykatib.spec.models import Experiment, ResumePolicy
from pykatib.spec.validation import namespace_problem
from pykatib.store import ExperimentRecord, Store, experiment_dir
from pykatib.suggest.base import AlgorithmNotAvailableError
from pykatib.suggest.registry import experiment_suggester
from pykatib.trial.job import TrialJobError

EDITABLE = ("parallelTrialCount", "maxTrialCount", "maxFailedTrialCount")


class RunRefused(Exception):
    """The experiment cannot be started as asked; the message says what to do instead."""


@dataclass
class Plan:
    """What ``run`` will do: start fresh, continue, restart a finished experiment, or just report it."""

    action: str  # "start" | "resume" | "restart" | "finished"
    record: ExperimentRecord | None


def check_runnable(
    experiment: Experiment, image_map: ImageMap, trial_spec: dict[str, Any] | None, source_dir: Path | None = None
) -> None:
    """Refuse, before any trial, an algorithm that is not built yet or a command that cannot be found."""
    spec = experiment.spec
    try:
        suggester = experiment_suggester(spec)
    except AlgorithmNotAvailableError as exc:
        raise RunRefused(str(exc)) from exc
    early = spec.early_stopping.algorithm_name if spec.early_stopping is not None else None
    if early and not early_stopping_available(early):
        raise RunRefused(f"early stopping algorithm {early} is not available yet")
    # Each parameter at its first value (numeric ones have a range by now).
    sample = {p.name: p.format(p.min if p.is_numeric and p.min is not None else p.values[0]) for p in suggester.space}
    if spec.nas_config is not None:  # NAS: the assignments are the algorithm's own (darts: always the same)
        sample = next((s.assignment for s in suggester.suggest(1, [])), sample)
    with tempfile.TemporaryDirectory(prefix="pykatib-check-") as tmp:
        try:
            prepare_trial(experiment, f"{experiment.metadata.name}-check", sample, Path(tmp), image_map,
                          trial_spec=trial_spec, source_dir=source_dir)  # fmt: skip
        except (TrialLaunchError, TrialJobError, TrialRenderError, CollectorUnavailableError, ResourceError) as exc:
            raise RunRefused(f"the trial template cannot run here: {exc}") from exc


def plan_run(store: Store, experiment: Experiment, *, resume: bool) -> Plan:
    """Katib's rules for an experiment that already exists: only the budget may change, and a finished
    experiment restarts only when it succeeded by reaching maxTrialCount, its resumePolicy allows it and
    the new maxTrialCount exceeds the trials it has. ``resume`` needs the experiment in the store and a new
    run needs it absent, so that a wrong store is noticed instead of starting over or mixing runs."""
    name, namespace = str(experiment.metadata.name), str(experiment.metadata.namespace)
    record = store.get_experiment(name, namespace)
    if record is None:
        if resume:
            # Usually a typo in --db/--workdir or a removed database: starting afresh would hide that.
            raise RunRefused(not_in_store_message(namespace, name, store.shown_url))
        return Plan("start", None)
    finished = bool(record.status.get("completionTime"))
    if not resume:
        state = "finished" if finished else "unfinished"
        raise RunRefused(
            f"experiment {namespace}/{name} already exists in {store.shown_url} ({state}, "
            f"{record.status.get('trials', 0)} trials): pass --resume to continue it, or `pykatib delete {name}`"
        )
    _check_only_budget_changed(record.spec, experiment.to_dict())
    if not finished:
        return Plan("resume", record)
    new_max = experiment.spec.max_trial_count
    old_max = (record.spec.get("spec") or {}).get("maxTrialCount")
    if new_max == old_max or new_max is None:
        return Plan("finished", record)
    refusal = restart_refusal(record.status, experiment.spec.resume_policy, new_max)
    if refusal is not None:
        raise RunRefused(str(refusal))
    return Plan("restart", record)


def restart_refusal(status: dict[str, Any], resume_policy: str | None, new_max: int) -> SpecError | None:
    """Katib's rule for raising maxTrialCount of an ended experiment, or why it may not restart: it must have
    succeeded by reaching maxTrialCount, its resumePolicy be LongRunning or FromVolume, and the new
    maxTrialCount exceed its trials. ``pykatib run --resume`` and the server both apply it."""
    reasons = [c.get("reason") for c in status.get("conditions", []) if c.get("type") == ExperimentCondition.SUCCEEDED]
    if ExperimentReason.MAX_TRIALS_REACHED not in reasons or resume_policy not in (
        ResumePolicy.LONG_RUNNING,
        ResumePolicy.FROM_VOLUME,
    ):
        return SpecError(
            "",
            "Experiment can be restarted if it is in succeeded state by reaching max trials and "
            "spec.resumePolicy = LongRunning or spec.resumePolicy = FromVolume",
        )
    if new_max <= int(status.get("trials", 0)):
        return SpecError("spec.maxTrialCount", f"must be greater than status.trials count ({status.get('trials')})")
    return None


def not_in_store_message(namespace: str, name: str, shown_url: str) -> str:
    """Why ``--resume`` of an experiment the store does not hold is refused (``shown_url``: password hidden)."""
    return (
        f"cannot resume experiment {namespace}/{name}: it is not in the store {shown_url}; "
        "check --db/--workdir, or run without --resume to start it"
    )


def changed_beyond_budget(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The spec fields, other than the editable budget, in which two experiment documents differ (sorted)."""
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    return sorted(
        k for k in old_spec.keys() | new_spec.keys() if k not in EDITABLE and old_spec.get(k) != new_spec.get(k)
    )


def _check_only_budget_changed(old: dict[str, Any], new: dict[str, Any]) -> None:
    def identity(doc: dict[str, Any]) -> list[Any]:
        return [doc.get("metadata", {}).get(k) for k in ("name", "namespace")]

    if changed_beyond_budget(old, new) or identity(old) != identity(new):
        raise RunRefused(
            "only spec.parallelTrialCount, spec.maxTrialCount and spec.maxFailedTrialCount are editable: "
            "the file differs from the stored experiment in other fields"
        )


def remove_experiment_files(workdir: Path, namespace: str, name: str, trial_dirs: Sequence[Path]) -> str | None:
    """Remove a deleted experiment's files: each trial's directory (also in an older layout, never outside
    the work directory) and the experiment's own folder. A warning when its namespace is no safe path."""
    root = workdir.resolve()
    for trial_dir in trial_dirs:
        if trial_dir.resolve().is_relative_to(root):
            shutil.rmtree(trial_dir, ignore_errors=True)
            if trial_dir.parent.name == "trials":  # the trials' Python beside them (an older layout's too)
                shutil.rmtree(TrialVenv.of_experiment(trial_dir.parent.parent).root, ignore_errors=True)
    if namespace_problem(namespace) is not None:  # a record from before namespaces were checked
        return f"namespace {namespace!r} is not a DNS-1123 label: no files removed"
    # Only this experiment's folder: another namespace's experiment of the same name keeps its files.
    directory = experiment_dir(workdir, namespace, name)
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        directory.parent.rmdir()  # the namespace's folder, once its last experiment is gone
    return None
