"""Katib's ``grid`` algorithm (Optuna's GridSampler behind Katib), and the grid of a search space.

Every parameter becomes a finite list of points (:class:`Lattice`, the same strings as
``Parameter.grid()``) and the grid is their cartesian product, addressed by index through mixed-radix
decoding so that it is never listed: six parameters of 100 points are 10^12 grid points.

Optuna's GridSampler visits the unvisited points in a random order chosen by its seed. Here a seeded
permutation of the indices does the same; without ``random_state`` a seed is drawn once and kept in
``state()``, so that a rebuilt suggester walks the very same order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pykatib.spec.models import ParameterType
from pykatib.spec.space import Parameter, SearchSpace
from pykatib.suggest.base import SeenAssignments, Suggester, Suggestion, TrialResult, random_state

# Up to this many points the visiting order is a true uniform permutation (8 bytes an index); above it,
# an affine walk over the indices, which costs nothing to hold.
PERMUTATION_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class Lattice:
    """The finite points of one parameter, indexed without listing them (an int range can be huge).

    ``lattice[i]`` is the same string as ``parameter.grid()[i]``.
    """

    parameter: Parameter
    size: int
    start: float = 0.0
    step: float = 1.0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < self.size:
            raise IndexError(f"grid index {index} out of range for parameter {self.parameter.name}")
        parameter = self.parameter
        if not parameter.is_numeric:
            return parameter.values[index]
        if parameter.type is ParameterType.INT:
            return str(int(self.start) + index * int(self.step))
        return parameter.format(self.start + index * self.step)

    def nearest(self, value: float) -> int:
        """The index of the lattice point nearest to ``value``, kept inside the lattice."""
        index = round((value - self.start) / self.step)
        return min(max(index, 0), self.size - 1)


def lattice(parameter: Parameter) -> Lattice | None:
    """The parameter's grid points, or None for a double without step (a continuum)."""
    if not parameter.is_numeric:
        return Lattice(parameter, len(parameter.values))
    assert parameter.min is not None and parameter.max is not None
    if parameter.type is ParameterType.INT:
        step = int(parameter.step) if parameter.step else 1
        low = int(parameter.min)
        return Lattice(parameter, len(range(low, int(parameter.max) + 1, step)), float(low), float(step))
    if not parameter.step:
        return None
    # The same count as Parameter.grid(): the epsilon keeps 0.05 - 0.01 = 0.04000000000000001 from
    # losing the last point to binary rounding.
    size = math.floor((parameter.max - parameter.min) / parameter.step + 1e-9) + 1
    return Lattice(parameter, size, parameter.min, parameter.step)


@dataclass(frozen=True, slots=True)
class Grid:
    """The cartesian product of every parameter's lattice, in ``itertools.product`` order."""

    lattices: tuple[Lattice, ...]
    size: int

    @classmethod
    def of(cls, space: SearchSpace) -> Grid | None:
        """The grid of ``space``, or None when some double has no step (the space is infinite)."""
        lattices: list[Lattice] = []
        for parameter in space.parameters:
            points = lattice(parameter)
            if points is None:
                return None
            lattices.append(points)
        return cls(tuple(lattices), math.prod(len(points) for points in lattices))

    def point(self, index: int) -> tuple[str, ...]:
        """The grid point at ``index``: mixed-radix digits, the last parameter varying fastest."""
        values: list[str] = []
        for points in reversed(self.lattices):
            index, digit = divmod(index, len(points))
            values.append(points[digit])
        values.reverse()
        return tuple(values)


def _random_below(rng: np.random.Generator, bound: int) -> int:
    """A uniform integer in [0, bound) for bounds beyond int64 too (Python ints have no limit)."""
    # 8 bytes beyond the bound's own make the modulo bias negligible (< 2^-64).
    nbytes = (bound.bit_length() + 7) // 8 + 8
    return int.from_bytes(rng.bytes(nbytes), "little") % bound


def visiting_order(size: int, seed: int) -> Callable[[int], int]:
    """A seeded bijection from visit number to grid index on [0, size)."""
    rng = np.random.default_rng(seed)
    if size <= PERMUTATION_LIMIT:
        permutation = rng.permutation(size)
        return lambda position: int(permutation[position])
    # i -> (a*i + b) mod size is a bijection whenever gcd(a, size) == 1. Unlike a plain sequential walk,
    # consecutive visits land far apart, so every parameter varies from the start even though such a
    # grid is never walked to its end.
    while True:
        multiplier = _random_below(rng, size)
        if multiplier > 1 and math.gcd(multiplier, size) == 1:
            break
    offset = _random_below(rng, size)
    return lambda position: (multiplier * position + offset) % size


class GridSuggester(Suggester):
    """Every grid point once, in a seeded random order; fewer than asked once the grid runs out."""

    inline = True  # index arithmetic per suggestion

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, settings = self.space, self.settings
        grid = Grid.of(space)
        if grid is None:
            # Validation already rejects this (docs/katib-compatibility.md, "Algorithms"); a direct caller gets
            # the same words.
            missing = [p.name for p in space.parameters if lattice(p) is None]
            raise ValueError(f"grid needs a step for every double parameter; missing for: {', '.join(missing)}")
        self._grid = grid
        self._names = tuple(p.name for p in space.parameters)
        if state:
            self._seed = int(state["seed"])
            self._cursor = int(state["cursor"])
        else:
            seed = random_state(settings)
            # No random_state: draw one now and keep it in state(), so the order survives a restart.
            self._seed = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
            self._cursor = 0
        self._order = visiting_order(grid.size, self._seed)
        self._seen = SeenAssignments(space)

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._seen.update(trials)
        suggestions: list[Suggestion] = []
        while len(suggestions) < n and self._cursor < self._grid.size:
            point = self._grid.point(self._order(self._cursor))
            self._cursor += 1
            # A point that a trial already holds (created by hand, or before a restart) is skipped, not
            # suggested again: Optuna's GridSampler also only picks unvisited points.
            if point in self._seen:
                continue
            self._seen.add(point)
            suggestions.append(Suggestion(dict(zip(self._names, point, strict=True))))
        return suggestions

    def state(self) -> dict[str, Any]:
        return {"seed": self._seed, "cursor": self._cursor}
