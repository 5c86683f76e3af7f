"""Katib's ``multivariate-tpe`` algorithm: Optuna's TPESampler with a joint Parzen estimator, as Katib's
Optuna service runs it.

Settings -> TPESampler: ``n_startup_trials`` -> ``n_startup_trials``, ``n_ei_candidates`` ->
``n_ei_candidates``, ``random_state`` -> ``seed``; ``multivariate=True`` and ``constant_liar=True``, so
that trials still running count as (pessimistic) observations and a batch spreads out instead of piling
onto one promising point. Everything else is Optuna's default. normal/logNormal parameters are refused
at validation (Katib's Optuna service silently drops them from the search space).

Restart: the sampler keeps nothing between asks beyond its random generators, which are re-seeded per
ask (see ``_optuna``), so a rebuilt suggester given the same trials continues with the same suggestions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna.samplers import TPESampler

from pykatib.suggest._optuna import OptunaSuggester


class MultivariateTpeSuggester(OptunaSuggester):
    """Optuna's multivariate TPE with the constant liar."""

    sampler: TPESampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> TPESampler:
        return TPESampler(
            n_startup_trials=int(self.settings["n_startup_trials"]),  # type: ignore[call-overload]
            n_ei_candidates=int(self.settings["n_ei_candidates"]),  # type: ignore[call-overload]
            multivariate=True,
            constant_liar=True,
            seed=seed,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (self.sampler._rng.rng, self.sampler._random_sampler._rng.rng)
