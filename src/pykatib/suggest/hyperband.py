"""Katib's ``hyperband``: successive halving in brackets, with Katib's arithmetic.

Settings: ``r_l`` (the largest resource one trial gets), ``eta`` (the halving rate, 3) and ``resource_name``
(the parameter that carries each trial's resource, e.g. its number of epochs). With
``s_max = int(log(r_l) / log(eta))`` the brackets run for ``s = s_max, ..., 0``; bracket ``s`` starts
``n = ceil((s_max + 1) * eta**s / (s + 1))`` random trials with resource ``r = int(r_l * eta**-s)``, and each of
its rungs ``i = 1..s`` re-runs the best ``ceil(ceil(n * eta**-(i-1)) / eta)`` of the rung before with resource
``int(r * eta**i)``. These are the numbers Katib's hyperband service produces (so when r_l is not a power of
eta, the last rung gets less than r_l, as in Katib).

Where pykatib goes further than Katib:

* Katib sizes a bracket by the number of trials the controller asks for and so demands
  ``parallelTrialCount >= eta**s_max``. Here a bracket has its own size; a smaller parallelTrialCount runs
  its trials in turns (the rest wait their turn in the algorithm's state).
* A rung starts once every trial of the rung before has ended (:meth:`waiting` tells the controller that
  fewer assignments than asked is a pause, not the end); a trial that did not succeed ranks nowhere
  instead of stalling the bracket (Katib raises), and a rung with no result at all closes its bracket.
* After the last bracket the experiment ends with ExperimentSuggestionEndReached.

Every trial carries labels naming its bracket, rung and slot; the state holds the open rung's plan
(see :mod:`pykatib.suggest._staged`), so a restart mid-bracket continues the same bracket without running a
slot twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pykatib.spec.space import SearchSpace
from pykatib.suggest._staged import StagedSuggester
from pykatib.suggest.base import Suggestion, TrialResult
from pykatib.suggest.random import RandomSuggester

_PREFIX = "hyperband.suggestion.pykatib.kubeflow.org"
BRACKET_LABEL = f"{_PREFIX}/bracket"
RUNG_LABEL = f"{_PREFIX}/rung"
SLOT_LABEL = f"{_PREFIX}/slot"
STAGE_LABEL = f"{_PREFIX}/stage"  # the rung's place in the whole schedule
PARENT_LABEL = f"{_PREFIX}/parent"


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
        # Katib's service keeps r between calls as an algorithm setting that it reads back with
        # int(float(...)): every rung after the first multiplies the truncated r (r_l 10, eta 3: 1, 3, 9).
        r = int(r_l * eta ** (-s))
        rungs.append(Rung(s, 0, n, r))
        for i in range(1, s + 1):
            previous = math.ceil(n * eta ** (-(i - 1)))
            rungs.append(Rung(s, i, math.ceil(previous / eta), int(r * eta**i)))
    return rungs


class HyperbandSuggester(StagedSuggester):
    """Runs :func:`schedule` rung by rung (one stage per rung); rung 0 of a bracket is random draws."""

    STAGE_LABEL = STAGE_LABEL
    SLOT_LABEL = SLOT_LABEL

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, settings = self.space, self.settings
        self._resource = str(settings["resource_name"])
        self._schedule = schedule(self.number("r_l"), self.number("eta", 3.0))
        # The random draws cover every parameter but the resource, whose value the bracket sets.
        self._free = SearchSpace(tuple(p for p in space.parameters if p.name != self._resource))
        self._random: Mapping[str, Any] | None = (state or {}).get("random")

    def state(self) -> dict[str, Any]:
        return {**super().state(), "random": self._random}

    def plan(self, stage: int, trials: Sequence[TrialResult]) -> list[Suggestion] | None:
        if stage >= len(self._schedule):
            return None
        rung = self._schedule[stage]
        labels = {BRACKET_LABEL: str(rung.bracket), RUNG_LABEL: str(rung.index)}
        resource = {self._resource: str(rung.resource)}
        if rung.index == 0:
            drawn: list[Suggestion] = []
            while len(drawn) < rung.trials:
                # Distinct draws while the space has them; a small discrete space then repeats points,
                # as Katib's independent draws do, so that the rung still has its size.
                sampler = RandomSuggester(self._free, self.objective, self.settings, self._random)
                drawn += sampler.suggest(rung.trials - len(drawn), [])
                self._random = sampler.state()
            return [Suggestion({**s.assignment, **resource}, labels) for s in drawn]
        # The best of the rung before; a failed trial has no result and ranks nowhere, and a rung whose
        # predecessor has none at all is empty (skipped, and so is the rest of its bracket).
        best = self.ranked(self.members(stage - 1, trials).values())[: rung.trials]
        return [Suggestion({**t.assignment, **resource}, {**labels, PARENT_LABEL: t.name}) for t in best]
