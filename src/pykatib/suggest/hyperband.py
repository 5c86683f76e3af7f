"""Katib's ``hyperband``: successive halving in brackets, with Katib's arithmetic.

Settings: ``r_l`` (the largest resource one trial gets), ``eta`` (the halving rate, 3) and ``resource_name``
(the parameter that carries each trial's resource, e.g. its number of epochs). With
``s_max = int(log(r_l) / log(eta))`` the brackets run for ``s = s_max, ..., 0``; bracket ``s`` starts
``n = ceil((s_max + 1) * eta**s / (s + 1))`` random trials with resource ``int(r_l * eta**-s)``, and each of its
rungs ``i = 1..s`` re-runs the best ``ceil(ceil(n * eta**-(i-1)) / eta)`` of the rung before with resource
``int(r * eta**i)``. These are the numbers Katib's hyperband service produces.

Where pykatib goes further than Katib:

* Katib sizes a bracket by the number of trials the controller asks for and so demands
  ``parallelTrialCount >= eta**s_max``. Here a bracket has its own size; a smaller parallelTrialCount runs
  its trials in turns (the rest wait their turn in the algorithm's state).
* A rung starts once every trial of the rung before has ended (:meth:`waiting` tells the controller that
  fewer assignments than asked is a pause, not the end); a trial that failed ranks last instead of
  stalling the bracket, and a rung with no result at all closes its bracket early.
* After the last bracket the experiment ends with ExperimentSuggestionEndReached.

Every trial carries labels naming its bracket, rung and slot, so that the algorithm state needs only the
current rung's planned assignments: which of them run already is read off the trials, which makes a
restart mid-bracket continue the same bracket without running a slot twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pykatib.spec.models import ObjectiveType
from pykatib.spec.space import SearchSpace
from pykatib.suggest.base import Suggester, Suggestion, TrialResult
from pykatib.suggest.random import RandomSuggester

_PREFIX = "hyperband.suggestion.pykatib.kubeflow.org"
BRACKET_LABEL = f"{_PREFIX}/bracket"
RUNG_LABEL = f"{_PREFIX}/rung"
SLOT_LABEL = f"{_PREFIX}/slot"
PARENT_LABEL = f"{_PREFIX}/parent"
_ACTIVE = ("Created", "Running")


@dataclass(frozen=True, slots=True)
class Rung:
    """One step of a bracket: ``trials`` trials, each given ``resource`` of the resource parameter."""

    bracket: int  # s: the bracket's number, s_max first, 0 last
    index: int  # i: 0 for the bracket's random trials, then 1..s for the survivors
    trials: int
    resource: int


def s_max(r_l: float, eta: float) -> int:
    # Katib's expression, truncation included (int(log(27)/log(3)) is 3, int(log(1000)/log(10)) is 2).
    return int(math.log(r_l) / math.log(eta))


def schedule(r_l: float, eta: float) -> list[Rung]:
    """Every rung of every bracket in the order Katib's service runs them."""
    top = s_max(r_l, eta)
    rungs: list[Rung] = []
    for s in range(top, -1, -1):
        n = math.ceil(float(top + 1) * (float(eta**s) / float(s + 1)))
        r = r_l * eta ** (-s)
        rungs.append(Rung(s, 0, n, int(r)))
        for i in range(1, s + 1):
            previous = math.ceil(n * eta ** (-(i - 1)))
            rungs.append(Rung(s, i, math.ceil(previous / eta), int(r * eta**i)))
    return rungs


class HyperbandSuggester(Suggester):
    """Runs :func:`schedule` rung by rung; rung 0 of a bracket is random (Katib's uniform draws)."""

    def __init__(
        self,
        space: SearchSpace,
        objective: ObjectiveType,
        settings: Mapping[str, object],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, objective, settings, state)
        self._resource = str(settings["resource_name"])
        self._schedule = schedule(float(settings["r_l"]), float(settings.get("eta", 3.0)))  # type: ignore[arg-type]
        # The random draws cover every parameter but the resource, whose value the bracket sets.
        self._free = SearchSpace(tuple(p for p in space.parameters if p.name != self._resource))
        state = state or {}
        self._rung: int = int(state.get("rung", 0))
        self._planned: list[dict[str, str]] | None = state.get("planned")
        self._parents: list[str | None] = list(state.get("parents") or [])
        self._random: Mapping[str, Any] | None = state.get("random")
        self._waiting = False

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._waiting = False
        out: list[Suggestion] = []
        while len(out) < n and self._rung < len(self._schedule):
            rung = self._schedule[self._rung]
            if self._planned is None:
                self._open(rung, trials)
                assert self._planned is not None
                if not self._planned:
                    self._close_bracket()  # nothing of the rung before has a result to rank
                    continue
            members = _members(rung, trials)
            free = [k for k in range(len(self._planned)) if k not in members]
            for slot in free[: n - len(out)]:
                out.append(self._suggestion(rung, slot))
            if len(out) == n:
                break
            # Every slot of this rung is handed out; the next rung ranks their results, so it waits for
            # the ones still running or just handed out. (``out`` holds only this rung's: a rung is left
            # behind only when nothing of it was handed out in this call.)
            if out or any(t.phase in _ACTIVE for t in members.values()):
                self._waiting = True
                break
            self._rung += 1
            self._planned = None
        return out

    def waiting(self) -> bool:
        return self._waiting

    def state(self) -> dict[str, Any]:
        return {"rung": self._rung, "planned": self._planned, "parents": self._parents, "random": self._random}

    def _suggestion(self, rung: Rung, slot: int) -> Suggestion:
        assert self._planned is not None
        labels = {BRACKET_LABEL: str(rung.bracket), RUNG_LABEL: str(rung.index), SLOT_LABEL: str(slot)}
        parent = self._parents[slot] if slot < len(self._parents) else None
        if parent:
            labels[PARENT_LABEL] = parent
        return Suggestion(dict(self._planned[slot]), labels)

    def _open(self, rung: Rung, trials: Sequence[TrialResult]) -> None:
        """Plan the rung's assignments: random draws, or the best of the rung before."""
        resource = str(rung.resource)
        if rung.index == 0:
            sampler = RandomSuggester(self._free, self.objective, self.settings, self._random)
            drawn = sampler.suggest(rung.trials, [])
            self._random = sampler.state()
            self._planned = [{**s.assignment, self._resource: resource} for s in drawn]
            self._parents = [None] * len(self._planned)
            return
        previous = self._schedule[self._rung - 1]
        ranked = sorted(
            (t for t in _members(previous, trials).values() if t.objective is not None and t.phase not in _ACTIVE),
            key=lambda t: t.objective if self.objective is ObjectiveType.MINIMIZE else -t.objective,  # type: ignore[operator]
        )
        best = ranked[: rung.trials]
        self._planned = [{**t.assignment, self._resource: resource} for t in best]
        self._parents = [t.name for t in best]

    def _close_bracket(self) -> None:
        bracket = self._schedule[self._rung].bracket
        while self._rung < len(self._schedule) and self._schedule[self._rung].bracket == bracket:
            self._rung += 1
        self._planned = None


def _members(rung: Rung, trials: Sequence[TrialResult]) -> dict[int, TrialResult]:
    """slot -> the rung's trial in that slot; a slot run again (a lost trial replaced) counts its latest."""
    bracket, index = str(rung.bracket), str(rung.index)
    members: dict[int, TrialResult] = {}
    for trial in trials:
        labels = trial.labels
        if labels.get(BRACKET_LABEL) == bracket and labels.get(RUNG_LABEL) == index and SLOT_LABEL in labels:
            members[int(labels[SLOT_LABEL])] = trial
    return members
