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

One step beyond Katib: trials still running count as "bad" observations (Optuna's constant liar). Katib
hands hyperopt only finished trials and asks for each suggestion of a batch with the same seed and
history, so its batches pile onto one point; here a suggestion is pushed away from the points being
evaluated. One trial at a time nothing runs when a suggestion is made, so nothing changes there.

:class:`HyperoptTpeSampler` exists for speed: Optuna's univariate TPE reads, splits and converts the trial
list once per parameter; it does so once per suggestion, keeps finished trials in arrays, and fits the
same Parzen estimators in the same order with the same random numbers, so it samples exactly what
``TPESampler(multivariate=False)`` samples (tests/suggest/test_tpe.py compares the two).

Optuna 5 deprecates ``gamma`` and ``prior_weight`` (to be removed in Optuna 6): the warnings are silenced
here and pyproject.toml pins ``optuna<6``.

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
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest._optuna_internals import (
    continuous_log_pdf,
    parzen_estimator,
    parzen_sample,
    random_sampler_rng,
    set_tpe_startup_trials,
    tpe_acquisition,
    tpe_random_sampler,
    tpe_rng,
)
from pykatib.suggest.base import Suggestion, TrialResult

# hyperopt's DEFAULT_LF: the "good" group never holds more than this many observations.
LINEAR_FORGETTING = 25


def hyperopt_gamma(gamma: float, n: int) -> int:
    """How many of ``n`` observations hyperopt's TPE models as good (``tpe.ap_split_trials``)."""
    return min(math.ceil(gamma * math.sqrt(n)), LINEAR_FORGETTING)


class HyperoptTpeSampler(TPESampler):
    """Optuna's univariate TPE over a search space fixed up front, every parameter in one pass.

    ``sample_relative`` does, for all parameters at once, what ``sample_independent`` does per
    parameter. Whatever the fast path does not cover (multi-objective studies, pruned trials: neither of
    which pykatib makes) is left to Optuna's own per-parameter path by returning nothing. Constraints
    (``constraints_func``, ``Trial.set_constraint``) are not supported: pykatib sets none.

    The settings the fast path reads are kept here as given (Optuna keeps its copies private).
    """

    def __init__(
        self,
        search_space: Mapping[str, BaseDistribution],
        *,
        gamma: Callable[[int], int],
        n_ei_candidates: int,
        n_startup_trials: int,
        constant_liar: bool,
        **kwargs: Any,
    ) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            super().__init__(
                multivariate=False,
                gamma=gamma,
                n_ei_candidates=n_ei_candidates,
                n_startup_trials=n_startup_trials,
                constant_liar=constant_liar,
                **kwargs,
            )
        self.gamma = gamma
        self.n_ei_candidates = n_ei_candidates
        self.startup_trials = n_startup_trials
        self.constant_liar = constant_liar
        # One-point distributions never reach a sampler (Optuna gives their only value itself).
        self._space = {name: d for name, d in search_space.items() if not d.single()}
        # Finished trials: trial number -> row of the arrays below.
        self._rows: dict[int, int] = {}
        self._size = 0
        self._numbers = np.empty(64, dtype=np.int64)
        self._values = np.empty(64)
        # Internal representation per parameter of the fixed space; NaN where a trial lacks the parameter.
        self._internal = np.empty((64, len(self._space)))

    def set_startup_trials(self, n: int) -> None:
        """Random draws until ``n`` trials have finished, here and on Optuna's own path."""
        self.startup_trials = n
        set_tpe_startup_trials(self, n)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space or search_space is not self._space or len(study.directions) > 1:
            return {}
        states: tuple[TrialState, ...] = (TrialState.COMPLETE, TrialState.PRUNED)
        if self.constant_liar:
            states += (TrialState.RUNNING,)
        rows: list[int] = []
        running: list[FrozenTrial] = []
        for t in study.get_trials(deepcopy=False, states=states):
            if t.state == TrialState.RUNNING:
                if t.number != trial.number:
                    running.append(t)
                continue
            if t.state == TrialState.PRUNED:
                return {}
            row = self._rows.get(t.number)
            if row is None:
                row = self._remember(t)
            rows.append(row)
        if len(rows) < self.startup_trials:
            return {}  # random draws, by sample_independent

        # The good/bad split of Optuna's _split_trials: a stable sort by objective, the first gamma(n)
        # good, the rest bad together with the running trials, each group in trial-number order.
        index = np.asarray(rows, dtype=np.intp)
        values = self._values[index]
        order = np.argsort(values if study.direction == StudyDirection.MINIMIZE else -values, kind="stable")
        n_below = min(self.gamma(len(rows)), len(rows))
        below = self._internal[index[np.sort(order[:n_below])]]
        above_index = index[np.sort(order[n_below:])]
        above = self._internal[above_index]
        if running:
            numbers = np.concatenate([self._numbers[above_index], [t.number for t in running]])
            above = np.vstack([above, [self._internal_values(t) for t in running]])[np.argsort(numbers)]

        params: dict[str, Any] = {}
        rng = tpe_rng(self)
        for j, (name, distribution) in enumerate(self._space.items()):
            one = {name: distribution}
            below_j, above_j = below[:, j], above[:, j]
            mpe_below = parzen_estimator(self, {name: below_j[~np.isnan(below_j)]}, one)
            mpe_above = parzen_estimator(self, {name: above_j[~np.isnan(above_j)]}, one)
            samples = parzen_sample(mpe_below, rng, self.n_ei_candidates)
            below_density, above_density = continuous_log_pdf(mpe_below), continuous_log_pdf(mpe_above)
            if below_density is not None and above_density is not None:
                x = samples[name]
                scores = below_density(x) - above_density(x)
            else:
                scores = tpe_acquisition(self, samples, mpe_below, mpe_above)
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
        row = self._size
        if row == len(self._values):
            self._numbers = np.resize(self._numbers, 2 * row)
            self._values = np.resize(self._values, 2 * row)
            self._internal = np.resize(self._internal, (2 * row, len(self._space)))
        self._numbers[row] = trial.number
        self._values[row] = trial.value
        self._internal[row] = self._internal_values(trial)
        self._size += 1
        self._rows[trial.number] = row
        return row


class TpeSuggester(OptunaSuggester):
    """hyperopt-style TPE: one Parzen estimator pair per parameter."""

    sampler: HyperoptTpeSampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> HyperoptTpeSampler:
        return HyperoptTpeSampler(
            self._distributions,
            gamma=partial(hyperopt_gamma, self.number("gamma")),
            prior_weight=self.number("prior_weight"),
            n_ei_candidates=self.integer("n_EI_candidates"),
            consider_magic_clip=True,
            consider_endpoints=False,
            n_startup_trials=0,
            constant_liar=True,
            seed=seed,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (tpe_rng(self.sampler), random_sampler_rng(tpe_random_sampler(self.sampler)))

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        # Katib's hyperopt service: n_startup_jobs = current_request_number.
        self.sampler.set_startup_trials(n)
        return super().suggest(n, trials)
