"""Time per suggestion through pykatib's suggesters against the same library sampler driven directly.

    .venv/bin/python bench/suggest_latency.py [--sizes 100,1000,5000] [--asks 10]

For each algorithm and each history size N (4 parameters, N completed trials given up front), time ASKS
rounds of "suggest one, report its result" once through pykatib's Suggester (which reads the trial list
incrementally) and once through the library object the suggester wraps, built the same way and fed the
same history, in memory. Target: pykatib / library <= 1.2 at every size, i.e. no hidden full-history replay.
Also: pykatib's tpe against Optuna's own default TPESampler at 1,000 trials (target: not slower), and
against Optuna's stock univariate TPESampler with the same settings, which samples exactly what pykatib's
one-pass sampler samples (the "library" of the tpe rows is that one-pass sampler, as the suggester builds it).
bayesianoptimization stops at 1,000 trials: a Gaussian process refit is cubic in N on both sides.
"""

from __future__ import annotations

import argparse
import random
import time
import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from pykatib.spec.models import ObjectiveType, ParameterSpec
from pykatib.spec.settings import algorithm_settings
from pykatib.spec.space import SearchSpace, parse_search_space
from pykatib.suggest.base import TrialResult
from pykatib.suggest.registry import create_suggester
from pykatib.suggest.tpe import hyperopt_gamma

optuna.logging.set_verbosity(optuna.logging.ERROR)
warnings.filterwarnings("ignore")
ALGORITHMS = ("random", "tpe", "multivariate-tpe", "cmaes", "sobol", "bayesianoptimization")
GP_LIMIT = 1000


def space() -> SearchSpace:
    specs = [
        ParameterSpec.model_validate({"name": f"x{i}", "parameterType": "double",
                                      "feasibleSpace": {"min": "0", "max": "1"}})
        for i in range(4)
    ]  # fmt: skip
    parsed, errors = parse_search_space(specs)
    assert not errors
    return parsed


def objective(assignment: dict[str, str]) -> float:
    return sum((float(v) - 0.3) ** 2 for v in assignment.values())


def history(n: int, seed: int = 0) -> list[TrialResult]:
    rng = random.Random(seed)
    trials = []
    for i in range(n):
        assignment = {f"x{j}": repr(rng.random()) for j in range(4)}
        trials.append(TrialResult(f"t{i}", assignment, "Succeeded", objective(assignment)))
    return trials


def time_pykatib(name: str, n: int, asks: int) -> tuple[float, Any]:
    suggester = create_suggester(name, space(), ObjectiveType.MINIMIZE, algorithm_settings(name, []))
    trials = history(n)
    (first,) = suggester.suggest(1, trials)  # reads the history once, as after a restart; not timed
    trials.append(TrialResult(f"t{n}", first.assignment, "Succeeded", objective(first.assignment)))
    elapsed = 0.0
    for i in range(asks):
        start = time.perf_counter()
        (suggestion,) = suggester.suggest(1, trials)
        elapsed += time.perf_counter() - start
        trials.append(TrialResult(f"s{i}", suggestion.assignment, "Succeeded", objective(suggestion.assignment)))
    return elapsed / asks, suggester


def time_optuna(make_sampler: Callable[[], optuna.samplers.BaseSampler], n: int, asks: int) -> float:
    distributions = {f"x{j}": optuna.distributions.FloatDistribution(0, 1) for j in range(4)}
    study = optuna.create_study(sampler=make_sampler())
    study.add_trials([
        create_trial(params={k: float(v) for k, v in t.assignment.items()}, distributions=distributions,
                     value=t.objective, state=TrialState.COMPLETE)
        for t in history(n)
    ])  # fmt: skip
    elapsed = 0.0
    for _ in range(asks):
        start = time.perf_counter()
        trial = study.ask(distributions)
        study.tell(trial, sum((v - 0.3) ** 2 for v in trial.params.values()))
        elapsed += time.perf_counter() - start
    return elapsed / asks


def time_skopt(suggester: Any, n: int, asks: int) -> float:
    from skopt import Optimizer

    template = suggester.optimizer
    optimizer = Optimizer(template.space.dimensions, base_estimator=template.base_estimator_,
                          n_initial_points=10, acq_func=template.acq_func, acq_optimizer=template.acq_optimizer,
                          random_state=1)  # fmt: skip
    trials = history(n)
    optimizer.tell([[float(t.assignment[f"x{j}"]) for j in range(4)] for t in trials], [t.objective for t in trials])
    elapsed = 0.0
    for _ in range(asks):
        start = time.perf_counter()
        point = optimizer.ask()
        optimizer.tell(point, sum((v - 0.3) ** 2 for v in point))
        elapsed += time.perf_counter() - start
    return elapsed / asks


def time_random_library(n: int, asks: int) -> float:
    """pykatib's random draws with numpy itself; the baseline is a numpy Generator drawing 4 uniforms."""
    import numpy as np

    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(asks):
        rng.uniform(0, 1, size=4).tolist()
    return (time.perf_counter() - start) / asks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,5000")
    parser.add_argument("--asks", type=int, default=10)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'algorithm':22} {'trials':>7} {'pykatib ms':>11} {'library ms':>11} {'ratio':>7}")
    for name in args.algorithms.split(","):
        for n in sizes:
            if name == "bayesianoptimization" and n > GP_LIMIT:
                print(f"{name:22} {n:>7} {'-':>11} {'-':>11} {'-':>7}  (GP refit is cubic in N on both sides)")
                continue
            asks = max(2, args.asks // (5 if name == "bayesianoptimization" else 1))
            ours, suggester = time_pykatib(name, n, asks)
            if name == "random":
                theirs = time_random_library(n, asks)
            elif name == "bayesianoptimization":
                theirs = time_skopt(suggester, n, asks)
            else:
                theirs = time_optuna(lambda s=suggester: s.create_sampler(1, {}), n, asks)
            note = "  (sub-millisecond: the ratio measures Python call overhead)" if theirs < 1e-3 else ""
            print(f"{name:22} {n:>7} {ours * 1e3:>11.2f} {theirs * 1e3:>11.2f} {ours / theirs:>7.2f}{note}")
    n = 1000
    ours, _ = time_pykatib("tpe", n, args.asks)
    theirs = time_optuna(lambda: optuna.samplers.TPESampler(seed=1), n, args.asks)
    stock = time_optuna(stock_univariate_tpe, n, args.asks)
    verdict = "ok" if ours <= theirs else "slower"
    print(f"\ntpe at {n} trials: pykatib {ours * 1e3:.2f} ms vs Optuna's default TPESampler {theirs * 1e3:.2f} ms "
          f"per suggestion: ratio {ours / theirs:.2f} ({verdict}; target <= 1)")  # fmt: skip
    print(f"  Optuna's stock univariate TPESampler, same settings and samples: {stock * 1e3:.2f} ms")


def stock_univariate_tpe() -> optuna.samplers.BaseSampler:
    """What pykatib's tpe sampler replaces: TPESampler(multivariate=False) set up as pykatib's tpe."""
    return optuna.samplers.TPESampler(
        gamma=partial(hyperopt_gamma, 0.25), prior_weight=1.0, n_ei_candidates=24, consider_magic_clip=True,
        consider_endpoints=False, n_startup_trials=0, multivariate=False, constant_liar=True, seed=1,
    )  # fmt: skip


if __name__ == "__main__":
    main()
