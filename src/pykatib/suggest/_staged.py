"""Algorithms that run in stages: hyperband's rungs, PBT's generations.

A stage's assignments are planned all at once when it opens (from the results of the stage before), handed
out as the controller frees slots, and the next stage opens only when every trial of this one has ended;
until then :meth:`Suggester.waiting` tells the controller that a short answer is a pause. So a stage larger
than parallelTrialCount simply runs in turns.

Each trial carries its stage and slot as labels. The state keeps only the open stage's plan: which slots
run already is read off the trials, so a controller that died after saving the plan but before creating
the trials hands the missing slots out again, and none runs twice.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pykatib.spec.conditions import ACTIVE_PHASES, RANKED_PHASES
from pykatib.spec.models import ObjectiveType
from pykatib.suggest.base import Suggester, Suggestion, TrialResult


class StagedSuggester(Suggester):
    """Subclasses name their labels and plan each stage in :meth:`plan`."""

    STAGE_LABEL: ClassVar[str]
    SLOT_LABEL: ClassVar[str]

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        self._stage: int = int(state.get("stage", 0))
        self._planned: list[dict[str, Any]] | None = state.get("planned")
        self._waiting = False

    @abstractmethod
    def plan(self, stage: int, trials: Sequence[TrialResult]) -> list[Suggestion] | None:
        """The assignments (and labels) of ``stage``: ``None`` when there is no such stage (the search is
        over), ``[]`` when it has nothing to run (it is skipped)."""

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._waiting = False
        out: list[Suggestion] = []
        while len(out) < n:
            if self._planned is None:
                planned = self.plan(self._stage, trials)
                if planned is None:
                    break
                self._planned = [{"assignment": s.assignment, "labels": s.labels} for s in planned]
            members = self.members(self._stage, trials)
            free = [k for k in range(len(self._planned)) if k not in members]
            out += [self._suggestion(slot) for slot in free[: n - len(out)]]
            if len(out) == n:
                break
            # Every slot is handed out; the next stage is planned from their results, so it waits for the
            # ones still active or just handed out. (``out`` holds only this stage's: a stage is left
            # behind only when nothing of it was handed out in this call.)
            if out or any(t.phase in ACTIVE_PHASES for t in members.values()):
                self._waiting = True
                break
            self._stage += 1
            self._planned = None
        return out

    def waiting(self) -> bool:
        return self._waiting

    def state(self) -> dict[str, Any]:
        return {"stage": self._stage, "planned": self._planned}

    def members(self, stage: int, trials: Sequence[TrialResult]) -> dict[int, TrialResult]:
        """slot -> the stage's trial in that slot; a slot run again (a lost trial replaced) counts its latest."""
        wanted = str(stage)
        members: dict[int, TrialResult] = {}
        for trial in trials:
            labels = trial.labels
            if labels.get(self.STAGE_LABEL) == wanted and self.SLOT_LABEL in labels:
                members[int(labels[self.SLOT_LABEL])] = trial
        return members

    def ranked(self, trials: Iterable[TrialResult]) -> list[TrialResult]:
        """The trials that ran to their end (Succeeded, or EarlyStopped by design) with a result, best first;
        ties keep their order. A Failed or Killed trial ranks nowhere, whatever it reported before it ended:
        its result is partial and its checkpoint may be half written."""
        scored = [(t, t.objective) for t in trials if t.objective is not None and t.phase in RANKED_PHASES]
        sign = 1.0 if self.objective is ObjectiveType.MINIMIZE else -1.0
        return [t for t, _ in sorted(scored, key=lambda pair: sign * pair[1])]

    def _suggestion(self, slot: int) -> Suggestion:
        assert self._planned is not None
        planned = self._planned[slot]
        labels = {**planned["labels"], self.STAGE_LABEL: str(self._stage), self.SLOT_LABEL: str(slot)}
        return Suggestion(dict(planned["assignment"]), labels)
