"""Katib's ``multivariate-tpe`` algorithm: Optuna's TPESampler with a joint Parzen estimator, as Katib's
Optuna service runs it.

Settings -> TPESampler: ``n_startup_trials`` -> ``n_startup_trials``, ``n_ei_candidates`` ->
``n_ei_candidates``, ``random_state`` -> ``seed``; ``multivariate=True`` and ``constant_liar=True``, so
that trials still running count as (pessimistic) observations and a batch spreads out instead of piling
onto one promising point. Everything else is Optuna's default. normal/logNormal parameters are refused
at validation (Katib's Optuna service silently drops them from the search space).

One step beyond Katib: ``n_startup_trials`` counts the trials suggested, as its name says, not only those
finished, so the first ``n_startup_trials`` suggestions are random at any parallelism (Optuna, counting
finished trials, drew more random trials the more ran at once; docs/benchmarks.md has the effect). One
trial at a time it changes nothing.

Restart: the sampler keeps nothing between asks beyond its random generators, which are re-seeded per
ask (see ``_optuna``), so a rebuilt suggester given the same trials continues with the same suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution
from optuna.samplers import TPESampler
from optuna.trial import FrozenTrial, TrialState

from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest._optuna_internals import random_sampler_rng, tpe_random_sampler, tpe_rng, tpe_startup_check_off

_SUGGESTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


class SuggestedStartupTpeSampler(TPESampler):
    """Optuna's TPESampler, random for the first ``n_startup_trials`` trials suggested, running ones included
    (Optuna's counts only finished trials). Before the first result there is no model either way: the joint
    search space is inferred from finished trials, so it is empty until one exists."""

    def __init__(self, *, n_startup_trials: int, **kwargs: Any) -> None:
        super().__init__(n_startup_trials=n_startup_trials, **kwargs)
        self.startup_trials = n_startup_trials

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        # Uncached: running trials change state between asks (Optuna reads them so under the constant liar).
        others = [t for t in study.get_trials(deepcopy=False, states=_SUGGESTED) if t.number != trial.number]
        if len(others) < self.startup_trials:
            return {}
        # Optuna's own count (finished trials) would hold the model back: switched off, as this one passed.
        with tpe_startup_check_off(self):
            return super().sample_relative(study, trial, search_space)


class MultivariateTpeSuggester(OptunaSuggester):
    """Optuna's multivariate TPE with the constant liar."""

    sampler: SuggestedStartupTpeSampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> SuggestedStartupTpeSampler:
        return SuggestedStartupTpeSampler(
            n_startup_trials=self.integer("n_startup_trials"),
            n_ei_candidates=self.integer("n_ei_candidates"),
            multivariate=True,
            constant_liar=True,
            seed=seed,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (tpe_rng(self.sampler), random_sampler_rng(tpe_random_sampler(self.sampler)))
