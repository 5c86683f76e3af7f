"""Katib's ``tpe`` algorithm: hyperopt's TPE behind Katib, here Optuna's univariate TPE set up as hyperopt.

Katib's settings are hyperopt's; each maps onto the TPESampler argument that does the same thing:

* ``gamma`` -> ``gamma``: hyperopt puts ``min(ceil(gamma * sqrt(n)), 25)`` of the n observations in the
  "good" group (``tpe.ap_split_trials``), which is also what Optuna's ``hyperopt_parameters()`` uses for
  the default 0.25;
* ``prior_weight`` -> ``prior_weight``; ``n_EI_candidates`` -> ``n_ei_candidates``;
  ``random_state`` -> ``seed``;
* the rest as hyperopt: independent (univariate) Parzen estimators, magic clip on, end points off,
  hyperopt's linear-forgetting weights;
* startup: Katib's hyperopt service passes ``n_startup_jobs`` = the number of suggestions requested, so
  suggestions are random while fewer trials have completed than are being asked for, and TPE after that.

One deliberate step beyond Katib: trials still running count as "bad" observations (Optuna's constant
liar). Katib hands hyperopt only finished trials and asks for each suggestion of a batch with the same
seed and the same history, so its batches pile onto one point; here a batch, and every suggestion made
while earlier ones run, is pushed away from the points already being evaluated. At parallelTrialCount 1
nothing is running when a suggestion is made, so this changes nothing there. hyperopt's own estimators
are kept otherwise (gamma, weights, bandwidths); see docs/benchmarks.md for what this does to sample
efficiency.

Speed: Optuna's univariate TPE reads the trial list, splits it into good and bad, and converts every
trial's values once per parameter; :class:`HyperoptTpeSampler` does this once per suggestion for all
parameters, keeps each finished trial's values and objective in arrays (a finished trial never changes),
and then fits the same one-dimensional Parzen estimators in the same order with the same random numbers,
so it samples exactly what ``TPESampler(multivariate=False)`` samples (tests/suggest/test_tpe.py compares
the two).

Optuna 5 marks ``gamma`` and ``prior_weight`` deprecated (to be removed in Optuna 6); the warnings are
silenced here and the project pins ``optuna<6``.

Restart: the sampler keeps nothing between asks beyond its random generators, which are re-seeded per
ask (see ``_optuna``), and the cache of finished trials, which a rebuilt sampler fills from the same
trials; so a rebuilt suggester given the same trials continues with the same suggestions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import TPESampler
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.probability_distributions import (
    _BatchedTruncLogNormDistributions,
    _BatchedTruncNormDistributions,
)
from optuna.samplers._tpe.sampler import _get_infeasible_trial_score, default_gamma
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest.base import Suggestion, TrialResult

# hyperopt's DEFAULT_LF: the "good" group never holds more than this many observations.
LINEAR_FORGETTING = 25
# Row index of a finished trial that Optuna's own path must handle (it violated a constraint).
_INFEASIBLE = -1


def hyperopt_gamma(gamma: float, n: int) -> int:
    """How many of ``n`` observations hyperopt's TPE models as good (``tpe.ap_split_trials``)."""
    return min(math.ceil(gamma * math.sqrt(n)), LINEAR_FORGETTING)


class HyperoptTpeSampler(TPESampler):
    """Optuna's univariate TPE over a search space fixed up front, every parameter in one pass.

    ``sample_relative`` does, for all parameters at once, what ``sample_independent`` does per
    parameter. Whatever the fast path does not cover (multi-objective studies, pruned or infeasible
    trials: none of which pykatib makes) is left to Optuna's own per-parameter path by returning nothing.
    """

    def __init__(self, search_space: Mapping[str, BaseDistribution], **kwargs: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            super().__init__(multivariate=False, **kwargs)
        # One-point distributions never reach a sampler (Trial._suggest returns their only value).
        self._space = {name: d for name, d in search_space.items() if not d.single()}
        # Finished trials: trial id -> row of the arrays below (or _INFEASIBLE).
        self._rows: dict[int, int] = {}
        self._size = 0
        self._numbers = np.empty(64, dtype=np.int64)
        self._values = np.empty(64)
        # Internal representation per parameter of the fixed space; NaN where a trial lacks the parameter.
        self._internal = np.empty((64, len(self._space)))

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space or search_space is not self._space or study._is_multi_objective():
            return {}
        states = (TrialState.COMPLETE, TrialState.PRUNED)
        if self._constant_liar:
            states += (TrialState.RUNNING,)
        rows: list[int] = []
        running: list[FrozenTrial] = []
        for t in study._get_trials(deepcopy=False, states=states, use_cache=False):
            if t.state == TrialState.RUNNING:
                if t.number != trial.number:
                    running.append(t)
                continue
            if t.state == TrialState.PRUNED:
                return {}
            row = self._rows.get(t._trial_id)
            if row is None:
                row = self._remember(t)
            if row == _INFEASIBLE:
                return {}
            rows.append(row)
        if len(rows) < self._n_startup_trials:
            return {}  # random draws, by sample_independent

        # The good/bad split of Optuna's _split_trials: a stable sort by objective, the first gamma(n)
        # good, the rest bad together with the running trials, each group in trial-number order.
        index = np.asarray(rows, dtype=np.intp)
        values = self._values[index]
        order = np.argsort(values if study.direction == StudyDirection.MINIMIZE else -values, kind="stable")
        gamma = self._gamma if self._gamma is not None else default_gamma  # what TPESampler falls back to
        n_below = min(gamma(len(rows)), len(rows))
        below = self._internal[index[np.sort(order[:n_below])]]
        above_index = index[np.sort(order[n_below:])]
        above = self._internal[above_index]
        if running:
            numbers = np.concatenate([self._numbers[above_index], [t.number for t in running]])
            above = np.vstack([above, [self._internal_values(t) for t in running]])[np.argsort(numbers)]

        params: dict[str, Any] = {}
        for j, (name, distribution) in enumerate(self._space.items()):
            one = {name: distribution}
            below_j, above_j = below[:, j], above[:, j]
            mpe_below = self._parzen_estimator_cls(
                {name: below_j[~np.isnan(below_j)]}, one, self._parzen_estimator_parameters
            )
            mpe_above = self._parzen_estimator_cls(
                {name: above_j[~np.isnan(above_j)]}, one, self._parzen_estimator_parameters
            )
            samples = mpe_below.sample(self._rng.rng, self._n_ei_candidates)
            below_density, above_density = _continuous_log_pdf(mpe_below), _continuous_log_pdf(mpe_above)
            if below_density is not None and above_density is not None:
                x = samples[name]
                scores = below_density(x) - above_density(x)
            else:
                scores = self._compute_acquisition_func(samples, mpe_below, mpe_above)
            best = samples[name][int(np.argmax(scores))].item()
            if isinstance(distribution, FloatDistribution) and distribution.step is None:
                # A truncated normal's draw can miss its bounds by a rounding error; Optuna would then
                # ignore the relative value and sample the parameter again. The codec clips anyway.
                best = min(max(best, distribution.low), distribution.high)
            params[name] = distribution.to_external_repr(best)
        return params

    def _internal_values(self, trial: FrozenTrial) -> list[float]:
        return [
            float(d.to_internal_repr(trial.params[name])) if name in trial.params else math.nan
            for name, d in self._space.items()
        ]

    def _remember(self, trial: FrozenTrial) -> int:
        """Store a finished trial's objective and values (it never changes again); its row."""
        if _get_infeasible_trial_score(trial) > 0:
            self._rows[trial._trial_id] = _INFEASIBLE
            return _INFEASIBLE
        row = self._size
        if row == len(self._values):
            self._numbers = np.resize(self._numbers, 2 * row)
            self._values = np.resize(self._values, 2 * row)
            self._internal = np.resize(self._internal, (2 * row, len(self._space)))
        self._numbers[row] = trial.number
        self._values[row] = trial.value
        self._internal[row] = self._internal_values(trial)
        self._size += 1
        self._rows[trial._trial_id] = row
        return row


def _continuous_log_pdf(estimator: _ParzenEstimator) -> Callable[[np.ndarray], np.ndarray] | None:
    """The log density of a one-parameter continuous Parzen estimator, as ``_ParzenEstimator.log_pdf``
    computes it, or None for a discrete or categorical parameter (left to ``log_pdf``).

    The same formula (a mixture of truncated normals, on the log scale for log distributions), with each
    component's constant part (weight, scale, truncated mass) folded into one number first: Optuna's
    ``log_pdf`` spends most of a univariate suggestion on broadcasting those over the candidates, and on
    a pure-Python error function that it uses for arrays under 2,000 elements. The values agree to the
    last bits of a double; the candidate that wins is the same.
    """
    mixture = estimator._mixture_distribution
    (distribution,) = mixture.distributions
    if not isinstance(distribution, _BatchedTruncNormDistributions | _BatchedTruncLogNormDistributions):
        return None
    mu, sigma = distribution.mu, distribution.sigma
    low, high = distribution.adapted_low, distribution.adapted_high
    log_mass = _truncnorm._log_gauss_mass((low - mu) / sigma, (high - mu) / sigma)
    constant = np.log(mixture.weights) - np.log(sigma) - log_mass - _truncnorm._norm_pdf_logC
    is_log = distribution.is_log

    def log_pdf(x: np.ndarray) -> np.ndarray:
        t = np.log(x) if is_log else np.asarray(x, dtype=float)
        z = (t[:, np.newaxis] - mu) / sigma
        z *= z
        z *= -0.5
        z += constant
        z[(t < low) | (t > high)] = -np.inf  # outside the support: density 0
        top = z.max(axis=1)
        top[np.isneginf(top)] = 0.0  # avoid (-inf) - (-inf)
        z -= top[:, np.newaxis]
        np.exp(z, out=z)
        with np.errstate(divide="ignore"):
            return np.log(z.sum(axis=1)) + top

    return log_pdf


class TpeSuggester(OptunaSuggester):
    """hyperopt-style TPE: one Parzen estimator pair per parameter."""

    sampler: HyperoptTpeSampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> HyperoptTpeSampler:
        return HyperoptTpeSampler(
            self._distributions,
            gamma=partial(hyperopt_gamma, float(self.settings["gamma"])),  # type: ignore[arg-type]
            prior_weight=float(self.settings["prior_weight"]),  # type: ignore[arg-type]
            n_ei_candidates=int(self.settings["n_EI_candidates"]),  # type: ignore[call-overload]
            consider_magic_clip=True,
            consider_endpoints=False,
            n_startup_trials=0,
            constant_liar=True,
            seed=seed,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (self.sampler._rng.rng, self.sampler._random_sampler._rng.rng)

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        # Katib's hyperopt service: n_startup_jobs = current_request_number.
        self.sampler._n_startup_trials = n
        return super().suggest(n, trials)
