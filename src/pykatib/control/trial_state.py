"""Everything the controller knows of one trial, in one object, changed and reset in one place."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykatib.control.status import TrialView
from pykatib.execute.base import TrialHandle
from pykatib.metrics.strategy import MetricSummary
from pykatib.spec.conditions import ACTIVE_PHASES, TrialPhase
from pykatib.store import TrialRecord
from pykatib.suggest.base import TrialResult


@dataclass(eq=False, slots=True)
class TrialState:
    """One trial of the running experiment.

    ``record`` is the store's row as the controller last wrote it; ``metrics`` and ``objective`` summarise the
    observations stored so far. The views handed to status and to the suggester are cached until the trial
    changes (rebuilding every trial's views on every event made a long experiment quadratic).
    """

    record: TrialRecord
    directory: Path
    metrics: dict[str, MetricSummary] = field(default_factory=dict)
    objective: float | None = None
    # Observations per metric already in the store, to count off when a re-attached trial's files are read
    # again from the start (they are the record, so nothing is lost or stored twice).
    skip: dict[str, int] = field(default_factory=dict)
    handle: TrialHandle | None = None  # its processes, while they run
    task: asyncio.Task[None] | None = None  # the task following it to its end
    exited: bool = False  # its processes ended on their own; its outcome is being concluded
    early_stopped: bool = False  # the early-stopping rule asked to stop it
    # The controller decided to stop it (the experiment's end, Ctrl-C): whatever it does afterwards (exit,
    # deadline) is not its outcome; the controller records why it ended.
    halted: bool = False
    _view: TrialView | None = None
    _result: TrialResult | None = None

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def phase(self) -> TrialPhase:
        return self.record.phase

    @property
    def active(self) -> bool:
        return self.record.phase in ACTIVE_PHASES

    def update(self, **fields: Any) -> None:
        """The record with these fields changed (as written to the store)."""
        self.record = dataclasses.replace(self.record, **fields)
        self.changed()

    def changed(self) -> None:
        """Its record, metrics or objective changed: its views are rebuilt when next asked for."""
        self._view = None
        self._result = None

    def reset(self) -> None:
        """It runs again from nothing: what it reported before no longer counts."""
        self.metrics, self.objective, self.skip = {}, None, {}
        self.early_stopped = False
        self.changed()

    def view(self) -> TrialView:
        if self._view is None:
            r = self.record
            self._view = TrialView(r.name, r.phase, r.reason, r.parameter_assignments, self.metrics, self.objective)
        return self._view

    def result(self) -> TrialResult:
        if self._result is None:
            r = self.record
            self._result = TrialResult(r.name, r.parameter_assignments, r.phase, self.objective, r.labels)
        return self._result
