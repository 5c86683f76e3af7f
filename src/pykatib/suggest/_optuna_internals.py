"""Every use pykatib makes of Optuna's private names, and nothing else.

Optuna has no public way to seed a sampler's generators again between asks, to change TPE's startup count
after construction, to build and evaluate TPE's Parzen estimators, or to map a search space onto the unit
cube; pykatib needs each of these (exact reproducibility and restarts, Katib's startup rule, the one-pass
univariate TPE, CMA-ES and Sobol over a fixed space). Each function below names the private name it uses
and why no public one serves, so that no other module touches one. ``tests/suggest/test_library_internals.py``
fails with the Optuna version and the name when one of them moves or changes shape; the ``optuna<6`` pin
in pyproject.toml keeps them within one major version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from optuna._transform import _SearchSpaceTransform
from optuna.distributions import BaseDistribution
from optuna.samplers import CmaEsSampler, RandomSampler, TPESampler
from optuna.samplers._tpe import _truncnorm
from optuna.samplers._tpe.parzen_estimator import _ParzenEstimator
from optuna.samplers._tpe.probability_distributions import (
    _BatchedTruncLogNormDistributions,
    _BatchedTruncNormDistributions,
)

# TPE's Parzen estimator, for type annotations outside this module.
ParzenEstimator = _ParzenEstimator

# --- random generators ------------------------------------------------------------------------------------
# pykatib seeds every generator a sampler draws from before each ask, from (seed, asks so far), so that a
# rebuilt suggester asks with the same random numbers. Optuna's only public call, reseed_rng(), draws a
# fresh seed from the OS.


def random_sampler_rng(sampler: RandomSampler) -> np.random.RandomState:
    """``RandomSampler._rng.rng``: the generator its draws come from."""
    return sampler._rng.rng


def tpe_rng(sampler: TPESampler) -> np.random.RandomState:
    """``TPESampler._rng.rng``: the generator TPE's candidates are drawn from."""
    return sampler._rng.rng


def tpe_random_sampler(sampler: TPESampler) -> RandomSampler:
    """``TPESampler._random_sampler``: the sampler of its startup draws (built inside TPESampler; it cannot
    be passed in, unlike CmaEsSampler's and QMCSampler's ``independent_sampler``)."""
    return sampler._random_sampler


def cma_es_rng(sampler: CmaEsSampler) -> np.random.RandomState:
    """``CmaEsSampler._cma_rng.rng``: the generator a new CMA optimizer takes its seed (and, in pykatib's
    restarts, its mean and population) from."""
    return sampler._cma_rng.rng


# --- TPE's startup --------------------------------------------------------------------------------------


def set_tpe_startup_trials(sampler: TPESampler, n: int) -> None:
    """Set ``TPESampler._n_startup_trials``: Katib's tpe starts with as many random draws as the request
    it answers (hyperopt's ``n_startup_jobs``), which changes from call to call; Optuna takes the number
    only at construction."""
    sampler._n_startup_trials = n


@contextmanager
def tpe_startup_check_off(sampler: TPESampler) -> Iterator[None]:
    """``TPESampler._n_startup_trials`` set to 0 for the duration: ``sample_relative`` then models whatever it
    is given, for a subclass that counts startup trials its own way (multivariate-tpe counts suggested
    trials, Optuna finished ones). ``sample_independent`` keeps Optuna's count outside this block."""
    saved = sampler._n_startup_trials
    sampler._n_startup_trials = 0
    try:
        yield
    finally:
        sampler._n_startup_trials = saved


# --- TPE's Parzen estimators (the one-pass univariate TPE of tpe.py) --------------------------------------
# Optuna offers TPE only as a whole sampler, which reads and converts the trial list once per parameter;
# tpe.py does that once per suggestion and then needs TPE's own parts, with TPE's settings, to sample
# exactly what TPESampler samples.


def parzen_estimator(
    sampler: TPESampler, observations: dict[str, np.ndarray], search_space: dict[str, BaseDistribution]
) -> ParzenEstimator:
    """The estimator ``TPESampler`` builds over ``observations``: its ``_parzen_estimator_cls`` with its
    ``_parzen_estimator_parameters`` (prior weight, magic clip, end points, weights), which no public call
    exposes."""
    return sampler._parzen_estimator_cls(observations, search_space, sampler._parzen_estimator_parameters)


def parzen_sample(estimator: ParzenEstimator, rng: np.random.RandomState, size: int) -> dict[str, np.ndarray]:
    """``_ParzenEstimator.sample``: ``size`` candidates drawn from the estimator."""
    return estimator.sample(rng, size)


def tpe_acquisition(
    sampler: TPESampler, samples: dict[str, np.ndarray], below: ParzenEstimator, above: ParzenEstimator
) -> np.ndarray:
    """``TPESampler._compute_acquisition_func``: the score TPE ranks candidates by (log l(x) - log g(x))."""
    return sampler._compute_acquisition_func(samples, below, above)


def continuous_log_pdf(estimator: ParzenEstimator) -> Callable[[np.ndarray], np.ndarray] | None:
    """The log density of a one-parameter continuous Parzen estimator, as ``_ParzenEstimator.log_pdf``
    computes it, or None for a discrete or categorical parameter (left to ``log_pdf``).

    The same mixture of truncated normals (on the log scale for log distributions), read from the private
    ``_mixture_distribution``, ``_BatchedTruncNormDistributions`` / ``_BatchedTruncLogNormDistributions``
    and ``_truncnorm``, with each component's constant part (weight, scale, truncated mass) folded into one
    number first; ``log_pdf`` broadcasts those over every candidate and uses a pure-Python error function
    for small arrays. The values agree to the last bits of a double, so the winning candidate is the same.
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


# --- the unit cube ------------------------------------------------------------------------------------------


class UnitSpaceTransform:
    """A fixed search space as a box of reals, as Optuna's CmaEsSampler and QMCSampler see it: the private
    ``optuna._transform._SearchSpaceTransform`` with log scales, half a step beyond each end of a lattice,
    and every dimension scaled to [0, 1] (``transform_step=True, transform_0_1=True``). Optuna has no public
    transform; writing one would give values that differ in the last bits from the ones Optuna's samplers
    have always given, and so other suggestions."""

    def __init__(self, search_space: dict[str, BaseDistribution]) -> None:
        self._transform = _SearchSpaceTransform(search_space, transform_step=True, transform_0_1=True)

    @property
    def bounds(self) -> np.ndarray:
        """The box, one ``[low, high]`` row per dimension."""
        return self._transform.bounds

    def transform(self, params: dict[str, Any]) -> np.ndarray:
        """A trial's values as a point of the box."""
        return self._transform.transform(params)

    def untransform(self, point: np.ndarray) -> dict[str, Any]:
        """A point of the box as parameter values (clipped into the space, on its lattice)."""
        return self._transform.untransform(point)
