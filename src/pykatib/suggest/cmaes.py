"""Katib's ``cmaes`` algorithm: Goptuna's CMA-ES behind Katib, here Optuna's CmaEsSampler around the
``cmaes`` library's ``CMA``.

Goptuna's semantics: CMA-ES samples every int/double parameter jointly from the first trial on (no
startup trials); categorical and discrete ones go to an independent random sampler (so validation asks
for at least two int/double parameters); the mean starts at the middle of the space and the step size at
a sixth of the narrowest range; ``restart_strategy`` ``ipop`` restarts a stalled run with twice the
population, ``bipop`` alternates such large-population runs with small ones (factor 2, Katib's Goptuna
options); ``random_state`` seeds it. Optuna 5's CmaEsSampler, subclassed here, ignores
``restart_strategy``, deprecates ``sigma0`` and starts with random trials, so the subclass runs the
restarts itself (as Optuna 4.3 did), takes ``sigma`` itself and starts CMA-ES at once.

CMA-ES works on the space scaled to [0, 1] per parameter (log scale for logUniform, the truncated normal's
probability for normal/logNormal), so ``sigma``, which Goptuna reads in the parameters' own units, is
divided by the narrowest parameter's range: Goptuna's default becomes 1/6 either way.

``state()`` holds the CMA optimizer itself (mean, covariance, evolution paths: JSON, never a pickle), the
restart bookkeeping and the current generation's members, so that a rebuilt suggester tells CMA-ES the
same generation and continues exactly.
"""

from __future__ import annotations

import base64
import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import cmaes
import numpy as np
from optuna import Study
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.samplers import CmaEsSampler, RandomSampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from pykatib.spec.models import Distribution
from pykatib.suggest._cmaes_internals import optimizer_from_state, optimizer_state
from pykatib.suggest._optuna import OptunaSuggester, derive_seed
from pykatib.suggest._optuna_internals import UnitSpaceTransform, cma_es_rng, random_sampler_rng
from pykatib.suggest.base import AssignmentKey, Suggestion, TrialResult

# Katib's Goptuna options: cmaes.SamplerOptionIPop(2) / SamplerOptionBIPop(2).
POPULATION_FACTOR = 2
# derive_seed's stream for a restart decided before an ask (an ask's own streams are 0 and 1).
_RESTART = 1 << 21


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
    for name, value in optimizer_state(optimizer).items():
        try:
            encoded[name] = _encode(value)
        except TypeError:
            return None
    return encoded


def decode_optimizer(encoded: Mapping[str, Any]) -> cmaes.CMA:
    """The optimizer :func:`encode_optimizer` encoded, exactly (its random generator is seeded before each ask)."""
    return optimizer_from_state({name: _decode(value) for name, value in encoded.items()})


# Trial states of a generation member: asked and not failed.
_LIVE = frozenset({TrialState.RUNNING, TrialState.COMPLETE})


class _KatibCmaEsSampler(CmaEsSampler):
    """CMA-ES over a fixed numeric search space, with Goptuna's restarts, keeping its optimizer in memory.

    A generation is a synchronous batch, as CMA-ES defines it: its ``population_size`` members are all drawn
    from the same distribution, and the next generation's first member is drawn only once every member has
    completed and the generation has been told. So at parallelTrialCount > 1 the suggester hands out at most
    the members a generation has room for and then waits (``room`` is 0; the controller pauses until a trial
    ends), and a run asks, tells and samples exactly what the same seed does one trial at a time. (Goptuna
    and Optuna keep drawing from the current distribution while a generation is incomplete; what that cost
    is in docs/benchmarks.md.) The population is at least the parallelism the experiment first asked for
    (``min_population``), so no slot idles for want of members. A member whose trial fails (or that was
    refused as a duplicate) leaves its generation, which makes room for another.
    """

    def __init__(
        self,
        search_space: dict[str, BaseDistribution],
        sigma0: float | None,
        restart_strategy: str | None,
        seed: int,
        state: Mapping[str, Any],
    ) -> None:
        # The sampler of categorical parameters: what CmaEsSampler builds by default, kept to seed it.
        self.random_sampler = RandomSampler(seed=seed)
        super().__init__(
            n_startup_trials=0, seed=seed, independent_sampler=self.random_sampler, warn_independent_sampling=False
        )
        # Katib's Go validator counts int/double parameters; a one-point lattice cannot move (Optuna skips it too).
        self._fixed_space: dict[str, BaseDistribution] = {
            name: d
            for name, d in search_space.items()
            if isinstance(d, FloatDistribution | IntDistribution) and not d.single()
        }
        self._trans = UnitSpaceTransform(self._fixed_space) if self._fixed_space else None
        self._katib_sigma0 = sigma0
        self._restart_strategy = restart_strategy
        saved = state.get("optimizer")
        self.optimizer: cmaes.CMA | None = decode_optimizer(saved) if saved else None
        self.min_population = int(state.get("min_population", 0))
        restarts = state.get("restarts", {})
        self.n_restarts = int(restarts.get("n_restarts", 0))
        self.poptype = str(restarts.get("poptype", "small"))
        self.small_n_eval = int(restarts.get("small_n_eval", 0))
        self.large_n_eval = int(restarts.get("large_n_eval", 0))
        self.n_restarts_with_large = int(restarts.get("n_restarts_with_large", 0))
        # The generation being filled: Optuna trial numbers of its members in ask order.
        self.members: list[int] = []
        # Generation sizes as told, newest last (bounded: for tests and diagnostics).
        self.told_sizes: deque[int] = deque(maxlen=64)

    def restart_state(self) -> dict[str, Any]:
        return {
            "n_restarts": self.n_restarts,
            "poptype": self.poptype,
            "small_n_eval": self.small_n_eval,
            "large_n_eval": self.large_n_eval,
            "n_restarts_with_large": self.n_restarts_with_large,
        }

    def join(self, number: int) -> None:
        """Make trial ``number`` a member of the current generation (a rebuilt suggester restoring it)."""
        self.members.append(number)

    def room(self, study: Study) -> int | None:
        """How many more members the generation being filled takes, once every complete generation has
        been told; None when CMA-ES has nothing to sample (no numeric parameter)."""
        if self._trans is None:
            return None
        if self.optimizer is None:
            return self._population(None)
        live = self._advance(study, self._trans)
        return max(self.optimizer.population_size - len(live), 0)

    def infer_relative_search_space(self, study: Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return self._fixed_space

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        trans = self._trans
        if not search_space or trans is None:
            return {}
        if self.optimizer is None:
            self.optimizer = self._new_optimizer(trans, population_size=None, randomize=False)
        self._advance(study, trans)
        optimizer = self.optimizer
        optimizer.reseed_rng(cma_es_rng(self).randint(1, 2**31 - 2))
        params = optimizer.ask()
        self.join(trial.number)
        return trans.untransform(params)

    def _advance(self, study: Study, trans: UnitSpaceTransform) -> list[FrozenTrial]:
        """Tell every generation whose members have all completed; the live members of the one being filled.

        Only the members are read, from the study's list of trials (references, not copies), which Optuna
        orders by their numbers, consecutive from 0."""
        everything = study.get_trials(deepcopy=False)
        trials = [everything[n] if n < len(everything) and everything[n].number == n else None for n in self.members]
        live = [t for t in trials if t is not None and t.state in _LIVE]
        while self.optimizer is not None:
            optimizer = self.optimizer
            complete = [t for t in live if t.state == TrialState.COMPLETE]
            if len(complete) < optimizer.population_size:
                break
            # More live members than the population only in a generation saved by an older pykatib,
            # which did not wait: the first completed are told, the rest join the next generation.
            told = complete[: optimizer.population_size]
            self._tell(study, trans, optimizer, told)
            numbers = {t.number for t in told}
            live = [t for t in live if t.number not in numbers]
        self.members = [t.number for t in live]
        return live

    def _tell(self, study: Study, trans: UnitSpaceTransform, optimizer: cmaes.CMA, members: list[FrozenTrial]) -> None:
        """Tell one generation, and restart if the run stalled."""
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        solutions = []
        for t in members:
            assert t.value is not None  # a generation is told once all its members completed
            solutions.append((trans.transform(t.params), sign * t.value))
        optimizer.tell(solutions)
        self.told_sizes.append(len(solutions))
        if self._restart_strategy is not None and optimizer.should_stop():
            self._restart(trans, optimizer)

    def _default_population(self) -> int:
        """The cmaes library's (and Goptuna's) default population: 4 + floor(3 ln n)."""
        return 4 + math.floor(3 * math.log(len(self._fixed_space)))

    def _population(self, requested: int | None) -> int:
        """The population a new optimizer gets: ``requested`` (a restart's) or the default, and never fewer
        members than trials the experiment runs at once (a BIPOP small run included)."""
        return max(requested or self._default_population(), self.min_population)

    def _restart(self, trans: UnitSpaceTransform, stalled: cmaes.CMA) -> None:
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
            initial = self._default_population()
            if self.small_n_eval < self.large_n_eval:
                self.poptype = "small"
                multiplier = POPULATION_FACTOR**self.n_restarts_with_large
                popsize = math.floor(initial * multiplier ** (cma_es_rng(self).uniform() ** 2))
            else:
                self.poptype = "large"
                self.n_restarts_with_large += 1
                popsize = initial * POPULATION_FACTOR**self.n_restarts_with_large
        self.optimizer = self._new_optimizer(trans, population_size=popsize, randomize=True)

    def _new_optimizer(self, trans: UnitSpaceTransform, *, population_size: int | None, randomize: bool) -> cmaes.CMA:
        lower, upper = trans.bounds[:, 0], trans.bounds[:, 1]
        rng = cma_es_rng(self)
        mean = lower + (upper - lower) * rng.rand(len(trans.bounds)) if randomize else lower + (upper - lower) / 2
        sigma0 = self._katib_sigma0 if self._katib_sigma0 is not None else float(np.min(upper - lower) / 6)
        return cmaes.CMA(
            mean=mean,
            sigma=max(sigma0, 1e-10),
            bounds=trans.bounds,
            seed=rng.randint(1, 2**31 - 2),
            n_max_resampling=10 * len(trans.bounds),
            population_size=self._population(population_size),
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
            sigma0 = self.number("sigma") / narrowest if narrowest else self.number("sigma")
        strategy = self.settings.get("restart_strategy") or "none"
        saved = state.get("cma", {})
        # The current generation's members: re-added trials join it again. (An older pykatib saved
        # [assignment, injected] pairs.)
        self._restored = {tuple(m[0] if m and isinstance(m[0], list) else m) for m in saved.get("members", [])}
        self._waiting = False
        self._granted = 0  # suggestions the latest call had room for
        return _KatibCmaEsSampler(
            self._distributions,
            sigma0,
            None if strategy == "none" else str(strategy),
            seed,
            saved,
        )

    def random_states(self) -> Sequence[np.random.RandomState]:
        return (cma_es_rng(self.sampler), random_sampler_rng(self.sampler.random_sampler))

    def system_attrs(self, number: int, key: AssignmentKey) -> dict[str, Any]:
        # Called for each trial this suggester did not suggest itself: the hook to restore a member's place
        # in its generation after a restart, and to give a member lost in a crash (Killed, TrialLost) the
        # place of the trial the controller re-runs with the same values, so the generation waits for that
        # result instead of drawing one more member and ignoring it.
        if key in self._restored:
            self._restored.discard(key)
            self.sampler.join(number)
        elif any(self.keys_by_number.get(n) == key for n in self.sampler.members):
            self.sampler.join(number)
        return {}

    def room(self, n: int) -> int:
        sampler = self.sampler
        if sampler.optimizer is None:
            # The first request is for as many trials as the experiment runs at once.
            sampler.min_population = max(sampler.min_population, n)
        # A generation told here (before the call's first ask) may restart CMA-ES (ipop, bipop), which draws
        # its new mean and seed from this generator: seeded from the asks so far, as before an ask, so that a
        # rebuilt suggester restarts the same way.
        cma_es_rng(sampler).seed(derive_seed(self._seed, self._asks, _RESTART))
        room = sampler.room(self.study)
        self._granted = n if room is None else min(room, n)
        self._waiting = room is not None and room < n
        return self._granted

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        suggestions = super().suggest(n, trials)
        if len(suggestions) < self._granted:
            # Fewer than the generation has room for: the finite space is used up, the end and not a pause.
            self._waiting = False
        return suggestions

    def waiting(self) -> bool:
        return self._waiting

    def extra_state(self) -> dict[str, Any]:
        optimizer = self.sampler.optimizer
        sampler = self.sampler
        members = [list(self.keys_by_number[n]) for n in sampler.members if n in self.keys_by_number]
        return {
            "cma": {
                "optimizer": encode_optimizer(optimizer) if optimizer is not None else None,
                "restarts": self.sampler.restart_state(),
                "min_population": sampler.min_population,
                "members": members,
            }
        }
