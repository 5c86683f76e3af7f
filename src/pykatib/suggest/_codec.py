"""How a library-backed algorithm sees one parameter: an internal dimension, and the way back to Katib strings.

Optuna and scikit-optimize both know three kinds of dimension: a float range (uniform or log-uniform), an
int range and a list of choices. A Katib parameter maps onto one of them so that whatever the library
suggests decodes to a value inside the feasible space, on its step lattice, formatted as Katib formats
it; and an assignment (a trial's strings) encodes back to the internal value the library learns from.

* categorical and discrete: the list itself (Katib's Optuna, Goptuna, skopt and hyperopt services all
  treat a discrete list as categorical choices).
* uniform with a lattice (every int; a double with step): the index of the lattice point, so a
  suggestion can only land on the lattice and never needs rounding.
* uniform double without step: the value itself.
* logUniform: the value on a log scale; with a lattice, snapped to the nearest lattice point (neither
  library takes a step together with a log scale).
* normal and logNormal (mu = middle of the range, sigma = a sixth of it, on a log scale for logNormal):
  the cumulative probability u in [0, 1] of a normal truncated to [min, max]. A library that samples u
  uniformly then draws from the truncated normal exactly, and a model over u sees the prior's shape the
  way hyperopt's does. (pykatib's random algorithm clips instead of truncating: the difference is the
  0.3% of mass beyond three sigma.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from statistics import NormalDist

import numpy as np

from pykatib.spec.models import Distribution
from pykatib.spec.space import Parameter, SearchSpace
from pykatib.suggest.base import AssignmentKey, SeenAssignments
from pykatib.suggest.grid import Grid, Lattice, lattice

# An internal value: a float, an int (lattice index) or a choice.
Internal = float | int | str

# A finite space up to this size has its unused points listed once the library stops finding new ones.
LISTING_LIMIT = 1_000_000


class Kind(Enum):
    FLOAT = "float"
    INT = "int"
    CATEGORICAL = "categorical"


@dataclass(frozen=True, slots=True)
class Codec:
    """One parameter as an internal dimension: FLOAT [low, high] (log scale or not), INT [low, high], or
    CATEGORICAL over ``choices``."""

    parameter: Parameter
    kind: Kind
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    choices: tuple[str, ...] = ()
    points: Lattice | None = None
    # For normal/logNormal: the truncated normal (on the log scale for logNormal) and its mass below min.
    normal: NormalDist | None = None
    cdf_low: float = 0.0
    cdf_high: float = 1.0

    def decode(self, value: Internal) -> str:
        """The Katib string of an internal value (clipped into the dimension first)."""
        if self.kind is Kind.CATEGORICAL:
            return str(value)
        parameter = self.parameter
        assert parameter.min is not None and parameter.max is not None
        if self.kind is Kind.INT:
            assert self.points is not None
            return self.points[min(max(round(float(value)), 0), len(self.points) - 1)]
        number = min(max(float(value), self.low), self.high)
        if self.normal is not None:
            # Inverse of the truncated normal's cumulative distribution; the clamps keep inv_cdf's
            # argument inside (0, 1) and the result inside the feasible space.
            p = self.cdf_low + number * (self.cdf_high - self.cdf_low)
            p = min(max(p, 1e-300), 1 - 1e-16)
            number = self.normal.inv_cdf(p)
            if parameter.distribution is Distribution.LOG_NORMAL:
                number = math.exp(number)
            number = min(max(number, parameter.min), parameter.max)
        if self.points is not None:
            return self.points[self.points.nearest(number)]
        return parameter.format(number)

    def encode(self, text: str | None) -> Internal | None:
        """The internal value of a Katib string, or None when it lies outside this dimension."""
        if text is None:
            return None
        if self.kind is Kind.CATEGORICAL:
            return text if text in self.choices else None
        try:
            number = float(text)
        except ValueError:
            return None
        parameter = self.parameter
        assert parameter.min is not None and parameter.max is not None
        if not math.isfinite(number) or not parameter.min <= number <= parameter.max:
            return None
        if self.kind is Kind.INT:
            assert self.points is not None
            return self.points.nearest(number)
        if self.normal is not None:
            x = math.log(number) if parameter.distribution is Distribution.LOG_NORMAL else number
            u = (self.normal.cdf(x) - self.cdf_low) / (self.cdf_high - self.cdf_low)
            return min(max(u, 0.0), 1.0)
        return number


def codec(parameter: Parameter) -> Codec:
    """The internal dimension of one parameter (see the module docstring)."""
    if not parameter.is_numeric:
        return Codec(parameter, Kind.CATEGORICAL, choices=parameter.values)
    assert parameter.min is not None and parameter.max is not None
    points = lattice(parameter)
    distribution = parameter.distribution
    if distribution is Distribution.UNIFORM:
        if points is not None:
            return Codec(parameter, Kind.INT, 0, len(points) - 1, points=points)
        return Codec(parameter, Kind.FLOAT, parameter.min, parameter.max)
    if distribution is Distribution.LOG_UNIFORM:
        # Validation guarantees min > 0 for the log distributions.
        return Codec(parameter, Kind.FLOAT, parameter.min, parameter.max, log=True, points=points)
    low, high = parameter.min, parameter.max
    if distribution is Distribution.LOG_NORMAL:
        low, high = math.log(low), math.log(high)
    normal = NormalDist((low + high) / 2, (high - low) / 6)
    return Codec(
        parameter,
        Kind.FLOAT,
        0.0,
        1.0,
        points=points,
        normal=normal,
        cdf_low=normal.cdf(low),
        cdf_high=normal.cdf(high),
    )


@dataclass(frozen=True, slots=True)
class SpaceCodec:
    """Every parameter's codec, in the space's order."""

    codecs: tuple[Codec, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, space: SearchSpace) -> SpaceCodec:
        return cls(tuple(codec(p) for p in space.parameters), tuple(p.name for p in space.parameters))

    def decode(self, values: Sequence[Internal]) -> AssignmentKey:
        """Katib strings, in parameter order; this tuple is also the assignment's key."""
        return tuple(c.decode(v) for c, v in zip(self.codecs, values, strict=True))

    def encode(self, assignment: Mapping[str, str]) -> list[Internal] | None:
        """Internal values of a trial's assignment, or None when some value lies outside the space."""
        values: list[Internal] = []
        for name, c in zip(self.names, self.codecs, strict=True):
            value = c.encode(assignment.get(name))
            if value is None:
                return None
            values.append(value)
        return values

    def assignment(self, key: AssignmentKey) -> dict[str, str]:
        return {name: value for name, value in zip(self.names, key, strict=True) if value is not None}


def random_point(codecs: SpaceCodec, rng: np.random.Generator) -> AssignmentKey:
    """A point drawn uniformly over the internal dimensions (the libraries' own fallback when their
    model proposes a point already held)."""
    values: list[Internal] = []
    for c in codecs.codecs:
        if c.kind is Kind.CATEGORICAL:
            values.append(c.choices[int(rng.integers(len(c.choices)))])
        elif c.kind is Kind.INT:
            values.append(int(rng.integers(int(c.low), int(c.high) + 1)))
        elif c.log:
            values.append(math.exp(rng.uniform(math.log(c.low), math.log(c.high))))
        else:
            values.append(float(rng.uniform(c.low, c.high)))
    return codecs.decode(values)


class Fallback:
    """New points for when a library keeps proposing assignments the experiment already holds.

    Random draws first; in a finite space whose draws keep colliding, a uniform choice among the points
    no trial holds, so that running out of new points is told apart from bad luck: only then does
    :meth:`pick` return None and the suggester fewer than asked (the space is exhausted).
    """

    ATTEMPTS = 100

    def __init__(self, space: SearchSpace, codecs: SpaceCodec) -> None:
        self._codecs = codecs
        self._grid = Grid.of(space)

    def pick(self, seen: SeenAssignments, rng: np.random.Generator) -> AssignmentKey | None:
        for _ in range(self.ATTEMPTS):
            key = random_point(self._codecs, rng)
            if key not in seen:
                return key
        grid = self._grid
        if grid is None or grid.size > LISTING_LIMIT:
            # Draws from an infinite space do not collide a hundred times in a row; a huge finite one is
            # not listed (a million points, nearly all held, is not an experiment anyone runs).
            return None
        unused = [i for i in range(grid.size) if grid.point(i) not in seen]
        if not unused:
            return None
        return grid.point(unused[int(rng.integers(len(unused)))])
