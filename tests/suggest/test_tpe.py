"""Katib's tpe: hyperopt's TPE, run by Optuna's TPESampler with hyperopt's settings."""

from __future__ import annotations

import math
import statistics

from pykatib.suggest.tpe import TpeSuggester, hyperopt_gamma
from suggest_support import Controller, make, param, space_of


def test_gamma_is_hyperopts_square_root_rule() -> None:
    # hyperopt's ap_split_trials: min(ceil(gamma * sqrt(n)), 25) observations are "good".
    assert [hyperopt_gamma(0.25, n) for n in (1, 16, 17, 100, 10_000, 20_000)] == [1, 1, 2, 3, 25, 25]
    assert hyperopt_gamma(0.5, 100) == 5


def test_settings_reach_the_sampler() -> None:
    space = space_of(param("x", "double", min="0", max="1"), param("y", "double", min="0", max="1"))
    suggester = make("tpe", space, gamma="0.5", prior_weight="2.5", n_EI_candidates="7", random_state="4")
    assert isinstance(suggester, TpeSuggester)
    sampler = suggester.sampler
    assert sampler._gamma(100) == 5
    assert sampler._parzen_estimator_parameters.prior_weight == 2.5
    assert sampler._parzen_estimator_parameters.consider_magic_clip is True
    assert sampler._parzen_estimator_parameters.consider_endpoints is False
    assert sampler._n_ei_candidates == 7
    assert sampler._multivariate is False
    assert sampler._constant_liar is False  # hyperopt never hears of running trials
    assert suggester.state()["seed"] == 4


def test_startup_is_the_request_size_as_in_katibs_hyperopt_service() -> None:
    space = space_of(param("x", "double", min="0", max="1"), param("y", "double", min="0", max="1"))
    suggester = make("tpe", space, random_state="1")
    controller = Controller(suggester, lambda a: float(a["x"]), parallel=4)
    controller.run(1)
    assert suggester.sampler._n_startup_trials == 4
    controller.run(1)
    assert suggester.sampler._n_startup_trials == 1  # one slot freed: TPE from then on


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
