"""The trials a DB manager serves: by name, their store record and directory. Light to import (no gRPC)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from pykatib.store import Store, TrialRecord, experiment_dir


class TrialTarget(NamedTuple):
    """A trial as the DB manager reaches it: its store record and its directory (where its Push file is)."""

    record: TrialRecord
    directory: Path


# Trial name -> the trial, or None when no trial has that name. Built by whoever hosts the service.
TrialResolver = Callable[[str], TrialTarget | None]


def trial_resolver(store: Store, workdir: Path) -> TrialResolver:
    """Trials by name in ``store``, with the directory their controller gives them (the one in their record;
    for a record of an older layout without one, ``<experiment dir>/trials/<name>`` under ``workdir``)."""

    def resolve(name: str) -> TrialTarget | None:
        record = store.get_trial(name)
        if record is None:
            return None
        if record.work_dir:
            return TrialTarget(record, Path(record.work_dir))
        for experiment in store.list_experiments():
            if experiment.id == record.experiment_id:
                trials = experiment_dir(workdir, experiment.namespace, experiment.name) / "trials"
                return TrialTarget(record, trials / name)
        return None

    return resolve
