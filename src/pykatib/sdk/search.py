"""``katib.search``: the search space of one parameter, for ``KatibClient.tune(parameters=...)``."""

from __future__ import annotations

import builtins
from typing import Any

from pykatib.sdk.models import V1beta1FeasibleSpace, V1beta1ParameterSpec


def double(min: float, max: float, step: float | None = None) -> Any:
    """A float between ``min`` and ``max`` (every ``step`` when given)."""
    return _ranged("double", min, max, step)


def int(min: builtins.int, max: builtins.int, step: builtins.int | None = None) -> Any:
    """An integer between ``min`` and ``max`` (every ``step`` when given)."""
    return _ranged("int", min, max, step)


def categorical(list: builtins.list[Any]) -> Any:
    """One of the values in ``list``.

    Katib 0.19 passes the list as the first positional argument of ``V1beta1FeasibleSpace``, which is
    ``distribution``, so its experiment has no ``list`` and is refused (kubeflow/katib#2625); here it is the
    feasible space's ``list`` (values as strings, as the schema has them)."""
    return V1beta1ParameterSpec(
        parameter_type="categorical", feasible_space=V1beta1FeasibleSpace(list=[str(v) for v in list])
    )


def _ranged(kind: str, low: object, high: object, step: object) -> Any:
    space = V1beta1FeasibleSpace(min=str(low), max=str(high))
    if step is not None:
        space.step = str(step)
    return V1beta1ParameterSpec(parameter_type=kind, feasible_space=space)
