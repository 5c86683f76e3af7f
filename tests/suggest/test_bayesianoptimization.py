"""Katib's bayesianoptimization: scikit-optimize's Optimizer, fed incrementally."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.base import is_regressor
from sklearn.ensemble import GradientBoostingRegressor
from skopt.space import Categorical, Integer, Real

from pykatib.suggest._codec import SpaceCodec
from pykatib.suggest.bayesianoptimization import (
    BayesianOptimizationSuggester,
    ThompsonBeliever,
    _draw,
    _QuantileRegressor,
    skopt_dimension,
)
from suggest_support import Controller, assert_in_space, make, param, saved, space_of

CHEAP = {"acq_func": "EI", "acq_optimizer": "sampling"}


def plane() -> list:
    return [param("x", "double", min="-5", max="5"), param("y", "double", min="-5", max="5")]


def test_dimensions_follow_katibs_skopt_service() -> None:
    space = space_of(
        param("x", "double", min="-5", max="5"),
        param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
        param("n", "int", min="3", max="9"),
        param("d", "double", min="0.1", max="0.5", step="0.1"),
        param("g", "double", min="0", max="1", distribution="normal"),
        param("c", "categorical", list=["a", "b"]),
        param("b", "discrete", list=["16", "32"]),
    )
    codecs = SpaceCodec.of(space)
    dims = [skopt_dimension(c, n) for c, n in zip(codecs.codecs, codecs.names, strict=True)]
    assert dims[0] == Real(-5, 5, name="x")
    assert dims[1] == Real(0.001, 0.1, prior="log-uniform", name="lr")
    assert dims[2] == Integer(0, 6, name="n")  # lattice indices: 3..9
    assert dims[3] == Integer(0, 4, name="d")
    assert dims[4] == Real(0, 1, name="g")  # the truncated normal's probability
    assert dims[5] == Categorical(["a", "b"], name="c")
    assert dims[6] == Categorical(["16", "32"], name="b")


@pytest.mark.parametrize("estimator", ["GP", "RF", "ET", "GBRT"])
def test_every_base_estimator_suggests_from_its_model(estimator: str) -> None:
    settings = {**CHEAP, "base_estimator": estimator, "n_initial_points": "3", "random_state": "1"}
    suggester = make("bayesianoptimization", space_of(*plane()), **settings)
    assert isinstance(suggester, BayesianOptimizationSuggester)
    controller = Controller(suggester, parallel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assignments = controller.run(5)
    assert len(assignments) == 6
    # Past the initial points a surrogate was fitted; only the latest is kept (skopt would keep them all).
    assert len(suggester.optimizer.models) == 1
    for assignment in assignments:
        assert_in_space(suggester.space, assignment)


def test_gbrt_works_with_current_scikit_learn_and_numpy() -> None:
    # scikit-optimize 0.10.2's own class fails both is_regressor (scikit-learn >= 1.6) and predict (numpy >= 2.4).
    model = _QuantileRegressor(base_estimator=GradientBoostingRegressor(n_estimators=5, loss="quantile"))
    assert is_regressor(model)
    x = np.linspace(0, 1, 20).reshape(-1, 1)
    model.fit(x, x.ravel() ** 2)
    mean, std = model.predict(x, return_std=True)
    assert mean.shape == std.shape == (20,)
    assert np.all(std >= 0)


def test_zero_initial_points_starts_with_random_points() -> None:
    # skopt raises "Random evaluations exhausted and no model has been fit" here; Katib then crashes.
    settings = {**CHEAP, "n_initial_points": "0", "random_state": "1"}
    suggester = make("bayesianoptimization", space_of(*plane()), **settings)
    controller = Controller(suggester, parallel=2)
    assert len(controller.run(3)) == 4
    assert suggester.optimizer.models


def test_rebuilt_continues_exactly_across_calls_without_new_results() -> None:
    settings = {"n_initial_points": "2", "random_state": "4"}  # skopt's defaults otherwise: gp_hedge

    def rebuilt_suggests(controller: Controller) -> list[dict[str, str]]:
        rebuilt = make("bayesianoptimization", space_of(*plane()), state=saved(controller.suggester), **settings)
        return [s.assignment for s in rebuilt.suggest(controller.parallel - len(controller.running), controller.trials)]

    controller = Controller(make("bayesianoptimization", space_of(*plane()), **settings), parallel=2)
    controller.run(4)
    controller.parallel = 3  # a budget edit: one more slot and no new result
    expected = rebuilt_suggests(controller)  # the uninterrupted one tells nothing; the rebuilt re-does its last tell
    assert controller.ask() == expected
    controller.finish()  # a new result after a call that had none
    expected = rebuilt_suggests(controller)
    assert controller.ask() == expected


def test_rebuilt_keeps_gp_hedges_gains() -> None:
    # gp_hedge picks its acquisition function by gains summed over every fit so far: a rebuilt suggester
    # that started them from zero parts ways with the uninterrupted one within a few calls (here from the 7th).
    settings = {"n_initial_points": "2", "random_state": "2"}
    controller = Controller(make("bayesianoptimization", space_of(*plane()), **settings))
    for call in range(10):
        controller.finish()
        if call < 4:
            controller.ask()
            continue
        rebuilt = make("bayesianoptimization", space_of(*plane()), state=saved(controller.suggester), **settings)
        expected = [s.assignment for s in rebuilt.suggest(1, list(controller.trials))]
        assert controller.ask() == expected, f"call {call}"


def running_points(estimator: str, parallel: int = 3, calls: int = 6) -> tuple[BayesianOptimizationSuggester, list]:
    settings = {**CHEAP, "base_estimator": estimator, "n_initial_points": "4", "random_state": "3"}
    suggester = make("bayesianoptimization", space_of(*plane()), **settings)
    assert isinstance(suggester, BayesianOptimizationSuggester)
    controller = Controller(suggester, parallel=parallel)
    controller.run(calls)
    running = [suggester._codecs.encode(controller.trials[i].assignment) for i in controller.running]
    assert len(running) == parallel
    return suggester, running


def test_points_still_out_there_are_told_with_the_surrogates_mean() -> None:
    # A kriging believer: the batch's model is told, for each running trial, what the surrogate expects
    # there, not a constant (skopt's cl_min lies with the best value so far). RF: skopt's own Optimizer.
    suggester, running = running_points("RF")
    optimizer = suggester.optimizer
    liar = suggester._liar(running)
    expected = optimizer.models[-1].predict(optimizer.space.transform(running))
    assert liar.Xi[-3:] == running
    assert np.allclose(liar.yi[-3:], expected)
    assert not np.allclose(liar.yi[-3:], min(optimizer.yi))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # suggest() silences them too
def test_a_gp_believer_is_told_the_means_and_each_batch_member_in_turn() -> None:
    suggester, running = running_points("GP")
    optimizer = suggester.optimizer
    believer = ThompsonBeliever(optimizer, running, np.random.RandomState(0))
    assert believer.told[:-3] == list(optimizer.yi)
    assert np.allclose(believer.told[-3:], optimizer.models[-1].predict(optimizer.space.transform(running)))
    # The drawn point lies in the space; once it is out there too, the batch model believes it in turn.
    point = believer.sample(lambda _: True)
    assert point is not None
    suggester._codecs.decode(point)
    expected = float(believer.model.predict(optimizer.space.transform([point]))[0])
    believer.believe(point)
    assert np.isclose(believer.told[-1], expected)
    assert len(believer.told) == len(optimizer.yi) + 4


def test_parallel_gp_trials_refine_the_basin_the_surrogate_is_sure_of() -> None:
    # Thompson draws keep landing where the surrogate is sure the minimum is, so parallel trials refine it
    # together: the last suggestions all lie close to the quadratic's minimum at (1, -2).
    settings = {"n_initial_points": "6", "random_state": "5"}
    suggester = make("bayesianoptimization", space_of(*plane()), **settings)
    controller = Controller(suggester, parallel=4)
    assignments = controller.run(20)
    assert len(set(map(str, assignments))) == len(assignments) == 23
    late = [(float(a["x"]), float(a["y"])) for a in assignments[-8:]]
    assert all(math.dist(p, (1.0, -2.0)) < 0.5 for p in late), late
    assert controller.best() < 0.01


def test_a_draw_survives_a_singular_covariance() -> None:
    # Two identical candidates make the posterior covariance singular; jitter or the diagonal still draws.
    cov = np.ones((2, 2))
    drawn = _draw(np.zeros(2), cov, np.random.RandomState(1))
    assert drawn.shape == (2,) and np.all(np.isfinite(drawn))
    assert np.isclose(drawn[0], drawn[1], atol=1e-3)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # suggest() silences them too
def test_in_a_discrete_space_draws_go_to_points_not_tried_yet() -> None:
    # Rounding lands many candidates (the steps around the best points above all) on points already tried;
    # those are left out before the draw, so no suggestion falls back to a random point for that reason.
    space = space_of(param("x", "int", min="-10", max="10"), param("y", "int", min="-10", max="10"))
    settings = {"n_initial_points": "5", "random_state": "2"}
    suggester = make("bayesianoptimization", space, **settings)
    assert isinstance(suggester, BayesianOptimizationSuggester)
    controller = Controller(suggester, parallel=4)
    controller.run(12)
    optimizer = suggester.optimizer
    running = [suggester._codecs.encode(controller.trials[i].assignment) for i in controller.running]
    seen = suggester._seen
    believer = ThompsonBeliever(optimizer, running, np.random.RandomState(0))
    for _ in range(10):
        point = believer.sample(lambda p: suggester._codecs.decode(p) not in seen)
        assert point is not None
        key = suggester._codecs.decode(point)
        assert key not in seen
        seen.add(key)
        believer.believe(point)
    # With every point tried there is nothing to draw.
    assert believer.sample(lambda _: False) is None
