"""The grid algorithm (Optuna's GridSampler behind Katib) and the grid of a search space."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

import pytest

from pykatib.spec.models import ObjectiveType, ParameterSpec
from pykatib.spec.space import SearchSpace
from pykatib.suggest import Suggester, Suggestion, TrialResult, create_suggester
from pykatib.suggest.grid import Grid, lattice
from suggest_support import param, space_of


def grid_suggester(space: SearchSpace, seed: int | None = 42, state: dict[str, Any] | None = None) -> Suggester:
    return create_suggester("grid", space, ObjectiveType.MAXIMIZE, {"random_state": seed}, state)


def as_trials(suggestions: list[Suggestion], start: int = 0) -> list[TrialResult]:
    return [TrialResult(f"t-{start + i}", s.assignment, "Running") for i, s in enumerate(suggestions)]


def katib_example_space() -> SearchSpace:
    # Katib's examples/v1beta1/hp-tuning/grid.yaml
    return space_of(
        param("lr", "double", min="0.01", max="0.05", step="0.005"),
        param("momentum", "double", min="0.5", max="0.9", step="0.1"),
    )


def drain(suggester: Suggester, n: int, history: list[TrialResult], calls: int | None = None) -> list[dict[str, str]]:
    """Ask n at a time (at most ``calls`` times), feeding suggestions back as trials, until [] comes back."""
    out: list[dict[str, str]] = []
    for _ in itertools.count() if calls is None else range(calls):
        batch = suggester.suggest(n, history)
        if not batch:
            break
        assert len(batch) <= n
        history.extend(as_trials(batch, len(history)))
        out.extend(s.assignment for s in batch)
    return out


def test_katib_example_grid_fully_covered_then_empty() -> None:
    suggester = grid_suggester(katib_example_space())
    history: list[TrialResult] = []
    assignments = drain(suggester, 3, history)
    points = [(a["lr"], a["momentum"]) for a in assignments]
    assert len(points) == 45 and len(set(points)) == 45
    lrs = ["0.01", "0.015", "0.02", "0.025", "0.03", "0.035", "0.04", "0.045", "0.05"]
    assert set(points) == set(itertools.product(lrs, ["0.5", "0.6", "0.7", "0.8", "0.9"]))
    assert suggester.suggest(3, history) == []


def test_seeded_order_is_shuffled_and_reproducible() -> None:
    first = drain(grid_suggester(katib_example_space(), seed=1), 5, [])
    assert drain(grid_suggester(katib_example_space(), seed=1), 9, []) == first  # batching does not matter
    assert drain(grid_suggester(katib_example_space(), seed=2), 5, []) != first
    grid = Grid.of(katib_example_space())
    assert grid is not None
    assert grid.point(0) == ("0.01", "0.5") and grid.point(44) == ("0.05", "0.9")
    assert [(a["lr"], a["momentum"]) for a in first] != [grid.point(i) for i in range(grid.size)]


@pytest.mark.parametrize("seed", [7, None])
def test_rebuilt_from_state_midway_continues_the_same(seed: int | None) -> None:
    uninterrupted = grid_suggester(katib_example_space(), seed=seed)
    history: list[TrialResult] = []
    drain(uninterrupted, 4, history, calls=5)
    saved = json.loads(json.dumps(uninterrupted.state()))
    expected_history = list(history)
    expected = drain(uninterrupted, 4, expected_history)

    rebuilt = grid_suggester(katib_example_space(), seed=seed, state=saved)
    assert drain(rebuilt, 4, list(history)) == expected
    assert len(history) + len(expected) == 45


def test_points_held_by_trials_are_skipped() -> None:
    # Trials of any phase hold their point, including ones written as "0.010".
    held = [
        TrialResult("x", {"lr": "0.010", "momentum": "0.5"}, "Succeeded", 0.9),
        TrialResult("y", {"lr": "0.03", "momentum": "0.7"}, "Failed"),
        TrialResult("z", {"lr": "0.05", "momentum": "0.9"}, "Running"),
    ]
    history = list(held)
    points = {(a["lr"], a["momentum"]) for a in drain(grid_suggester(katib_example_space()), 7, history)}
    assert len(points) == 42
    assert points.isdisjoint({("0.01", "0.5"), ("0.03", "0.7"), ("0.05", "0.9")})


def test_int_and_categorical_grid() -> None:
    space = space_of(
        param("layers", "int", min="1", max="5", step="2"),
        param("units", "int", min="8", max="10"),
        param("opt", "categorical", list=["sgd", "adam"]),
        param("bs", "discrete", list=["32", "64"]),
    )
    points = {tuple(a.values()) for a in drain(grid_suggester(space), 5, [])}
    expected = set(itertools.product(["1", "3", "5"], ["8", "9", "10"], ["sgd", "adam"], ["32", "64"]))
    assert points == expected and len(expected) == 36


def test_huge_grid_suggests_quickly_without_listing_it() -> None:
    # 100^6 = 10^12 points, plus an int range of 10^12 values on its own axis.
    specs = [param(f"p{i}", "double", min="0", max="0.99", step="0.01") for i in range(6)]
    space = space_of(*specs, param("n", "int", min="0", max="999999999999"))
    grid = Grid.of(space)
    assert grid is not None and grid.size == 10**24
    started = time.perf_counter()
    suggester = grid_suggester(space)
    batch = drain(suggester, 50, [], calls=4)
    assert time.perf_counter() - started < 2
    assert len({tuple(a.values()) for a in batch}) == 200
    for assignment in batch:
        assert all(0 <= round(float(assignment[f"p{i}"]) * 100) <= 99 for i in range(6))
        assert 0 <= int(assignment["n"]) <= 999_999_999_999
    # The walk is spread out: the first parameter already varies, not only the last ones.
    assert len({a["p0"] for a in batch}) > 50


def test_huge_grid_rebuilt_from_state_continues_the_same() -> None:
    space = space_of(*[param(f"p{i}", "int", min="0", max="99") for i in range(6)])
    uninterrupted = grid_suggester(space, seed=None)
    history: list[TrialResult] = []
    drain(uninterrupted, 10, history, calls=2)
    saved = json.loads(json.dumps(uninterrupted.state()))
    expected = uninterrupted.suggest(10, history)
    assert grid_suggester(space, seed=None, state=saved).suggest(10, history) == expected


@pytest.mark.parametrize(
    "spec",
    [
        param("lr", "double", min="0.01", max="0.05", step="0.005"),
        param("x", "double", min="0.1", max="1.0", step="0.3"),
        param("x", "double", min="-1", max="1", step="0.1"),
        param("n", "int", min="-3", max="17", step="4"),
        param("n", "int", min="1", max="6"),
        param("c", "categorical", list=["a", "b", "c"]),
    ],
)
def test_lattice_matches_parameter_grid(spec: ParameterSpec) -> None:
    parameter = space_of(spec).parameters[0]
    points = lattice(parameter)
    assert points is not None
    assert [points[i] for i in range(len(points))] == parameter.grid()


def test_double_without_step_is_refused() -> None:
    space = space_of(param("lr", "double", min="0.01", max="0.05"), param("n", "int", min="1", max="2"))
    assert Grid.of(space) is None
    with pytest.raises(ValueError, match="missing for: lr"):
        grid_suggester(space)
