"""Katib's ``tpe`` algorithm: hyperopt's TPE behind Katib, here Optuna's TPESampler set up as hyperopt.

Katib's settings are hyperopt's; each maps onto the TPESampler argument that does the same thing:

* ``gamma`` -> ``gamma``: hyperopt puts ``min(ceil(gamma * sqrt(n)), 25)`` of the n observations in the
  "good" group (``tpe.ap_split_trials``), which is also what Optuna's ``hyperopt_parameters()`` uses for
  the default 0.25;
* ``prior_weight`` -> ``prior_weight``; ``n_EI_candidates`` -> ``n_ei_candidates``;
  ``random_state`` -> ``seed``;
* the rest as hyperopt: independent (univariate) Parzen estimators, magic clip on, end points off,
  hyperopt's linear-forgetting weights, no knowledge of running trials (Katib only hands hyperopt the
  succeeded ones);
* startup: Katib's hyperopt service passes ``n_startup_jobs`` = the number of suggestions requested, so
  suggestions are random while fewer trials have completed than are being asked for, and TPE after that.

Optuna 5 marks ``gamma`` and ``prior_weight`` deprecated (to be removed in Optuna 6); the warnings are
silenced here and the project pins ``optuna<6``.

Restart: the sampler keeps nothing between asks beyond its random generators, which are re-seeded per
ask (see ``_optuna``), so a rebuilt suggester given the same trials continues with the same suggestions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from optuna.samplers import TPESampler

from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest.base import Suggestion, TrialResult

# hyperopt's DEFAULT_LF: the "good" group never holds more than this many observations.
LINEAR_FORGETTING = 25


def hyperopt_gamma(gamma: float, n: int) -> int:
    """How many of ``n`` observations hyperopt's TPE models as good (``tpe.ap_split_trials``)."""
    return min(math.ceil(gamma * math.sqrt(n)), LINEAR_FORGETTING)


class TpeSuggester(OptunaSuggester):
    """hyperopt-style TPE: one Parzen estimator pair per parameter."""

    sampler: TPESampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> TPESampler:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return TPESampler(
                gamma=partial(hyperopt_gamma, float(self.settings["gamma"])),  # type: ignore[arg-type]
                prior_weight=float(self.settings["prior_weight"]),  # type: ignore[arg-type]
                n_ei_candidates=int(self.settings["n_EI_candidates"]),  # type: ignore[call-overload]
                consider_magic_clip=True,
                consider_endpoints=False,
                n_startup_trials=0,
                multivariate=False,
                constant_liar=False,
                seed=seed,
            )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (self.sampler._rng.rng, self.sampler._random_sampler._rng.rng)

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        # Katib's hyperopt service: n_startup_jobs = current_request_number.
        self.sampler._n_startup_trials = n
        return super().suggest(n, trials)
