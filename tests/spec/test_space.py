"""The shared search-space model: typed parameters and the strings Katib puts into templates."""

from __future__ import annotations

import pytest

from pykatib.spec.models import Distribution, ParameterSpec, ParameterType
from pykatib.spec.space import Parameter, parse_search_space


def spec(name: str, ptype: str, **space: object) -> ParameterSpec:
    return ParameterSpec.model_validate({"name": name, "parameterType": ptype, "feasibleSpace": space})


def test_parse_typed_parameters() -> None:
    space, errors = parse_search_space(
        [
            spec("lr", "double", min="0.001", max="0.1", distribution="logUniform"),
            spec("layers", "int", min="1", max="5", step="2"),
            spec("opt", "categorical", list=["sgd", "adam"]),
            spec("bs", "discrete", list=["16", "32"]),
        ]
    )
    assert errors == []
    lr, layers, opt, bs = space.parameters
    assert (lr.type, lr.min, lr.max, lr.distribution) == (
        ParameterType.DOUBLE,
        0.001,
        0.1,
        Distribution.LOG_UNIFORM,
    )
    assert (layers.min, layers.max, layers.step) == (1, 5, 2)
    assert opt.values == ("sgd", "adam") and bs.values == ("16", "32")
    assert space.by_name("opt") is opt and len(space) == 4


@pytest.mark.parametrize(
    ("ptype", "value", "text"),
    [
        ("int", 3.0, "3"),
        ("int", 2.9999999, "3"),
        ("int", 7, "7"),
        ("double", 0.1 + 0.2, "0.3"),
        ("double", 1e-7, "1e-07"),
        ("double", 2.0, "2.0"),
        ("categorical", "relu", "relu"),
        ("discrete", "16", "16"),
    ],
)
def test_assignment_strings(ptype: str, value: object, text: str) -> None:
    parameter = Parameter("p", ParameterType(ptype), min=0, max=10)
    assert parameter.format(value) == text


def test_grid_points() -> None:
    space, _ = parse_search_space(
        [
            spec("lr", "double", min="0.01", max="0.05", step="0.01"),
            spec("n", "int", min="1", max="4"),
            spec("act", "categorical", list=["relu", "tanh"]),
        ]
    )
    lr, n, act = space.parameters
    assert lr.grid() == ["0.01", "0.02", "0.03", "0.04", "0.05"]
    assert n.grid() == ["1", "2", "3", "4"]
    assert act.grid() == ["relu", "tanh"]
    assert space.grid_size() == 40


def test_double_without_step_has_no_grid() -> None:
    space, _ = parse_search_space([spec("lr", "double", min="0.01", max="0.05")])
    assert space.parameters[0].grid() is None and space.grid_size() is None


def test_contains() -> None:
    space, _ = parse_search_space([spec("lr", "double", min="0.01", max="0.05"), spec("a", "categorical", list=["x"])])
    lr, a = space.parameters
    assert lr.contains("0.02") and not lr.contains("0.5") and not lr.contains("abc")
    assert a.contains("x") and not a.contains("y")


def test_fixed_range_is_allowed_only_where_asked() -> None:
    specs = [spec("epochs", "int", min="1", max="1")]
    _, errors = parse_search_space(specs)
    assert [e.path for e in errors] == ["spec.parameters[0].feasibleSpace.min"]
    space, errors = parse_search_space(specs, fixed_range="epochs")
    assert errors == [] and space.parameters[0].min == 1
