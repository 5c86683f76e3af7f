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
with the same random numbers. Every value a sampler proposes becomes the exact Katib value (rounded,
snapped to the lattice) before Optuna stores it, so the study of a rebuilt suggester, made of
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
from optuna.study import Study, StudyDirection
from optuna.trial import FrozenTrial, TrialState, create_trial

from pykatib.spec.conditions import FINAL_PHASES, RANKED_PHASES
from pykatib.spec.models import ObjectiveType
from pykatib.suggest._codec import Codec, Fallback, Kind, SpaceCodec
from pykatib.suggest.base import (
    AssignmentKey,
    SeenAssignments,
    Suggester,
    Suggestion,
    TrialFeed,
    TrialResult,
    assignment_key,
    random_state,
)

# Optuna logs every finished trial at INFO; the experiment's own status is what a user reads.
optuna.logging.set_verbosity(optuna.logging.WARNING)

# Asks per suggestion before a proposal that keeps repeating a held assignment gives way to a random one.
ASK_ATTEMPTS = 16


def optuna_distribution(codec: Codec) -> BaseDistribution:
    if codec.kind is Kind.CATEGORICAL:
        return CategoricalDistribution(codec.choices)
    if codec.kind is Kind.INT:
        return IntDistribution(int(codec.low), int(codec.high))
    return FloatDistribution(codec.low, codec.high, log=codec.log)


def kept_by_optuna(distribution: BaseDistribution, value: Any) -> bool:
    """Whether Optuna keeps a value ``sample_relative`` proposed for ``distribution`` (it samples the parameter
    again, independently, when the value lies outside the distribution): Optuna's rule, for the
    distributions :func:`optuna_distribution` builds (tests/suggest/test_library_internals.py compares)."""
    if isinstance(distribution, FloatDistribution | IntDistribution):
        number = float(value)
        if not distribution.low <= number <= distribution.high:
            return False
        if isinstance(distribution, IntDistribution):
            return (number - distribution.low) % distribution.step == 0
        if distribution.step is not None:
            steps = (number - distribution.low) / distribution.step
            return abs(steps - round(steps)) < 1.0e-8
    return True  # a choice: one that is not among the choices makes Optuna raise, as it always did


class KatibValues(BaseSampler):
    """The sampler a study runs: an algorithm's sampler, each value it proposes turned into the exact Katib
    value before Optuna stores it.

    A sampler proposes a float where Katib has a string ("0.30000000000000004" is "0.3"), a lattice index or
    a truncated normal's probability; the study must hold the value a trial actually runs with, the one a
    rebuilt suggester's study gets from ``add_trial``. Proposing it in the first place spares rewriting a
    stored trial. Only values Optuna keeps are changed (see :func:`kept_by_optuna`): a relative value it
    drops is sampled again, independently, and that one is changed instead.
    """

    def __init__(self, sampler: BaseSampler, codecs: SpaceCodec) -> None:
        self.sampler = sampler
        self._codecs = dict(zip(codecs.names, codecs.codecs, strict=True))
        # The Katib string of each value given since the last take(): a trial's assignment.
        self._given: dict[str, str] = {}

    def take(self) -> dict[str, str]:
        """The Katib strings of the values given since the last call (the trial just asked for)."""
        given, self._given = self._given, {}
        return given

    def _exact(self, name: str, value: Any) -> Any:
        """The value Katib's string for ``value`` encodes to; the string is kept for :meth:`take`."""
        codec = self._codecs[name]
        text = codec.decode(value)
        self._given[name] = text
        exact = codec.encode(text)
        assert exact is not None  # decoded values always lie inside the space
        return value if exact == value else exact

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self.sampler.infer_relative_search_space(study, trial)

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        params = self.sampler.sample_relative(study, trial, search_space)
        return {
            name: self._exact(name, value)
            if name in search_space and kept_by_optuna(search_space[name], value)
            else value
            for name, value in params.items()
        }

    def sample_independent(
        self, study: Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        value = self.sampler.sample_independent(study, trial, param_name, param_distribution)
        return self._exact(param_name, value)

    def before_trial(self, study: Study, trial: FrozenTrial) -> None:
        self.sampler.before_trial(study, trial)

    def after_trial(self, study: Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None) -> None:
        self.sampler.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler.reseed_rng()


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

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, objective, settings = self.space, self.objective, self.settings
        self._codecs = SpaceCodec.of(space)
        self._distributions = {
            name: optuna_distribution(c) for name, c in zip(self._codecs.names, self._codecs.codecs, strict=True)
        }
        self._seed = experiment_seed(settings, state)
        self._asks = int(state.get("asks", 0))
        self.sampler = self.create_sampler(self._seed, state)
        self._katib_values = KatibValues(self.sampler, self._codecs)
        direction = StudyDirection.MAXIMIZE if objective is ObjectiveType.MAXIMIZE else StudyDirection.MINIMIZE
        self.study = optuna.create_study(sampler=self._katib_values, direction=direction)
        self._seen = SeenAssignments(space)
        self._fallback = Fallback(space, self._codecs)
        # Suggested and not yet seen as a trial: assignment -> Optuna trial number (None: a fallback point,
        # which has no Optuna trial and is added when its trial shows up).
        self._pending: dict[AssignmentKey, int | None] = {}
        # Trials seen while active, noted with their Optuna trial number (None: none yet).
        self._feed: TrialFeed[int | None] = TrialFeed()
        self._trial_count = 0  # Optuna trials made so far: the next one's number
        # The assignment of every Optuna trial that stands for a Katib trial (not the refused duplicates).
        self.keys_by_number: dict[int, AssignmentKey] = {}

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
        ended, fresh = self._feed.read(trials)
        for i, number in ended:
            self._finish(trials[i], number)
        for i in fresh:
            self._take(i, trials[i])

    def _take(self, index: int, trial: TrialResult) -> None:
        key = assignment_key(self.space, trial.assignment)
        number = self._pending.pop(key, None)
        if trial.phase in FINAL_PHASES:
            self._finish(trial, number)
            return
        if number is None:
            number = self._add(trial, TrialState.RUNNING, None)
        self._feed.watch(trial, index, number)

    def _finish(self, trial: TrialResult, number: int | None) -> None:
        value = trial.objective
        complete = trial.phase in RANKED_PHASES and value is not None and not math.isnan(value)
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
            self._katib_values.take()
            trial = self.study.ask(self._distributions)
            self._trial_count = trial.number + 1
            given = self._katib_values.take()
            # A value no sampler gave is a one-point distribution's only value.
            key: AssignmentKey = tuple(
                given[name] if name in given else codec.decode(trial.params[name])
                for name, codec in zip(self._codecs.names, self._codecs.codecs, strict=True)
            )
            if key not in self._seen:
                self._pending[key] = trial.number
                self.keys_by_number[trial.number] = key
                return key
            # Samplers ignore failed trials; a RUNNING one would linger as a constant liar's lie.
            self.study.tell(trial, state=TrialState.FAIL)
        rng = np.random.default_rng(derive_seed(self._seed, self._asks, 1 << 20))
        self._asks += 1
        picked = self._fallback.pick(self._seen, rng)
        if picked is not None:
            self._pending[picked] = None
        return picked
