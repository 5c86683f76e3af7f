"""Katib's ``pbt``: Population Based Training in generations, with Katib's settings and labels.

Generation 0 is ``n_population`` random draws from each parameter's grid (min, min+step, ..., max; a list's
values). When every member of a generation has ended, the next one is made from those with a result,
ranked by the objective (truncation selection):

* exploit: each member in the bottom ``truncation_threshold`` of the population is replaced by a child of a
  random member of the top ``truncation_threshold``: the child starts from that member's checkpoint with its
  hyperparameters, explored as below;
* explore: every other member gets a child that starts from its own checkpoint with its hyperparameters
  perturbed: each number times 0.8 or 1.2 (clipped to the feasible space), each list value moved to a
  neighbour; or, with ``resample_probability`` set, each value redrawn with that probability.

A child carries Katib's labels ``pbt.suggestion.katib.kubeflow.org/generation`` and ``.../parent`` (the
parent trial's name). Before it starts, the controller copies the parent's checkpoint directory (the trial's
own ``suggestion_trial_dir``, kept under the experiment's directory) into the child's: see
``pykatib.control.launch``. The experiment runs until maxTrialCount or its goal, as in Katib.

Where pykatib differs from Katib, for the user's sake:

* Generations are synchronous: Katib fills free slots early with more random or previous-generation
  samples, so its generations blur; here a generation larger than parallelTrialCount runs in turns and the
  next one waits for its last member (see :mod:`pykatib.suggest._staged`).
* Katib cuts the population at value quantiles, which selects nobody when the bottom values tie (a
  population of trials stuck at 0); here the cut is by rank.
* Katib's exploit gives the weak member's checkpoint the strong member's hyperparameters; here the child
  continues the strong member's checkpoint (its parent), as in the PBT paper, and explores from there.
* A member that did not succeed (Failed, Killed, MetricsUnavailable) ranks nowhere instead of being
  retried; a generation with no result at all is redrawn at random, and the population keeps its size when
  members failed (extra children of random members above the cut).
* ``random_state`` (pykatib's addition) seeds every draw, so a run is reproducible.

Children may repeat an assignment: each continues a different checkpoint, so they are different trials.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pykatib.spec.models import ParameterType
from pykatib.spec.space import Parameter
from pykatib.suggest._staged import StagedSuggester
from pykatib.suggest.base import Suggestion, TrialResult, random_state
from pykatib.suggest.random import decode_rng_state, encode_rng_state

_KATIB = "pbt.suggestion.katib.kubeflow.org"
GENERATION_LABEL = f"{_KATIB}/generation"
PARENT_LABEL = f"{_KATIB}/parent"
SLOT_LABEL = "pbt.suggestion.pykatib.kubeflow.org/slot"
PERTURBATIONS = (0.8, 1.2)


class PbtSuggester(StagedSuggester):
    """One stage per generation."""

    STAGE_LABEL = GENERATION_LABEL
    SLOT_LABEL = SLOT_LABEL

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, settings = self.space, self.settings
        self._population = self.integer("n_population")
        self._truncation = self.number("truncation_threshold")
        resample = settings.get("resample_probability")
        self._resample = None if resample is None else self.number("resample_probability")
        self._rng = np.random.Generator(np.random.PCG64(random_state(settings)))
        if state and state.get("bit_generator"):
            self._rng.bit_generator.state = decode_rng_state(state["bit_generator"])
        # Katib samples numbers on their step grid (int: step 1); validation demands a step for doubles.
        self._grids = {p.name: p.grid() or [] for p in space.parameters}

    def state(self) -> dict[str, Any]:
        return {**super().state(), "bit_generator": encode_rng_state(self._rng.bit_generator.state)}

    def plan(self, stage: int, trials: Sequence[TrialResult]) -> list[Suggestion] | None:
        generation = {GENERATION_LABEL: str(stage)}
        ranked = self.ranked(self.members(stage - 1, trials).values()) if stage else []
        if not ranked:  # the first generation, or one whose members all failed
            return [Suggestion(self._draw(), generation) for _ in range(self._population)]
        # Truncation selection by rank: the bottom truncation_threshold of the population exploits (a child
        # of one of the top truncation_threshold), everyone else explores. Katib cuts at value quantiles
        # instead, which selects nobody when the bottom values tie (a population of stuck trials at 0).
        # Fewer ranked than the population (members failed): the cut never lets top and bottom overlap.
        cut = min(int(self._population * self._truncation), len(ranked) // 2)
        strong = ranked[: max(1, cut)]
        weak = ranked[len(ranked) - cut :] if cut and len(ranked) > cut else []
        kept = ranked[: len(ranked) - len(weak)]
        parents = [strong[int(self._rng.integers(len(strong)))] for _ in weak] + self._shuffled(kept)
        while len(parents) < self._population:  # members failed: random kept members fill their places
            parents.append(kept[int(self._rng.integers(len(kept)))])
        return [
            Suggestion(self._explore(parent.assignment), {**generation, PARENT_LABEL: parent.name})
            for parent in parents
        ]

    def _shuffled(self, trials: list[TrialResult]) -> list[TrialResult]:
        order = self._rng.permutation(len(trials))
        return [trials[int(i)] for i in order]

    def _draw(self) -> dict[str, str]:
        return {p.name: self._sample(p) for p in self.space.parameters}

    def _sample(self, parameter: Parameter) -> str:
        grid = self._grids[parameter.name]
        return grid[int(self._rng.integers(len(grid)))]

    def _explore(self, assignment: Mapping[str, str]) -> dict[str, str]:
        out = {}
        for parameter in self.space.parameters:
            value = assignment[parameter.name]
            if self._resample is not None:
                out[parameter.name] = self._sample(parameter) if self._rng.random() < self._resample else value
            else:
                out[parameter.name] = self._perturb(parameter, value)
        return out

    def _perturb(self, parameter: Parameter, value: str) -> str:
        if parameter.is_numeric:
            assert parameter.min is not None and parameter.max is not None
            factor = PERTURBATIONS[int(self._rng.integers(2))]
            if parameter.type is ParameterType.INT:
                number = float(int(int(float(value)) * factor))  # Katib truncates the product
            else:
                number = float(value) * factor
            return parameter.format(min(parameter.max, max(parameter.min, number)))
        values = list(parameter.values)
        index = values.index(value) if value in values else 0
        # A neighbour, wrapping around at both ends.
        return values[(index + (1 if self._rng.integers(2) else -1)) % len(values)]
