"""The shared body of the Optuna-backed algorithms (tpe, multivariate-tpe, cmaes, sobol).

One in-memory ``optuna.Study`` lives as long as the suggester and is fed incrementally, the way Katib's
Optuna and Goptuna services feed theirs:

* a suggestion is an Optuna trial from ``study.ask`` that stays RUNNING while the Katib trial runs, so that
  samplers aware of running trials (constant liar, CMA-ES generations) see it; its result is told to that
  very trial when the Katib trial ends (matched by assignment, as Katib's services do: a trial's name is
  only known once the controller has created it);
* a trial that pykatib did not suggest in this process (one from before a restart, one created by hand)
  is added with ``study.add_trial``: finished, or RUNNING until its result arrives;
* Succeeded and EarlyStopped trials with an objective value are COMPLETE; Failed, Killed,
  MetricsUnavailable (and any trial without a usable value) are FAIL, which the samplers ignore.

Every read of the trial list starts where the last one stopped, plus the few trials still active, so a
call costs what the sampler costs and no more.

Reproducibility: the sampler's random generators are re-seeded before every ask from ``(seed, number of
asks so far)``, so that ``state()`` is two integers and a rebuilt suggester, given the same trials, asks
with the same random numbers. The suggested values are written back into the Optuna trial as the exact
Katib values (rounded, snapped to the lattice), so the study of a rebuilt suggester, made of
``add_trial`` entries, holds exactly what the uninterrupted one holds. What a restart cannot restore is
said by each algorithm's module.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler
from optuna.trial import TrialState, create_trial

from pykatib.spec.models import ObjectiveType
from pykatib.spec.space import SearchSpace
from pykatib.suggest._codec import Codec, Fallback, Internal, Kind, SpaceCodec
from pykatib.suggest.base import (
    AssignmentKey,
    SeenAssignments,
    Suggester,
    Suggestion,
    TrialResult,
    assignment_key,
    random_state,
)

# Optuna logs every finished trial at INFO; the experiment's own status is what a user reads.
optuna.logging.set_verbosity(optuna.logging.WARNING)

FINAL_PHASES = frozenset({"Succeeded", "Failed", "Killed", "EarlyStopped", "MetricsUnavailable"})
COMPLETE_PHASES = frozenset({"Succeeded", "EarlyStopped"})
# Asks per suggestion before a proposal that keeps repeating a held assignment gives way to a random one.
ASK_ATTEMPTS = 16


def optuna_distribution(codec: Codec) -> BaseDistribution:
    if codec.kind is Kind.CATEGORICAL:
        return CategoricalDistribution(codec.choices)
    if codec.kind is Kind.INT:
        return IntDistribution(int(codec.low), int(codec.high))
    return FloatDistribution(codec.low, codec.high, log=codec.log)


def derive_seed(seed: int, *path: int) -> int:
    """A 32-bit seed for one use of the experiment's seed (what numpy's RandomState.seed accepts)."""
    return int(np.random.SeedSequence([seed, *path]).generate_state(1)[0])


def experiment_seed(settings: Mapping[str, object], state: Mapping[str, Any]) -> int:
    """The saved seed, else ``random_state``, else one drawn now (and kept in state() from then on)."""
    if "seed" in state:
        return int(state["seed"])
    seed = random_state(settings)
    return seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])


class OptunaSuggester(Suggester):
    """A Katib algorithm backed by one Optuna sampler; subclasses say which sampler."""

    def __init__(
        self,
        space: SearchSpace,
        objective: ObjectiveType,
        settings: Mapping[str, object],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space, objective, settings, state)
        state = state or {}
        self._codecs = SpaceCodec.of(space)
        self._distributions = {
            name: optuna_distribution(c) for name, c in zip(self._codecs.names, self._codecs.codecs, strict=True)
        }
        self._seed = experiment_seed(settings, state)
        self._asks = int(state.get("asks", 0))
        self.sampler = self.create_sampler(self._seed, state)
        direction = "maximize" if objective is ObjectiveType.MAXIMIZE else "minimize"
        self.study = optuna.create_study(sampler=self.sampler, direction=direction)
        self._seen = SeenAssignments(space)
        self._fallback = Fallback(space, self._codecs)
        # Suggested and not yet seen as a trial: assignment -> Optuna trial number (None: a fallback point,
        # which has no Optuna trial and is added when its trial shows up).
        self._pending: dict[AssignmentKey, int | None] = {}
        # Trials seen while active: name -> (index in the trial list, Optuna trial number or None).
        self._active: dict[str, tuple[int, int | None]] = {}
        self._known: set[str] = set()
        self._trial_count = 0  # Optuna trials made so far: the next one's number
        # The assignment of every Optuna trial that stands for a Katib trial (not the refused duplicates).
        self.keys_by_number: dict[int, AssignmentKey] = {}
        self._read = 0
        self._last_name: str | None = None

    # --- what a subclass provides ----------------------------------------------------------------------

    @abstractmethod
    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> BaseSampler:
        """The sampler, built once; ``state`` is what :meth:`extra_state` returned before a restart."""

    @abstractmethod
    def random_states(self) -> Sequence[np.random.RandomState]:
        """The sampler's random generators, re-seeded before every ask."""

    def extra_state(self) -> dict[str, Any]:
        """What the sampler needs beyond the seed and the number of asks to survive a restart."""
        return {}

    def system_attrs(self, number: int, key: AssignmentKey) -> dict[str, Any]:
        """Sampler bookkeeping to attach to trial ``number``, added with ``add_trial`` (CMA-ES: its generation)."""
        return {}

    def room(self, n: int) -> int:
        """How many of ``n`` asked suggestions the sampler can make before results arrive (CMA-ES: the room
        left in its generation; fewer than ``n`` must then be reported by :meth:`waiting`)."""
        return n

    # --- the Suggester contract ------------------------------------------------------------------------

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._seen.update(trials)
        self._sync(trials)
        suggestions: list[Suggestion] = []
        for _ in range(self.room(n)):
            key = self._ask_new()
            if key is None:
                break  # the finite space is used up
            self._seen.add(key)
            suggestions.append(Suggestion(self._codecs.assignment(key)))
        return suggestions

    def state(self) -> dict[str, Any]:
        return {"seed": self._seed, "asks": self._asks, **self.extra_state()}

    # --- feeding results ---------------------------------------------------------------------------------

    def _sync(self, trials: Sequence[TrialResult]) -> None:
        """Tell the study what changed since the last call: trials ended, trials appeared."""
        if self._read and (len(trials) < self._read or trials[self._read - 1].name != self._last_name):
            # Not the same list grown at its end: indices cannot be trusted, names can.
            index = {trial.name: i for i, trial in enumerate(trials)}
            self._active = {name: (index[name], number) for name, (_, number) in self._active.items() if name in index}
            fresh = [i for i, trial in enumerate(trials) if trial.name not in self._known]
        else:
            fresh = list(range(self._read, len(trials)))
        for name, (i, number) in list(self._active.items()):
            if trials[i].phase in FINAL_PHASES:
                del self._active[name]
                self._finish(trials[i], number)
        for i in fresh:
            self._take(i, trials[i])
        self._read = len(trials)
        self._last_name = trials[-1].name if trials else None

    def _take(self, index: int, trial: TrialResult) -> None:
        self._known.add(trial.name)
        key = assignment_key(self.space, trial.assignment)
        number = self._pending.pop(key, None)
        if trial.phase in FINAL_PHASES:
            self._finish(trial, number)
            return
        if number is None:
            number = self._add(trial, TrialState.RUNNING, None)
        self._active[trial.name] = (index, number)

    def _finish(self, trial: TrialResult, number: int | None) -> None:
        value = trial.objective
        complete = trial.phase in COMPLETE_PHASES and value is not None and not math.isnan(value)
        if number is None:
            self._add(trial, TrialState.COMPLETE if complete else TrialState.FAIL, value if complete else None)
        elif complete:
            self.study.tell(number, value)
        else:
            self.study.tell(number, state=TrialState.FAIL)

    def _add(self, trial: TrialResult, state: TrialState, value: float | None) -> int | None:
        values = self._codecs.encode(trial.assignment)
        if values is None:
            return None  # outside the space (an edited trial, an older spec): nothing to learn from
        number = self._trial_count
        self._trial_count += 1
        key = assignment_key(self.space, trial.assignment)
        self.keys_by_number[number] = key
        self.study.add_trial(
            create_trial(
                state=state,
                value=value,
                params=dict(zip(self._codecs.names, values, strict=True)),
                distributions=self._distributions,
                system_attrs=self.system_attrs(number, key),
            )
        )
        return number

    # --- asking --------------------------------------------------------------------------------------------

    def _ask_new(self) -> AssignmentKey | None:
        for _ in range(ASK_ATTEMPTS):
            for i, generator in enumerate(self.random_states()):
                generator.seed(derive_seed(self._seed, self._asks, i))
            self._asks += 1
            trial = self.study.ask(self._distributions)
            self._trial_count = trial.number + 1
            key = self._canonicalize(trial)
            if key not in self._seen:
                self._pending[key] = trial.number
                self.keys_by_number[trial.number] = key
                return key
            # Samplers ignore failed trials; a RUNNING one would linger as a constant liar's lie.
            self.study.tell(trial, state=TrialState.FAIL)
        rng = np.random.default_rng(derive_seed(self._seed, self._asks, 1 << 20))
        self._asks += 1
        key = self._fallback.pick(self._seen, rng)
        if key is not None:
            self._pending[key] = None
        return key

    def _canonicalize(self, trial: optuna.Trial) -> AssignmentKey:
        """The trial's Katib values; its params are rewritten to exactly those values."""
        params = trial.params
        asked: list[Internal] = [params[name] for name in self._codecs.names]
        key = self._codecs.decode(asked)
        exact = self._codecs.encode(self._codecs.assignment(key))
        assert exact is not None  # decoded values always lie inside the space
        for name, old, new in zip(self._codecs.names, asked, exact, strict=True):
            if old != new:
                distribution = self._distributions[name]
                # The public storage call Optuna itself uses when a trial suggests a value.
                self.study._storage.set_trial_param(
                    trial._trial_id, name, distribution.to_internal_repr(new), distribution
                )
        return key
