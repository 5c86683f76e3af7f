"""Katib's sobol: Goptuna's plain Sobol sequence, here through Optuna's QMCSampler."""

from __future__ import annotations

import warnings

from suggest_support import Controller, make, param, saved, space_of


def test_goptunas_sequence_second_point_first_dimensions_by_sorted_name() -> None:
    # Declared b before a: Goptuna gives dimensions to parameters in sorted-name order.
    space = space_of(param("b", "double", min="0", max="1"), param("a", "double", min="10", max="20"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = [s.assignment for s in make("sobol", space).suggest(4, [])]
    # Sobol points 1..4 of (a, b): (.5, .5), (.75, .25), (.25, .75), (.375, .375); the origin is skipped.
    assert batch == [
        {"b": "0.5", "a": "15.0"},
        {"b": "0.25", "a": "17.5"},
        {"b": "0.75", "a": "12.5"},
        {"b": "0.375", "a": "13.75"},
    ]


def test_not_adaptive_and_continues_after_a_restart() -> None:
    space = space_of(param("x", "double", min="0", max="1"), param("n", "int", min="1", max="4"))
    one = Controller(make("sobol", space), lambda a: float(a["x"]), parallel=2)
    other = Controller(make("sobol", space), lambda a: -float(a["x"]), parallel=2)
    assert one.run(8) == other.run(8)  # results change nothing
    state = saved(one.suggester)
    assert state["sample_id"] == 10
    rebuilt = make("sobol", space, state=state)
    one.finish()
    assert [s.assignment for s in rebuilt.suggest(1, list(one.trials))] == one.ask()


def test_int_reaches_both_ends() -> None:
    # Goptuna maps floor(u * (max - min)) + min and never reaches max; Optuna's rounding covers [min, max].
    space = space_of(param("n", "int", min="1", max="4"), param("x", "double", min="0", max="1"))
    batch = make("sobol", space).suggest(8, [])
    assert {s.assignment["n"] for s in batch} == {"1", "2", "3", "4"}
