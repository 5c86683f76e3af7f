"""Katib's tpe: hyperopt's TPE, run by Optuna's TPESampler with hyperopt's settings."""

from __future__ import annotations

import math
import statistics
import warnings
from functools import partial

import numpy as np
import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import TPESampler

from pykatib.suggest import TrialResult
from pykatib.suggest._optuna_internals import random_sampler_rng, tpe_random_sampler, tpe_rng
from pykatib.suggest.tpe import HyperoptTpeSampler, TpeSuggester, hyperopt_gamma
from suggest_support import Controller, make, param, quadratic, saved, space_of, wide_plane


def test_gamma_is_hyperopts_square_root_rule() -> None:
    # hyperopt's ap_split_trials: min(ceil(gamma * sqrt(n)), 25) observations are "good".
    assert [hyperopt_gamma(0.25, n) for n in (1, 16, 17, 100, 10_000, 20_000)] == [1, 1, 2, 3, 25, 25]
    assert hyperopt_gamma(0.5, 100) == 5


def test_settings_reach_the_sampler() -> None:
    space = space_of(param("x", "double", min="0", max="1"), param("y", "double", min="0", max="1"))
    suggester = make("tpe", space, gamma="0.5", prior_weight="2.5", n_EI_candidates="7", random_state="4")
    assert isinstance(suggester, TpeSuggester)
    sampler = suggester.sampler
    assert sampler.gamma(100) == 5
    # Optuna keeps these privately (test_library_internals checks the names).
    assert sampler._parzen_estimator_parameters.prior_weight == 2.5
    assert sampler._parzen_estimator_parameters.consider_magic_clip is True
    assert sampler._parzen_estimator_parameters.consider_endpoints is False
    assert sampler.n_ei_candidates == 7
    assert sampler._multivariate is False
    assert sampler.constant_liar is True  # running trials count as bad observations (see the module)
    assert suggester.state()["seed"] == 4


def test_startup_is_the_request_size_as_in_katibs_hyperopt_service() -> None:
    space = space_of(param("x", "double", min="0", max="1"), param("y", "double", min="0", max="1"))
    suggester = make("tpe", space, random_state="1")
    controller = Controller(suggester, lambda a: float(a["x"]), parallel=4)
    controller.run(1)
    assert suggester.sampler.startup_trials == 4
    controller.run(1)
    assert suggester.sampler.startup_trials == 1  # one slot freed: TPE from then on


def test_first_batch_draws_from_each_prior() -> None:
    # The first request is all startup (random) draws: their shape is the parameters' distributions.
    space = space_of(
        param("g", "double", min="0", max="6", distribution="normal"),
        param("lr", "double", min="0.0001", max="1", distribution="logUniform"),
        param("ln", "double", min="1", max="10000", distribution="logNormal"),
    )
    batch = [s.assignment for s in make("tpe", space, random_state="2").suggest(1000, [])]
    g = [float(a["g"]) for a in batch]
    assert abs(statistics.mean(g) - 3) < 0.15
    assert 0.62 < sum(2 <= v <= 4 for v in g) / len(g) < 0.74  # one sigma either side holds 68%
    assert all(0 <= v <= 6 for v in g)
    assert -2.3 < math.log10(statistics.median(float(a["lr"]) for a in batch)) < -1.7
    assert 1.85 < math.log10(statistics.median(float(a["ln"]) for a in batch)) < 2.15


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_one_pass_sampler_samples_what_optunas_univariate_tpe_samples(direction: str) -> None:
    # The same history (running trials, ties, every distribution kind) and the same random numbers: the
    # one-pass sampler must propose exactly what TPESampler(multivariate=False) proposes, ask after ask.
    space = {
        "x": FloatDistribution(-1, 2),
        "lr": FloatDistribution(1e-4, 1, log=True),
        "n": IntDistribution(1, 8),
        "c": CategoricalDistribution(["a", "b", "c"]),
        "s": FloatDistribution(0, 1, step=0.1),
    }
    settings = {
        "gamma": partial(hyperopt_gamma, 0.25),
        "prior_weight": 1.0,
        "n_ei_candidates": 24,
        "consider_magic_clip": True,
        "consider_endpoints": False,
        "n_startup_trials": 3,
        "constant_liar": True,
        "seed": 1,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours = optuna.create_study(sampler=HyperoptTpeSampler(space, **settings), direction=direction)
        theirs = optuna.create_study(sampler=TPESampler(multivariate=False, **settings), direction=direction)
    rng = np.random.default_rng(0)
    running: list[tuple[optuna.Trial, optuna.Trial]] = []
    for i in range(150):
        for study in (ours, theirs):
            sampler = study.sampler
            assert isinstance(sampler, TPESampler)
            tpe_rng(sampler).seed(i)
            random_sampler_rng(tpe_random_sampler(sampler)).seed(i + 1000)
        pair = (ours.ask(space), theirs.ask(space))
        assert pair[0].params == pair[1].params, i
        running.append(pair)
        while len(running) > 3 or (running and rng.random() < 0.3):
            a, b = running.pop(int(rng.integers(len(running))))
            # Rounded values make ties, which both must break the same way.
            value = round(float(rng.normal()), 1) if rng.random() < 0.5 else float(a.params["x"])
            ours.tell(a, value)
            theirs.tell(b, value)


def test_running_trials_push_the_next_suggestion_away() -> None:
    # hyperopt alone would propose the same point again whatever runs; with running trials counted as
    # bad observations, four trials running around that point make TPE look elsewhere.
    rng = np.random.default_rng(3)
    history = []
    for i in range(30):
        assignment = {"x": f"{rng.uniform(-20, 20):.4f}", "y": f"{rng.uniform(-20, 20):.4f}"}
        history.append(TrialResult(f"h{i}", assignment, "Succeeded", quadratic(assignment)))
    state = saved(make("tpe", wide_plane(), random_state="3"))

    def next_point(trials: list[TrialResult]) -> tuple[float, float]:
        (suggestion,) = make("tpe", wide_plane(), state=state, random_state="3").suggest(1, trials)
        return float(suggestion.assignment["x"]), float(suggestion.assignment["y"])

    x, y = next_point(history)
    assert next_point(history) == (x, y)
    around = [
        TrialResult(f"r{k}", {"x": f"{x + dx:.4f}", "y": f"{y + dy:.4f}"}, "Running")
        for k, (dx, dy) in enumerate([(0.1, 0), (-0.1, 0), (0, 0.1), (0, -0.1)])
    ]
    moved = next_point(history + around)
    assert math.dist(moved, (x, y)) > 2.0, moved
