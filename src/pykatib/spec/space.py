"""The typed search space the algorithms share, parsed from Katib's string-valued feasibleSpace.

Katib keeps ``min``/``max``/``step``/``list`` as strings and each suggestion service parses them on its
own (and fails late when they do not parse). Here they are parsed once, with errors that name the field,
and every algorithm works on the same :class:`Parameter` values.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pykatib.spec.errors import SpecError
from pykatib.spec.models import Distribution, ExperimentSpec, ParameterSpec, ParameterType

# An assignment as Katib stores it: every value a string ("3", "0.01", "relu").
Assignment = dict[str, str]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One hyperparameter: numeric (double/int) with min/max/step, or a list (discrete/categorical)."""

    name: str
    type: ParameterType
    min: float | None = None
    max: float | None = None
    step: float | None = None
    values: tuple[str, ...] = ()
    distribution: Distribution = Distribution.UNIFORM

    @property
    def is_numeric(self) -> bool:
        return self.type in (ParameterType.DOUBLE, ParameterType.INT)

    def format(self, value: float | str) -> str:
        """The string Katib puts into a trial template: an int stays ``3``, never ``3.0``."""
        if self.type is ParameterType.INT:
            return str(round(float(value)))
        if self.type is ParameterType.DOUBLE:
            return format_double(float(value))
        return str(value)

    def contains(self, value: str) -> bool:
        """Whether a formatted value lies in this parameter's feasible space."""
        if not self.is_numeric:
            return value in self.values
        try:
            number = float(value)
        except ValueError:
            return False
        assert self.min is not None and self.max is not None
        return self.min <= number <= self.max

    def grid(self) -> list[str] | None:
        """Grid points (Katib's grid algorithm), or None when a double has no step."""
        if not self.is_numeric:
            return list(self.values)
        assert self.min is not None and self.max is not None
        if self.type is ParameterType.INT:
            step = int(self.step) if self.step else 1
            return [str(v) for v in range(int(self.min), int(self.max) + 1, step)]
        if not self.step:
            return None
        count = math.floor((self.max - self.min) / self.step + 1e-9) + 1
        return [self.format(self.min + i * self.step) for i in range(count)]


def format_double(value: float) -> str:
    """Shortest repr of a float, with the binary noise of ``0.1 + 0.2`` rounded away."""
    rounded = float(f"{value:.12g}")
    return repr(rounded)


@dataclass(frozen=True, slots=True)
class SearchSpace:
    parameters: tuple[Parameter, ...]

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self.parameters)

    def __len__(self) -> int:
        return len(self.parameters)

    def by_name(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)

    def grid_size(self) -> int | None:
        total = 1
        for parameter in self.parameters:
            points = parameter.grid()
            if points is None:
                return None
            total *= len(points)
        return total


def _parse_number(text: str | None, path: str, errors: list[SpecError]) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        errors.append(SpecError(path, f"{text!r} is not a number"))
        return None
    if not math.isfinite(value):
        errors.append(SpecError(path, f"{text!r} must be a finite number"))
        return None
    return value


def parse_parameter(
    spec: ParameterSpec, path: str, *, allow_empty_range: bool = False
) -> tuple[Parameter | None, list[SpecError]]:
    """Parse one parameter. Structural rules (Katib's) are checked by validation; these are the numbers.

    ``allow_empty_range`` admits ``min == max``: hyperband owns its resource parameter's range, and
    Katib's own hyperband example writes ``min: "1", max: "1"`` there.
    """
    errors: list[SpecError] = []
    space = spec.feasible_space
    fs = f"{path}.feasibleSpace"
    ptype = spec.parameter_type
    distribution = space.distribution or Distribution.UNIFORM
    if ptype in (ParameterType.DISCRETE, ParameterType.CATEGORICAL):
        values = tuple(space.list or ())
        seen: set[str] = set()
        for i, value in enumerate(values):
            if value in seen:
                errors.append(SpecError(f"{fs}.list[{i}]", f"duplicate value {value!r}"))
            seen.add(value)
            if ptype is ParameterType.DISCRETE:
                _parse_number(value, f"{fs}.list[{i}]", errors)
        if not values:
            errors.append(SpecError(f"{fs}.list", f"must list at least one value for parameterType {ptype}"))
        if errors:
            return None, errors
        return Parameter(spec.name, ptype, values=values, distribution=distribution), []
    if ptype not in (ParameterType.DOUBLE, ParameterType.INT):
        return None, errors
    low = _parse_number(space.min, f"{fs}.min", errors)
    high = _parse_number(space.max, f"{fs}.max", errors)
    step = _parse_number(space.step, f"{fs}.step", errors)
    if ptype is ParameterType.INT:
        for bound, number in (("min", low), ("max", high), ("step", step)):
            if number is not None and not number.is_integer():
                errors.append(SpecError(f"{fs}.{bound}", f"must be an integer for parameterType int, got {number}"))
    if low is not None and high is not None:
        if low > high or (low == high and not allow_empty_range):
            errors.append(SpecError(f"{fs}.min", f"min ({space.min}) must be less than max ({space.max})"))
        if step is not None:
            if step <= 0:
                errors.append(SpecError(f"{fs}.step", f"step ({space.step}) must be greater than 0"))
            elif step > high - low and high > low:
                errors.append(
                    SpecError(f"{fs}.step", f"step ({space.step}) must not exceed max - min ({high - low:g})")
                )
        if distribution in (Distribution.LOG_UNIFORM, Distribution.LOG_NORMAL) and low <= 0:
            errors.append(SpecError(f"{fs}.min", f"{distribution} needs min > 0, got {space.min}"))
    if errors or low is None or high is None:
        return None, errors
    return Parameter(spec.name, ptype, min=low, max=high, step=step, distribution=distribution), []


def parse_search_space(
    specs: Sequence[ParameterSpec], *, path: str = "spec.parameters", fixed_range: str | None = None
) -> tuple[SearchSpace, list[SpecError]]:
    """Parse every parameter; the space holds those that parsed, the errors name the others."""
    parameters: list[Parameter] = []
    errors: list[SpecError] = []
    names: set[str] = set()
    for i, spec in enumerate(specs):
        if spec.name in names:
            errors.append(SpecError(f"{path}[{i}].name", f"duplicate parameter name {spec.name!r}"))
        names.add(spec.name)
        parameter, problems = parse_parameter(spec, f"{path}[{i}]", allow_empty_range=spec.name == fixed_range)
        errors.extend(problems)
        if parameter is not None:
            parameters.append(parameter)
    return SearchSpace(tuple(parameters)), errors


def hyperband_resource(spec: ExperimentSpec) -> str | None:
    """The parameter hyperband owns (its range may be empty: the bracket sets the value), if any."""
    return spec.algorithm.setting("hyperband", "resource_name") if spec.algorithm else None
