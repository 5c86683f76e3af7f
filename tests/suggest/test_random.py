"""The random algorithm (hyperopt's rand behind Katib), and the registry that builds suggesters by name."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pykatib.spec.models import ObjectiveType
from pykatib.spec.space import SearchSpace
from pykatib.suggest import (
    ALGORITHM_NAMES,
    SUGGESTERS,
    Suggester,
    Suggestion,
    TrialResult,
    algorithm_settings,
    create_suggester,
)
from pykatib.suggest.random import RandomSuggester
from suggest_support import param, space_of


def random_suggester(space: SearchSpace, seed: int | None = 7, state: dict[str, Any] | None = None) -> Suggester:
    return create_suggester("random", space, ObjectiveType.MINIMIZE, {"random_state": seed}, state)


def as_trials(suggestions: list[Suggestion], start: int = 0) -> list[TrialResult]:
    return [TrialResult(f"t-{start + i}", s.assignment, "Succeeded", 1.0) for i, s in enumerate(suggestions)]


def run(suggester: Suggester, calls: list[int], trials: list[TrialResult] | None = None) -> list[dict[str, str]]:
    """Call suggest once per batch size, feeding every suggestion back as a trial, as the controller does."""
    history = list(trials or [])
    out: list[dict[str, str]] = []
    for n in calls:
        batch = suggester.suggest(n, history)
        history.extend(as_trials(batch, len(history)))
        out.extend(s.assignment for s in batch)
    return out


def values_of(suggester: Suggester, name: str, count: int) -> list[str]:
    return [a[name] for a in run(suggester, [count])]


def on_lattice(value: float, low: float, step: float) -> bool:
    steps = (value - low) / step
    return math.isclose(steps, round(steps), abs_tol=1e-9)


# --- each type and distribution --------------------------------------------------------------------


@pytest.mark.parametrize("distribution", ["uniform", "logUniform", "normal", "logNormal"])
def test_double_stays_in_bounds(distribution: str) -> None:
    space = space_of(param("x", "double", min="0.5", max="2.5", distribution=distribution))
    values = [float(v) for v in values_of(random_suggester(space), "x", 500)]
    assert all(0.5 <= v <= 2.5 for v in values)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("distribution", ["uniform", "logUniform", "normal", "logNormal"])
def test_double_with_step_stays_on_lattice(distribution: str) -> None:
    space = space_of(param("x", "double", min="0.1", max="1.0", step="0.15", distribution=distribution))
    values = {float(v) for v in values_of(random_suggester(space), "x", 100)}
    # 0.1 .. 1.0 by 0.15 has 7 points; suggestions are distinct, so 7 suggestions cover it exactly.
    assert values == {0.1, 0.25, 0.4, 0.55, 0.7, 0.85, 1.0}


@pytest.mark.parametrize("distribution", ["uniform", "logUniform", "normal", "logNormal"])
def test_int_in_bounds_on_step_and_formatted_as_int(distribution: str) -> None:
    space = space_of(param("n", "int", min="2", max="200", step="3", distribution=distribution))
    texts = values_of(random_suggester(space), "n", 60)
    assert all(t.isdigit() for t in texts), texts  # "5", never "5.0"
    assert all(2 <= int(t) <= 200 and (int(t) - 2) % 3 == 0 for t in texts)
    assert len(set(texts)) == len(texts)


def test_int_without_step_reaches_both_bounds() -> None:
    space = space_of(param("n", "int", min="1", max="3"), param("c", "categorical", list=["a", "b", "c", "d"]))
    texts = [a["n"] for a in run(random_suggester(space), [12])]
    assert sorted(set(texts)) == ["1", "2", "3"]


def test_categorical_and_discrete_choose_from_the_list() -> None:
    space = space_of(
        param("opt", "categorical", list=["sgd", "adam", "rmsprop"]),
        param("bs", "discrete", list=["16", "32", "64", "128"]),
    )
    assignments = run(random_suggester(space), [12])
    assert {a["opt"] for a in assignments} == {"sgd", "adam", "rmsprop"}
    assert {a["bs"] for a in assignments} == {"16", "32", "64", "128"}


def test_log_uniform_median_near_geometric_mean() -> None:
    space = space_of(param("lr", "double", min="0.0001", max="1", distribution="logUniform"))
    values = [float(v) for v in values_of(random_suggester(space, seed=3), "lr", 2000)]
    # Geometric mean of the bounds is 0.01; a uniform draw would put the median near 0.5.
    assert -2.25 < math.log10(statistics.median(values)) < -1.75
    assert sum(v < 0.001 for v in values) > 400  # one decade in four holds about a quarter of the mass


def test_normal_concentrates_near_the_middle() -> None:
    space = space_of(param("x", "double", min="0", max="6", distribution="normal"))
    values = [float(v) for v in values_of(random_suggester(space, seed=5), "x", 2000)]
    assert abs(statistics.mean(values) - 3) < 0.15
    # sigma = (max - min) / 6 = 1: about 68% within one sigma, where a uniform draw gives 33%.
    assert 0.6 < sum(2 <= v <= 4 for v in values) / len(values) < 0.76


def test_log_normal_concentrates_near_the_geometric_middle() -> None:
    space = space_of(param("x", "double", min="1", max="10000", distribution="logNormal"))
    values = [float(v) for v in values_of(random_suggester(space, seed=9), "x", 2000)]
    assert 1.85 < math.log10(statistics.median(values)) < 2.15
    # sigma is a sixth of the log range (4 decades): one sigma either side of 10^2 holds about 68%.
    low, high = 10 ** (2 - 4 / 6), 10 ** (2 + 4 / 6)
    assert 0.6 < sum(low <= v <= high for v in values) / len(values) < 0.76


# --- reproducibility --------------------------------------------------------------------------------


def mixed_space() -> SearchSpace:
    return space_of(
        param("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
        param("layers", "int", min="1", max="8"),
        param("dropout", "double", min="0", max="0.5", step="0.1", distribution="normal"),
        param("opt", "categorical", list=["sgd", "adam"]),
    )


def test_same_seed_same_suggestions_whatever_the_batching() -> None:
    first = run(random_suggester(mixed_space(), seed=11), [10])
    assert run(random_suggester(mixed_space(), seed=11), [3, 1, 6]) == first
    assert run(random_suggester(mixed_space(), seed=12), [10]) != first


def test_no_seed_draws_fresh_entropy() -> None:
    assert run(random_suggester(mixed_space(), seed=None), [5]) != run(random_suggester(mixed_space(), seed=None), [5])


def test_rebuilt_from_state_continues_the_same_stream() -> None:
    uninterrupted = random_suggester(mixed_space(), seed=None)
    history: list[TrialResult] = []
    for _ in range(4):
        history.extend(as_trials(uninterrupted.suggest(5, history), len(history)))
    saved = json.loads(json.dumps(uninterrupted.state()))  # what the store gives back
    expected = uninterrupted.suggest(8, history)

    # A restarted controller: a new suggester from the saved state, and the whole history once more.
    rebuilt = random_suggester(mixed_space(), seed=None, state=saved)
    assert rebuilt.suggest(8, history) == expected


# --- distinctness and exhaustion --------------------------------------------------------------------


def test_batch_is_distinct_in_a_small_space() -> None:
    space = space_of(param("n", "int", min="1", max="4"), param("c", "categorical", list=["a", "b", "c"]))
    batch = random_suggester(space).suggest(12, [])
    assert len({tuple(s.assignment.items()) for s in batch}) == 12


def test_finite_space_of_six_returns_six_then_nothing() -> None:
    space = space_of(param("n", "int", min="1", max="3"), param("c", "categorical", list=["a", "b"]))
    suggester = random_suggester(space)
    batch = suggester.suggest(10, [])
    assert sorted((s.assignment["n"], s.assignment["c"]) for s in batch) == [
        (n, c) for n in ("1", "2", "3") for c in ("a", "b")
    ]
    assert suggester.suggest(1, as_trials(batch)) == []


def test_finite_space_exhausts_across_calls() -> None:
    space = space_of(param("n", "int", min="1", max="3"), param("c", "categorical", list=["a", "b"]))
    suggester = random_suggester(space)
    history = as_trials(suggester.suggest(4, []))
    assert len(history) == 4
    rest = suggester.suggest(4, history)
    assert len(rest) == 2
    assert suggester.suggest(4, history + as_trials(rest, 4)) == []


def test_trials_already_held_are_not_repeated() -> None:
    space = space_of(param("n", "int", min="1", max="5"), param("c", "categorical", list=["a", "b"]))
    # Held by trials in every phase, written as a user might ("3.0"): the controller passes them all.
    held = [
        TrialResult("a", {"n": "1", "c": "a"}, "Running"),
        TrialResult("b", {"n": "2.0", "c": "b"}, "Failed"),
        TrialResult("c", {"n": "3", "c": "a"}, "MetricsUnavailable"),
        TrialResult("d", {"n": "5", "c": "b"}, "Created"),
    ]
    suggested = {(s.assignment["n"], s.assignment["c"]) for s in random_suggester(space).suggest(10, held)}
    assert len(suggested) == 6
    assert suggested.isdisjoint({("1", "a"), ("2", "b"), ("3", "a"), ("5", "b")})


def test_nearly_used_large_space_still_finds_its_last_points() -> None:
    # 2,000 points of which 1,998 are held: random re-draws almost never hit the last two.
    space = space_of(param("n", "int", min="0", max="1999"))
    held = [TrialResult(f"t{i}", {"n": str(i)}, "Succeeded") for i in range(2000) if i not in (17, 1500)]
    suggester = random_suggester(space)
    assert sorted(s.assignment["n"] for s in suggester.suggest(5, held)) == ["1500", "17"]


def test_state_is_json() -> None:
    suggester = random_suggester(mixed_space())
    suggester.suggest(3, [])
    assert json.loads(json.dumps(suggester.state())) == suggester.state()


# --- registry ---------------------------------------------------------------------------------------


def test_registry_builds_random_and_grid() -> None:
    space = space_of(param("n", "int", min="1", max="3"))
    for name in ("random", "grid"):
        suggester = create_suggester(name, space, ObjectiveType.MAXIMIZE, algorithm_settings(name, []))
        assert isinstance(suggester, SUGGESTERS[name])
    assert SUGGESTERS["random"] is RandomSuggester


def test_every_katib_algorithm_has_a_suggester() -> None:
    # Every name Katib knows runs: create_suggester's "not available yet" (a name without an implementation)
    # is left for an algorithm still to come.
    assert set(ALGORITHM_NAMES) == set(SUGGESTERS)
    assert len(ALGORITHM_NAMES) == 11 and "tpe" in ALGORITHM_NAMES
    for name in ALGORITHM_NAMES:
        assert issubclass(SUGGESTERS[name], Suggester), name


def test_an_algorithm_whose_library_is_missing_is_not_available(tmp_path: Path) -> None:
    # An optuna that cannot be imported (first on the path), as in a broken installation: tpe is refused
    # naming what to reinstall, in a real process (the library is imported once per process).
    blocker = tmp_path / "site" / "optuna"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'optuna'\", name='optuna')\n")
    code = (
        "from pykatib.spec.models import ObjectiveType\n"
        "from pykatib.suggest import AlgorithmNotAvailableError, algorithm_settings, create_suggester\n"
        "from suggest_support import param, space_of\n"
        "space = space_of(param('n', 'int', min='1', max='3'))\n"
        "try:\n"
        "    create_suggester('tpe', space, ObjectiveType.MAXIMIZE, algorithm_settings('tpe', []))\n"
        "except AlgorithmNotAvailableError as error:\n"
        "    print(error)\n"
    )
    tests = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(tests)])}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == (
        "algorithm tpe is not available: it needs optuna, not installed "
        "(reinstall pykatib with its dependencies: pip install pykatib)"
    )


def test_unknown_algorithm_is_a_value_error() -> None:
    space = space_of(param("n", "int", min="1", max="3"))
    with pytest.raises(ValueError, match='unknown algorithm "simulated-annealing"'):
        create_suggester("simulated-annealing", space, ObjectiveType.MAXIMIZE, {})
