"""Katib's ``cmaes`` algorithm: Goptuna's CMA-ES behind Katib, here Optuna's CmaEsSampler around the
``cmaes`` library's ``CMA``.

What Goptuna does and this module keeps: CMA-ES samples every int/double parameter jointly from the
first trial on (no startup trials); categorical and discrete ones go to an independent random sampler
(so validation asks for at least two int/double parameters); the mean starts at the middle of the space
and the step size at a sixth of the narrowest range; a generation is told to CMA-ES once as many of its
own trials have completed as the population holds; ``restart_strategy`` ``ipop`` restarts a stalled run
with twice the population, ``bipop`` alternates such large-population runs with small ones (factor 2,
as Katib's Goptuna options); ``random_state`` seeds it.

Where it differs from Optuna 5's own CmaEsSampler, which this class subclasses: Optuna 5 ignores
``restart_strategy`` (deprecated since 4.4, "moved to OptunaHub"), deprecates ``sigma0`` and keeps its
first trials random until one completes; this sampler restores the restart strategies (the code Optuna
4.3 had), takes ``sigma`` itself and starts CMA-ES at once. CMA-ES works on a space scaled to [0, 1] per
parameter (log scale for logUniform, the truncated normal's probability for normal/logNormal), so
``sigma``, which Goptuna reads in the parameters' own units, is divided by the narrowest parameter's
range: Goptuna's default becomes 1/6 either way.

Restart: ``state()`` holds the CMA optimizer itself (mean, covariance, evolution paths: O(d^2) numbers,
encoded as JSON, never pickled), the restart bookkeeping and the assignments of the current generation's
trials, so that a rebuilt suggester tells CMA-ES the same generation and continues exactly.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from typing import Any

import cmaes
import numpy as np
from optuna import Study
from optuna._transform import _SearchSpaceTransform
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import CmaEsSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from pykatib.spec.models import Distribution
from pykatib.suggest._optuna import OptunaSuggester
from pykatib.suggest.base import AssignmentKey

# The trial system attribute naming the (restart, generation) a trial was sampled in.
GENERATION_ATTR = "pykatib:cmaes:generation"
# Katib's Goptuna options: cmaes.SamplerOptionIPop(2) / SamplerOptionBIPop(2).
POPULATION_FACTOR = 2


def _encode(value: Any) -> Any:
    """A CMA attribute as JSON: numbers as they are, arrays as exact bytes (NaN and inf survive too)."""
    if isinstance(value, np.ndarray):
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode()
        return {"ndarray": data, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float | np.floating):
        number = float(value)
        return number if math.isfinite(number) else {"float": repr(number)}
    if isinstance(value, np.integer):
        return int(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "ndarray" in value:
            array = np.frombuffer(base64.b64decode(value["ndarray"]), dtype=np.dtype(value["dtype"]))
            return array.reshape(value["shape"]).copy()
        return float(value["float"])
    return value


def encode_optimizer(optimizer: cmaes.CMA) -> dict[str, Any] | None:
    """The optimizer's attributes as JSON, or None if the library grew one that cannot be encoded."""
    encoded: dict[str, Any] = {}
    for name, value in vars(optimizer).items():
        if isinstance(value, np.random.RandomState):
            continue  # re-seeded before every ask
        try:
            encoded[name] = _encode(value)
        except TypeError:
            return None
    return encoded


def decode_optimizer(encoded: Mapping[str, Any]) -> cmaes.CMA:
    optimizer = cmaes.CMA.__new__(cmaes.CMA)
    for name, value in encoded.items():
        setattr(optimizer, name, _decode(value))
    optimizer._rng = np.random.RandomState()
    return optimizer


class _KatibCmaEsSampler(CmaEsSampler):
    """CMA-ES over a fixed numeric search space, with Goptuna's restarts, keeping its optimizer in memory."""

    def __init__(
        self,
        search_space: dict[str, BaseDistribution],
        sigma0: float | None,
        restart_strategy: str | None,
        seed: int,
        state: Mapping[str, Any],
    ) -> None:
        super().__init__(n_startup_trials=0, seed=seed, warn_independent_sampling=False)
        # Katib's Go validator counts int/double parameters; a one-point lattice cannot move (Optuna skips it too).
        self._fixed_space = {
            name: d
            for name, d in search_space.items()
            if isinstance(d, FloatDistribution | IntDistribution) and not d.single()
        }
        self._katib_sigma0 = sigma0
        self._restart_strategy = restart_strategy
        saved = state.get("optimizer")
        self.optimizer: cmaes.CMA | None = decode_optimizer(saved) if saved else None
        restarts = state.get("restarts", {})
        self.n_restarts = int(restarts.get("n_restarts", 0))
        self.poptype = str(restarts.get("poptype", "small"))
        self.small_n_eval = int(restarts.get("small_n_eval", 0))
        self.large_n_eval = int(restarts.get("large_n_eval", 0))
        self.n_restarts_with_large = int(restarts.get("n_restarts_with_large", 0))
        # Numbers of the Optuna trials sampled in the current generation.
        self.members: list[int] = []

    @property
    def tag(self) -> str:
        generation = self.optimizer.generation if self.optimizer is not None else 0
        return f"{self.n_restarts}:{generation}"

    def restart_state(self) -> dict[str, Any]:
        return {
            "n_restarts": self.n_restarts,
            "poptype": self.poptype,
            "small_n_eval": self.small_n_eval,
            "large_n_eval": self.large_n_eval,
            "n_restarts_with_large": self.n_restarts_with_large,
        }

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._fixed_space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        trans = _SearchSpaceTransform(search_space, transform_step=True, transform_0_1=True)
        if self.optimizer is None:
            self.optimizer = self._new_optimizer(trans, population_size=None, randomize=False)
        optimizer = self.optimizer
        tag = self.tag
        generation = [
            t
            for t in study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
            if t.system_attrs.get(GENERATION_ATTR) == tag
        ]
        if len(generation) >= optimizer.population_size:
            sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
            solutions = [
                (trans.transform(t.params), sign * float(t.value))  # type: ignore[arg-type]
                for t in generation[: optimizer.population_size]
            ]
            optimizer.tell(solutions)
            if self._restart_strategy is not None and optimizer.should_stop():
                self._restart(trans, optimizer)
            self.members = []
        optimizer = self.optimizer
        optimizer._rng.seed(self._cma_rng.rng.randint(1, 2**31 - 2))
        params = optimizer.ask()
        study._storage.set_trial_system_attr(trial._trial_id, GENERATION_ATTR, self.tag)
        self.members.append(trial.number)
        return trans.untransform(params)

    def _restart(self, trans: _SearchSpaceTransform, stalled: cmaes.CMA) -> None:
        """IPOP / BIPOP (Auger and Hansen 2005; Hansen 2009), as Optuna 4.3 ran them."""
        self.n_restarts += 1
        popsize = stalled.population_size
        if self._restart_strategy == "ipop":
            popsize *= POPULATION_FACTOR
        else:
            n_eval = popsize * stalled.generation
            if self.poptype == "small":
                self.small_n_eval += n_eval
            else:
                self.large_n_eval += n_eval
            initial = 4 + math.floor(3 * math.log(len(trans.bounds)))
            if self.small_n_eval < self.large_n_eval:
                self.poptype = "small"
                multiplier = POPULATION_FACTOR**self.n_restarts_with_large
                popsize = math.floor(initial * multiplier ** (self._cma_rng.rng.uniform() ** 2))
            else:
                self.poptype = "large"
                self.n_restarts_with_large += 1
                popsize = initial * POPULATION_FACTOR**self.n_restarts_with_large
        self.optimizer = self._new_optimizer(trans, population_size=popsize, randomize=True)

    def _new_optimizer(
        self, trans: _SearchSpaceTransform, *, population_size: int | None, randomize: bool
    ) -> cmaes.CMA:
        lower, upper = trans.bounds[:, 0], trans.bounds[:, 1]
        if randomize:
            mean = lower + (upper - lower) * self._cma_rng.rng.rand(len(trans.bounds))
        else:
            mean = lower + (upper - lower) / 2
        sigma0 = self._katib_sigma0 if self._katib_sigma0 is not None else float(np.min(upper - lower) / 6)
        return cmaes.CMA(
            mean=mean,
            sigma=max(sigma0, 1e-10),
            bounds=trans.bounds,
            seed=self._cma_rng.rng.randint(1, 2**31 - 2),
            n_max_resampling=10 * len(trans.bounds),
            population_size=population_size,
        )


def _narrowest_range(parameters: Sequence[Any]) -> float | None:
    """The smallest range among numeric parameters, in Goptuna's units (log scale for the log ones)."""
    ranges = []
    for p in parameters:
        if not p.is_numeric:
            continue
        if p.distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL):
            ranges.append(math.log(p.max) - math.log(p.min))
        else:
            ranges.append(p.max - p.min)
    return min(ranges) if ranges else None


class CmaesSuggester(OptunaSuggester):
    """CMA-ES with Goptuna's settings and restart strategies."""

    sampler: _KatibCmaEsSampler

    def create_sampler(self, seed: int, state: Mapping[str, Any]) -> _KatibCmaEsSampler:
        sigma = self.settings.get("sigma")
        sigma0: float | None = None
        if sigma is not None:
            narrowest = _narrowest_range(self.space.parameters)
            sigma0 = float(sigma) / narrowest if narrowest else float(sigma)  # type: ignore[arg-type]
        strategy = self.settings.get("restart_strategy") or "none"
        saved = state.get("cma", {})
        # Assignments sampled in the generation the saved optimizer is at; re-added trials get its tag.
        self._restored_members = {tuple(key) for key in saved.get("members", [])}
        self._restored_tag = saved.get("tag")
        return _KatibCmaEsSampler(
            self._distributions,
            sigma0,
            None if strategy == "none" else str(strategy),
            seed,
            saved,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (self.sampler._cma_rng.rng, self.sampler._independent_sampler._rng.rng)  # type: ignore[attr-defined]

    def system_attrs(self, number: int, key: AssignmentKey) -> dict[str, Any]:
        if self._restored_tag is not None and key in self._restored_members and self._restored_tag == self.sampler.tag:
            self.sampler.members.append(number)
            return {GENERATION_ATTR: self._restored_tag}
        return {}

    def extra_state(self) -> dict[str, Any]:
        optimizer = self.sampler.optimizer
        members = [list(self.keys_by_number[n]) for n in self.sampler.members if n in self.keys_by_number]
        return {
            "cma": {
                "optimizer": encode_optimizer(optimizer) if optimizer is not None else None,
                "restarts": self.sampler.restart_state(),
                "tag": self.sampler.tag,
                "members": members,
            }
        }
