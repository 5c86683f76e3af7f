"""Katib's ``bayesianoptimization`` algorithm: scikit-optimize's ``Optimizer``, as Katib's skopt service runs it.

Settings pass straight through: ``base_estimator`` (GP, RF, ET, GBRT), ``n_initial_points``, ``acq_func``,
``acq_optimizer``, ``random_state``. Dimensions (``pkg/suggestion/v1beta1/skopt/base_service.py`` builds
``Real``/``Integer`` with prior "uniform" or "log-uniform" and ``Categorical`` for lists; see ``_codec``):

* double, uniform, no step -> ``Real(min, max)``; logUniform -> ``Real(min, max, "log-uniform")`` (with a
  step or for an int: snapped to the nearest lattice point);
* int, or double with step, uniform -> ``Integer`` over the lattice's indices (Katib ignores the step;
  here every suggestion lies on it);
* categorical and discrete -> ``Categorical(list)``;
* normal/logNormal (Katib refuses them at its first suggestion) -> ``Real(0, 1)`` over the truncated
  normal's probability.

As in Katib, only trials with an objective value (Succeeded, EarlyStopped) are told, negated when
maximizing, since skopt minimizes. One trial at a time, skopt's own ask runs with ``acq_func`` and
``acq_optimizer`` as set. Unlike Katib, which asks skopt for a batch knowing nothing of trials still
running, a suggestion made while points are out there (running trials, the batch's members already
chosen) comes from a model also told the surrogate's own mean at each of them (the "kriging believer",
Ginsbourger et al., 2010), so that a batch neither piles onto one point nor is pushed out of the basin the
surrogate is sure of:

* with a GP (the default), the minimum of one function drawn from that model's posterior (Thompson
  sampling, Kandasamy et al., 2018) over uniform candidates and steps around the best points, moved to the
  highest expected improvement in a small box around it (L-BFGS, as skopt maximises its acquisition
  functions) to be as precise as one trial at a time; the draw and its polish do not follow ``acq_func``,
  ``acq_optimizer`` or ``acq_func_kwargs``;
* with RF, ET or GBRT (no posterior to draw from), what that model's acquisition function picks.

docs/benchmarks.md compares these with skopt's own ``ask(n_points)``. skopt cannot suggest before its
first result when ``n_initial_points`` is 0 (Katib crashes there); random points fill in.

``GBRT`` works around two breakages of scikit-optimize 0.10.2 (its last release): its quantile regressor
predates scikit-learn 1.6's estimator tags (skopt then refuses it as "not a regressor") and calls
``np.in1d``, removed in numpy 2.4.

Restart: ``state()`` holds the seed, the number of asks, the number of results told, and gp_hedge's gains
and candidate points from just before the latest tell (a few floats per acquisition function). A rebuilt
suggester re-does that tell with all results up to it, from the same inputs and random numbers, then
tells the newer ones. It continues exactly when results were told in the order the trials were created
(always so with one trial at a time); otherwise the surrogate is fitted to the same points in another
order, which changes its numbers in the last digits and so, possibly, the next suggestion.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.optimize import fmin_l_bfgs_b
from sklearn.base import clone
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from skopt import Optimizer
from skopt.acquisition import gaussian_acquisition_1D
from skopt.learning import GaussianProcessRegressor, GradientBoostingQuantileRegressor
from skopt.space import Categorical, Dimension, Integer, Real, Space
from skopt.utils import has_gradients

from pykatib.spec.conditions import FINAL_PHASES, RANKED_PHASES
from pykatib.spec.models import ObjectiveType
from pykatib.suggest._codec import Codec, Fallback, Internal, Kind, SpaceCodec
from pykatib.suggest._optuna import derive_seed, experiment_seed
from pykatib.suggest.base import (
    AssignmentKey,
    SeenAssignments,
    Suggester,
    Suggestion,
    TrialFeed,
    TrialResult,
    assignment_key,
)

# Streams derived from the experiment's seed, one per use, so that none depends on how often another ran.
_ESTIMATOR, _ASK, _TELL, _FALLBACK, _THOMPSON = 1, 2, 3, 4, 5
# Thompson sampling's candidates: uniform over the space, and Gaussian steps (in the GP's [0, 1] coordinates)
# of three sizes around the best points found, where a drawn minimum most often lies once the surrogate has
# found a basin; the smallest steps let parallel trials refine the optimum as finely as skopt's L-BFGS does.
_UNIFORM_CANDIDATES = 1000
_LOCAL_CENTRES, _LOCAL_CANDIDATES, _LOCAL_STEPS = 5, 70, (0.05, 0.01, 0.002)
_POLISH_BOX = 0.05


class _QuantileRegressor(GradientBoostingQuantileRegressor):
    """skopt's GBRT surrogate, working with scikit-learn >= 1.6 and numpy >= 2.4."""

    def __sklearn_tags__(self) -> Any:
        # BaseEstimator precedes RegressorMixin in skopt's class, so the mixin's tag never gets set.
        tags = super().__sklearn_tags__()
        tags.estimator_type = "regressor"
        return tags

    def predict(self, X: Any, return_std: bool = False, return_quantiles: bool = False) -> Any:
        if return_std and not return_quantiles:
            # skopt's own version checks the quantiles with np.in1d, gone since numpy 2.4.
            if not all(q in self.quantiles for q in (0.16, 0.5, 0.84)):
                raise ValueError("return_std needs the quantiles 0.16, 0.5 and 0.84")
            low, mean, high = (self.regressors_[self.quantiles.index(q)].predict(X) for q in (0.16, 0.5, 0.84))
            return mean, (high - low) / 2.0
        return super().predict(X, return_std=False, return_quantiles=return_quantiles)


def skopt_dimension(codec: Codec, name: str) -> Dimension:
    if codec.kind is Kind.CATEGORICAL:
        return Categorical(list(codec.choices), name=name)
    if codec.kind is Kind.INT:
        return Integer(int(codec.low), int(codec.high), name=name)
    return Real(codec.low, codec.high, prior="log-uniform" if codec.log else "uniform", name=name)


def _to_skopt(values: Sequence[Internal]) -> list[Any]:
    return list(values)


def _from_skopt(point: Sequence[Any]) -> list[Internal]:
    # skopt hands back numpy scalars (np.int64, np.str_); the codec wants plain ones.
    plain: list[Internal] = []
    for value in point:
        if isinstance(value, str | np.str_):
            plain.append(str(value))
        elif isinstance(value, int | np.integer):
            plain.append(int(value))
        else:
            plain.append(float(value))
    return plain


def _random_points_left(optimizer: Optimizer) -> int:
    """How many more results skopt waits for before its model takes over (its initial random points): the
    ``n_initial_points`` it was built with less the results told, each told once."""
    return int(optimizer.n_initial_points_) - len(optimizer.yi)


def _believed(optimizer: Optimizer, point: list[Any]) -> float:
    """The surrogate's prediction at ``point`` (its mean; GBRT's median quantile): the value a kriging
    believer tells for a point still out there."""
    if not optimizer.models:
        return float(np.min(optimizer.yi))  # no surrogate yet (random initial points): skopt's cl_min
    return _predicted(optimizer.models[-1], optimizer.space, [point])[0]


def _predicted(model: Any, space: Space, points: list[list[Any]]) -> list[float]:
    """The surrogate's predictions at ``points`` (given in the space's own values)."""
    return [float(y) for y in model.predict(space.transform(points))]


class ThompsonBeliever:
    """The batch model for a GP with points still out there: a GP told the real results and, for each point
    out there, the surrogate's mean at it (kriging believer). A suggestion is the minimum of one function
    drawn from its posterior over a candidate set (Thompson sampling), moved to the highest expected
    improvement within a small box around it.

    The believed points have next to no posterior variance, so a drawn function rarely has its minimum on
    top of one; but where the surrogate is sure of a basin, draws keep landing in it and the parallel trials
    refine it together, as one trial at a time would, rather than being pushed out of it by the believer's
    acquisition function; where it is unsure, draws spread over the basins it cannot yet tell apart."""

    def __init__(self, optimizer: Optimizer, lies: list[list[Any]], rng: np.random.RandomState) -> None:
        self._space = optimizer.space  # normalised to [0, 1] for a GP, by skopt
        self._estimator = optimizer.base_estimator_
        self._rng = rng
        self._x = list(optimizer.Xi)
        self._y = [float(y) for y in optimizer.yi]
        self._y_opt = min(self._y)
        # A GP over categories only (skopt's Hamming kernel) has no gradient to climb: the draw stands.
        self._polishable = has_gradients(self._estimator)
        best = np.argsort(optimizer.yi, kind="stable")[:_LOCAL_CENTRES]
        self._centres = np.asarray(self._space.transform([optimizer.Xi[i] for i in best]))
        self.model = optimizer.models[-1]
        if lies:
            self._x += lies
            self._y += _predicted(self.model, self._space, lies)
            self.model = self._fit()

    @property
    def told(self) -> list[float]:
        return list(self._y)

    def believe(self, point: list[Any]) -> None:
        """Tell the batch model that ``point`` is now out there too."""
        self._y += _predicted(self.model, self._space, [point])
        self._x.append(point)
        self.model = self._fit()

    def sample(self, is_new: Callable[[list[Any]], bool]) -> list[Any] | None:
        """A point for which ``is_new`` holds (None: no candidate is new; rounding in a discrete space often
        lands steps on points already tried, the best ones above all)."""
        space, rng = self._space, self._rng
        dims = space.transformed_n_dims
        uniform = np.asarray(space.transform(space.rvs(_UNIFORM_CANDIDATES, random_state=rng)))
        steps = rng.normal(0.0, 1.0, size=(len(_LOCAL_STEPS), len(self._centres), _LOCAL_CANDIDATES, dims))
        steps *= np.asarray(_LOCAL_STEPS)[:, None, None, None]
        local = np.clip((self._centres[None, :, None, :] + steps).reshape(-1, dims), 0.0, 1.0)
        # Back and forth through the space: integers rounded, one-hot categories made whole again.
        local = np.asarray(space.transform(space.inverse_transform(local)))
        candidates = np.vstack([uniform, local])
        # Repeated candidates (a discrete space, steps clipped to a corner) stay: the draw's jitter copes.
        candidates = candidates[[is_new(point) for point in space.inverse_transform(candidates)]]
        if not len(candidates):
            return None
        mean, cov = self.model.predict(candidates, return_cov=True)
        drawn = _draw(np.asarray(mean, dtype=float).ravel(), np.asarray(cov, dtype=float), rng)
        chosen = candidates[int(np.argmin(drawn))]
        if self._polishable:
            polished = self._polish(chosen)
            if polished is not None and is_new(polished):
                return polished
        return list(space.inverse_transform(chosen.reshape(1, -1))[0])

    def _polish(self, x: np.ndarray) -> list[Any] | None:
        """The draw says where; expected improvement, maximised by L-BFGS as skopt does in a small box around
        the drawn point, says exactly where (a drawn minimum is only as fine as the candidates). None when
        L-BFGS found no more improvement than at the drawn point (the caller also checks that the point,
        rounded into the space, is new: in a discrete space it may round onto one already tried)."""
        bounds = [
            (max(low, v - _POLISH_BOX), min(high, v + _POLISH_BOX))
            for v, (low, high) in zip(x, self._space.transformed_bounds, strict=True)
        ]
        best, value, _ = fmin_l_bfgs_b(
            gaussian_acquisition_1D,
            x,
            args=(self.model, self._y_opt, "EI", None),
            bounds=bounds,
            approx_grad=False,
            maxiter=20,
        )
        start = float(np.ravel(gaussian_acquisition_1D(x, self.model, self._y_opt, "EI", None)[0])[0])
        if float(np.ravel(value)[0]) > start:
            return None
        return list(self._space.inverse_transform(np.asarray(best).reshape(1, -1))[0])

    def _fit(self) -> Any:
        model = clone(self._estimator)  # what skopt's tell fits, with the same random_state
        model.fit(self._space.transform(self._x), self._y)
        return model


def _draw(mean: np.ndarray, cov: np.ndarray, rng: np.random.RandomState) -> np.ndarray:
    """One draw of N(mean, cov); cov is a GP's posterior over close candidates, so often only just positive
    definite: jitter is added until a Cholesky factor exists, else the draw ignores the correlations."""
    noise = rng.standard_normal(len(mean))  # drawn first: the same numbers used whichever branch runs
    scale = float(np.mean(np.diag(cov))) or 1.0
    for jitter in (1e-10, 1e-8, 1e-6, 1e-4):
        try:
            return mean + np.linalg.cholesky(cov + jitter * scale * np.eye(len(mean))) @ noise
        except np.linalg.LinAlgError:
            continue
    return mean + np.sqrt(np.clip(np.diag(cov), 0.0, None)) * noise


class BayesianOptimizationSuggester(Suggester):
    """scikit-optimize's Optimizer, fed only new results."""

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, objective, settings = self.space, self.objective, self.settings
        self._codecs = SpaceCodec.of(space)
        self._seed = experiment_seed(settings, state)
        self._asks = int(state.get("asks", 0))
        # skopt minimizes.
        self._sign = -1.0 if objective is ObjectiveType.MAXIMIZE else 1.0
        base_estimator: Any = settings.get("base_estimator", "GP")
        if base_estimator == "GBRT":
            # What skopt's cook_estimator("GBRT") builds, as the class that works.
            base_estimator = _QuantileRegressor(
                base_estimator=GradientBoostingRegressor(n_estimators=30, loss="quantile"),
                random_state=derive_seed(self._seed, _ESTIMATOR),
                n_jobs=1,
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.optimizer = Optimizer(
                [skopt_dimension(c, name) for c, name in zip(self._codecs.codecs, self._codecs.names, strict=True)],
                base_estimator=base_estimator,
                n_initial_points=self.integer("n_initial_points", 10),
                acq_func=str(settings.get("acq_func", "gp_hedge")),
                acq_optimizer=str(settings.get("acq_optimizer", "auto")),
                random_state=self._seed,
                # skopt keeps every fitted surrogate unless told otherwise (a GP holds an N x N matrix: memory
                # quadratic in trials, summed over all of them); only the latest one is ever used.
                model_queue_size=1,
            )
        # gp_hedge's bookkeeping from just before the latest tell, restored before a rebuilt suggester's first.
        self._before_tell: dict[str, Any] = {
            "gains": state.get("gains"),
            "next_xs": state.get("next_xs"),
        }
        self._restore_pending = bool(state)
        self._restored_told = int(state.get("told", 0))
        self._told = 0  # results told so far
        self._seen = SeenAssignments(space)
        self._fallback = Fallback(space, self._codecs)
        # Suggested, not yet a trial -> internal point; active trials, noted with their internal point.
        self._pending: dict[AssignmentKey, list[Internal]] = {}
        self._feed: TrialFeed[list[Internal] | None] = TrialFeed()

    def state(self) -> dict[str, Any]:
        told = self._restored_told if self._restore_pending else self._told
        return {"seed": self._seed, "asks": self._asks, "told": told, **self._before_tell}

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._seen.update(trials)
        with warnings.catch_warnings():
            # "The objective has been evaluated at point ... before, using random point": handled below too.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._tell(self._sync(trials))
            keys = self._ask(n)
        return [Suggestion(self._codecs.assignment(key)) for key in keys]

    # --- results -----------------------------------------------------------------------------------------

    def _sync(self, trials: Sequence[TrialResult]) -> list[tuple[list[Internal], float]]:
        """The results that arrived since the last call, in trial order."""
        ended, fresh = self._feed.read(trials)
        results: list[tuple[int, list[Internal], float]] = []
        for i, point in ended:
            self._collect(results, i, trials[i], point)
        for i in fresh:
            trial = trials[i]
            point = self._pending.pop(assignment_key(self.space, trial.assignment), None)
            if point is None:
                point = self._codecs.encode(trial.assignment)
            if trial.phase in FINAL_PHASES:
                self._collect(results, i, trial, point)
            else:
                self._feed.watch(trial, i, point)
        results.sort(key=lambda result: result[0])
        return [(point, y) for _, point, y in results]

    def _collect(
        self, results: list[tuple[int, list[Internal], float]], index: int, trial: TrialResult, point: Any
    ) -> None:
        value = trial.objective
        if point is None or trial.phase not in RANKED_PHASES or value is None or not math.isfinite(value):
            return  # nothing skopt can learn from (Katib hands it succeeded trials with a value only)
        results.append((index, point, self._sign * value))

    def _tell(self, results: list[tuple[list[Internal], float]]) -> None:
        if self._restore_pending and results:
            # A rebuilt suggester first re-does the uninterrupted one's latest tell, from the same inputs
            # and with the same random numbers, then tells what arrived since like any other call.
            self._restore_pending = False
            told = min(int(self._restored_told), len(results))
            if self._before_tell["gains"] is not None:
                self.optimizer.gains_ = np.asarray(self._before_tell["gains"], dtype=float)
            if self._before_tell["next_xs"] is not None:
                self.optimizer.next_xs_ = [np.asarray(x, dtype=float) for x in self._before_tell["next_xs"]]
            if told:
                self._told_at(results[:told], told)
            results = results[told:]
        if results:
            optimizer = self.optimizer
            self._before_tell = {
                "gains": [float(g) for g in optimizer.gains_] if hasattr(optimizer, "gains_") else None,
                "next_xs": (
                    [[float(v) for v in x] for x in optimizer.next_xs_] if hasattr(optimizer, "next_xs_") else None
                ),
            }
            self._told_at(results, self._told + len(results))

    def _told_at(self, results: list[tuple[list[Internal], float]], told: int) -> None:
        self._told = told
        self.optimizer.rng.seed(derive_seed(self._seed, _TELL, told))
        self.optimizer.tell([_to_skopt(point) for point, _ in results], [y for _, y in results])

    # --- suggestions -------------------------------------------------------------------------------------

    def _ask(self, n: int) -> list[AssignmentKey]:
        optimizer = self.optimizer
        optimizer.rng.seed(derive_seed(self._seed, _ASK, self._asks))
        fallback_rng = np.random.default_rng(derive_seed(self._seed, _FALLBACK, self._asks))
        thompson_rng = np.random.RandomState(derive_seed(self._seed, _THOMPSON, self._asks))
        self._asks += 1
        # Points whose results are not in yet: suggestions not created so far, and trials still running.
        out = list(self._pending.values()) + [x for _, x in self._feed.watched.values() if x is not None]
        lies = [_to_skopt(x) for x in out]
        liar: Optimizer | None = None
        believer: ThompsonBeliever | None = None
        if optimizer.yi and _random_points_left(optimizer) <= 0 and (n > 1 or lies):
            if isinstance(optimizer.base_estimator_, GaussianProcessRegressor):
                believer = ThompsonBeliever(optimizer, lies, thompson_rng)
            else:
                liar = self._liar(lies)
        keys: list[AssignmentKey] = []
        for i in range(n):
            key = self._draw_new(believer) if believer else self._propose(liar)
            if key is None or key in self._seen:
                key = self._fallback.pick(self._seen, fallback_rng)
                if key is None:
                    break  # the finite space is used up
            point = self._codecs.encode(self._codecs.assignment(key))
            assert point is not None
            self._seen.add(key)
            self._pending[key] = point
            keys.append(key)
            if i < n - 1:
                if believer is not None:
                    believer.believe(_to_skopt(point))
                elif liar is not None:
                    liar.tell(_to_skopt(point), _believed(liar, _to_skopt(point)))
        return keys

    def _draw_new(self, believer: ThompsonBeliever) -> AssignmentKey | None:
        point = believer.sample(lambda p: self._codecs.decode(_from_skopt(p)) not in self._seen)
        return None if point is None else self._codecs.decode(_from_skopt(point))

    def _liar(self, lies: list[list[Any]]) -> Optimizer:
        """For the surrogates without a posterior to sample (RF, ET, GBRT): ``optimizer.copy()`` told the real
        results and the believed values of the points out there in one fit (copy, then tell, fits twice); its
        acquisition function then picks the point. Both draw their initial points at random (skopt's default
        generator), and the liar is told at least as many results as it has initial points: it never draws one."""
        optimizer = self.optimizer
        liar = Optimizer(
            dimensions=optimizer.space.dimensions,
            base_estimator=optimizer.base_estimator_,
            n_initial_points=optimizer.n_initial_points_,
            acq_func=optimizer.acq_func,
            acq_optimizer=optimizer.acq_optimizer,
            acq_func_kwargs=optimizer.acq_func_kwargs,
            acq_optimizer_kwargs=optimizer.acq_optimizer_kwargs,
            random_state=derive_seed(self._seed, _ASK, self._asks, 1),
            model_queue_size=1,
        )
        if hasattr(optimizer, "gains_"):
            liar.gains_ = np.copy(optimizer.gains_)
        liar.tell(list(optimizer.Xi) + lies, list(optimizer.yi) + [_believed(optimizer, x) for x in lies])
        return liar

    def _propose(self, liar: Optimizer | None) -> AssignmentKey | None:
        optimizer = liar or self.optimizer
        if not optimizer.yi and _random_points_left(optimizer) <= 0:
            return None  # n_initial_points 0 and no result yet: skopt has no model to ask
        return self._codecs.decode(_from_skopt(optimizer.ask()))
