"""Katib's ``sobol`` algorithm: Goptuna's Sobol sampler behind Katib, here Optuna's QMCSampler.

Goptuna's sampler (``goptuna/sobol``) walks the plain Sobol sequence (Joe and Kuo's direction numbers, no
scrambling, so no seed) from its second point on: the first point it draws is (0.5, 0.5, ...), never the
all-zero corner, and the parameters take the dimensions in the order of their sorted names. The same
walk here is ``QMCSampler(qmc_type="sobol", scramble=False)`` with two changes to match Goptuna:

* the whole search space is sampled from the very first trial (Optuna's QMCSampler leaves the first
  trial to a random sampler while it learns the search space; Katib declares it up front);
* the sequence starts at index 1, and one scipy engine is kept and advanced instead of a fresh engine
  fast-forwarded at every ask; a point becomes parameter values as QMCSampler makes it (the unit cube
  scaled to the space, a categorical parameter's coordinate times its number of choices, rounded down).

Sobol is not adaptive: results are handed to the study like any other algorithm's but change nothing.
A proposal that repeats an assignment already held (a small discrete space) is skipped for the next
point of the sequence. Katib's sobol takes no settings.

``state()`` holds the sequence index of the next point, so a rebuilt suggester continues exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution
from optuna.exceptions import ExperimentalWarning
from optuna.samplers import QMCSampler, RandomSampler
from optuna.trial import FrozenTrial
from scipy.stats import qmc

from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest._optuna_internals import UnitSpaceTransform, random_sampler_rng


class _GoptunaSobolSampler(QMCSampler):
    """QMCSampler over a search space fixed up front, walking one unscrambled Sobol engine from ``next_id``."""

    def __init__(self, search_space: dict[str, BaseDistribution], next_id: int) -> None:
        # The sampler QMCSampler(seed=0) builds for parameters outside the relative space (there are none).
        self.random_sampler = RandomSampler(seed=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # QMCSampler is "experimental" since 3.0
            super().__init__(
                qmc_type="sobol",
                scramble=False,
                seed=0,
                independent_sampler=self.random_sampler,
                warn_independent_sampling=False,
            )
        self._fixed_space = dict(sorted(search_space.items()))
        self.next_id = next_id
        self._engine: qmc.Sobol | None = None

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._fixed_space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        # QMCSampler's mapping: a categorical parameter takes one coordinate of [0, choices), rounded down.
        categorical = {n: d for n, d in search_space.items() if isinstance(d, CategoricalDistribution)}
        pseudo = {n: FloatDistribution(0, len(d.choices)) for n, d in categorical.items()}
        values = UnitSpaceTransform(search_space | pseudo).untransform(self._next_point(len(search_space)))
        return {
            name: categorical[name].to_external_repr(int(value)) if name in categorical else value
            for name, value in values.items()
        }

    def _next_point(self, dimensions: int) -> np.ndarray:
        if self._engine is None:
            self._engine = qmc.Sobol(dimensions, scramble=False)
            if self.next_id:
                self._engine.fast_forward(self.next_id)
        self.next_id += 1
        return self._engine.random(1)[0]


class SobolSuggester(OptunaSuggester):
    """The Sobol sequence from its second point, as Goptuna draws it."""

    sampler: _GoptunaSobolSampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> _GoptunaSobolSampler:
        return _GoptunaSobolSampler(self._distributions, int(state.get("sample_id", 1)))

    def random_states(self) -> Sequence[np.random.RandomState]:
        # Never drawn from while the whole space is relative; re-seeded all the same.
        return (random_sampler_rng(self.sampler.random_sampler),)

    def extra_state(self) -> dict[str, Any]:
        return {"sample_id": self.sampler.next_id}
