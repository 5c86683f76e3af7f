"""The checks Katib's NAS suggestion services make of ``spec.nasConfig``, run when an experiment is validated.

Katib's enas and darts services check the nasConfig when the suggestion starts (``ValidateAlgorithmSettings``,
``validate_operations``); here the same checks run with the rest of the validation, so ``pykatib validate``
and the server's create refuse such an experiment before any suggester reads it. Each error names the field,
in Katib's words where Katib has them.

* :func:`enas_errors`: ENAS's checks, and that the search space it expands is one the controller can take.
* :func:`darts_errors`: DARTS's checks, and what its search space needs (a list of filter sizes).
* :func:`parameter_values`: one operation parameter's values, as ENAS's search space lists them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from pykatib.spec.errors import SpecError
from pykatib.spec.models import NasConfig, ParameterSpec, ParameterType

_PATH = "spec.nasConfig"
# pykatib's bounds, where Katib's controller would hang or run out of memory: the candidate operations ENAS
# expands (Katib's enas-cpu.yaml has 106) and the layers it samples for (8 in its enas-gpu.yaml).
MAX_ENAS_OPERATIONS = 100_000
MAX_ENAS_LAYERS = 1_000

# An operation parameter's value: a categorical string, an int, or a double (np.arange's float64 as a float).
Value = str | int | float


def nas_errors(algorithm_name: str, nas_config: NasConfig) -> list[SpecError]:
    """The nasConfig's problems for the NAS algorithm ``algorithm_name``; [] for any other algorithm."""
    check = _CHECKS.get(algorithm_name)
    return check(nas_config) if check is not None else []


def enas_errors(nas_config: NasConfig) -> list[SpecError]:
    """Katib's ENAS ``ValidateAlgorithmSettings`` checks of the nasConfig, each with the field's path."""
    errors: list[SpecError] = []
    graph = nas_config.graph_config
    given = {
        "inputSizes": graph.input_sizes if graph else None,
        "outputSizes": graph.output_sizes if graph else None,
        "numLayers": graph.num_layers if graph else None,
    }
    for field, value in given.items():
        if not value:  # Katib's messages: "Missing InputSizes in GraphConfig", ...
            label = field[0].upper() + field[1:]
            errors.append(SpecError(f"{_PATH}.graphConfig.{field}", f"Missing {label} in GraphConfig"))
    layers = graph.num_layers if graph else None
    if layers and not 1 <= layers <= MAX_ENAS_LAYERS:
        errors.append(SpecError(f"{_PATH}.graphConfig.numLayers", f"must be between 1 and {MAX_ENAS_LAYERS}"))
    if not nas_config.operations:
        errors.append(SpecError(f"{_PATH}.operations", "ENAS needs at least one operation"))
    counts: list[int] = []
    for i, operation in enumerate(nas_config.operations or []):
        path = f"{_PATH}.operations[{i}]"
        if not operation.operation_type:
            errors.append(SpecError(f"{path}.operationType", "Missing operationType in Operation"))
        if not operation.parameters:
            errors.append(SpecError(f"{path}.parameters", "Missing ParameterConfigs in Operation"))
        count = 1
        for j, parameter in enumerate(operation.parameters or []):
            size, problem = _parameter_size(parameter)
            if problem is not None:
                errors.append(SpecError(f"{path}.parameters[{j}]{problem.path}", problem.message))
            count *= size
        counts.append(count)
    if not errors:
        total = sum(counts)
        if total == 0:
            errors.append(SpecError(f"{_PATH}.operations", "no operation has any value to choose"))
        elif total > MAX_ENAS_OPERATIONS:
            errors.append(
                SpecError(
                    f"{_PATH}.operations",
                    f"expands into {total} candidate operations; at most {MAX_ENAS_OPERATIONS}",
                )
            )
    return errors


def _parameter_size(parameter: ParameterSpec) -> tuple[int, SpecError | None]:
    """How many values a parameter has, or why it has none (the error's path relative to the parameter).
    Ranges are counted, not listed: a range of a billion values is refused without building it."""
    space = parameter.feasible_space
    if not parameter.name:
        return 0, SpecError(".name", "Missing Name in ParameterConfig")
    if parameter.parameter_type is None:
        return 0, SpecError(".parameterType", "Missing ParameterType in ParameterConfig")
    if parameter.parameter_type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
        if not space.list:
            return 0, SpecError(".feasibleSpace.list", "Missing List in ParameterConfig.feasibleSpace")
        return len(space.list), None
    if not space.min or not space.max:
        return 0, SpecError(".feasibleSpace", "Missing Max and Min in ParameterConfig.feasibleSpace")
    try:
        return _range(parameter, count_only=True)[0], None
    except ValueError as error:
        return 0, SpecError(".feasibleSpace", str(error))


def parameter_values(parameter: ParameterSpec) -> list[Value]:
    """One parameter's values, as Katib's ENAS ``_parse_operations`` lists them (``enas_errors`` must be []).

    Katib drops a discrete parameter and then fails on an index; here its list counts like a categorical
    one. An int without step is Katib's ``int("")`` crash; here the step is 1. A double range whose
    ``np.arange`` overshoots ``max`` crashes Katib's ``del`` on an array; here the extra value is dropped.
    """
    if parameter.parameter_type in (ParameterType.CATEGORICAL, ParameterType.DISCRETE):
        return list(parameter.feasible_space.list or [])
    return _range(parameter, count_only=False)[1]


def _range(parameter: ParameterSpec, *, count_only: bool) -> tuple[int, list[Value]]:
    """An int or double parameter's number of values and (unless ``count_only``) the values; ValueError
    saying what is wrong with its feasibleSpace."""
    space = parameter.feasible_space
    if parameter.parameter_type is ParameterType.INT:
        low, high, step = _int(space.min, "min"), _int(space.max, "max"), _int(space.step or "1", "step")
        if step <= 0:
            raise ValueError("step must be > 0")
        count = max(0, (high - low) // step + 1)  # len(range(low, high + 1, step)), for any size of int
        return count, [] if count_only else list(range(low, high + 1, step))
    low_f, high_f, step_f = _float(space.min, "min"), _float(space.max, "max"), _float(space.step or "0", "step")
    if not step_f > 0:  # Katib: "Step parameter should be > 0 in ParameterConfig.feasibleSpace"
        raise ValueError("Step parameter should be > 0 in ParameterConfig.feasibleSpace")
    # np.arange's length: ceil((stop - start) / step), at least 0; the last value may overshoot max.
    length = (high_f + step_f - low_f) / step_f
    if not math.isfinite(length) or length > MAX_ENAS_OPERATIONS:
        raise ValueError(f"the range holds more than {MAX_ENAS_OPERATIONS} values")
    if count_only:
        count = max(0, math.ceil(length))
        return count - 1 if count and low_f + (count - 1) * step_f > high_f else count, []
    import numpy as np  # here, not at the top: validation only counts, and numpy takes a second to import

    doubles = [float(v) for v in np.arange(low_f, high_f + step_f, step_f)]
    if doubles and doubles[-1] > high_f:
        del doubles[-1]
    return len(doubles), list(doubles)


def _int(text: str | None, field: str) -> int:
    try:
        return int(text or "")
    except ValueError:
        raise ValueError(f"{field} {text!r} is not an integer") from None


def _float(text: str | None, field: str) -> float:
    try:
        value = float(text or "")
    except ValueError:
        raise ValueError(f"{field} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{field} {text!r} is not a finite number")
    return value


def darts_errors(nas_config: NasConfig) -> list[SpecError]:
    """Katib's validate_operations (nas/common/validation.py) in its words, each with the field's path, and
    what get_search_space needs: a first parameter with a list of filter sizes. skip_connection needs none
    (Katib's own darts-gpu.yaml gives it none, though validate_operations would ask for them)."""
    errors: list[SpecError] = []
    graph = nas_config.graph_config
    if graph is None or graph.num_layers is None:
        errors.append(SpecError(f"{_PATH}.graphConfig.numLayers", "darts needs the number of layers"))
    if not nas_config.operations:
        errors.append(SpecError(f"{_PATH}.operations", "darts needs at least one operation"))
    for i, operation in enumerate(nas_config.operations or []):
        path = f"{_PATH}.operations[{i}]"
        if not operation.operation_type:
            errors.append(SpecError(f"{path}.operationType", "Missing operationType in Operation"))
        if operation.operation_type == "skip_connection":
            continue  # no parameters needed (Katib's darts-gpu.yaml gives it none)
        if not operation.parameters:
            errors.append(SpecError(f"{path}.parameters", "Missing ParameterConfigs in Operation"))
        elif not operation.parameters[0].feasible_space.list:
            errors.append(
                SpecError(
                    f"{path}.parameters[0].feasibleSpace.list",
                    "darts names the operation by the values of its first parameter's list (the filter sizes)",
                )
            )
    return errors


_CHECKS: dict[str, Callable[[NasConfig], list[SpecError]]] = {"enas": enas_errors, "darts": darts_errors}
