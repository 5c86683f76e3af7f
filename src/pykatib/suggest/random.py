"""Katib's ``random`` algorithm (hyperopt's ``rand.suggest`` behind Katib).

Every parameter is drawn independently from its distribution, by one numpy ``Generator`` (PCG64) seeded
with ``random_state``. Draws happen one assignment at a time in parameter order, so the stream does not
depend on how the controller batches its requests, and ``state()`` carries the generator's state so that a
rebuilt suggester continues the very same stream.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pykatib.spec.models import Distribution
from pykatib.spec.space import Parameter
from pykatib.suggest.base import SeenAssignments, Suggester, Suggestion, TrialResult, random_state
from pykatib.suggest.grid import Grid, Lattice, lattice

# Re-draws per assignment before concluding that random draws no longer find unused points.
MAX_ATTEMPTS = 100
# A finite space up to this size has its unused points listed once random re-draws stop finding them.
LISTING_LIMIT = 1_000_000

Sampler = Callable[[np.random.Generator], str]
Draw = Callable[[np.random.Generator], float]


def _continuous(distribution: Distribution, low: float, high: float) -> Draw:
    """A draw from ``distribution`` over [low, high] (docs/katib-compatibility.md, "Algorithms")."""
    if distribution is Distribution.LOG_UNIFORM:
        log_low, log_high = math.log(low), math.log(high)  # validation guarantees low > 0
        return lambda rng: min(max(math.exp(rng.uniform(log_low, log_high)), low), high)
    if distribution is Distribution.NORMAL:
        mu, sigma = (low + high) / 2, (high - low) / 6
        # hyperopt's normal (behind Katib) is unbounded; clipping keeps every value inside the feasible
        # space the user wrote, at the cost of a little extra mass on the bounds (0.3% at 3 sigma).
        return lambda rng: min(max(float(rng.normal(mu, sigma)), low), high)
    if distribution is Distribution.LOG_NORMAL:
        log_low, log_high = math.log(low), math.log(high)
        mu, sigma = (log_low + log_high) / 2, (log_high - log_low) / 6
        # Clipped for the same reason as normal.
        return lambda rng: min(max(math.exp(rng.normal(mu, sigma)), low), high)
    return lambda rng: float(rng.uniform(low, high))


def _uniform_index(rng: np.random.Generator, size: int) -> int:
    if size < 2**63:
        return int(rng.integers(size))
    return min(int(rng.uniform(0, size)), size - 1)  # beyond int64: float resolution is all there is


def _sampler(parameter: Parameter, points: Lattice | None) -> Sampler:
    """How to draw one formatted value of ``parameter``."""
    if not parameter.is_numeric or (points is not None and parameter.distribution is Distribution.UNIFORM):
        # A uniform choice among the points. For numbers this deliberately differs from "draw uniformly,
        # then round to the step": rounding would give the two end points half the chance of the others.
        assert points is not None
        return lambda rng: points[_uniform_index(rng, len(points))]
    assert parameter.min is not None and parameter.max is not None
    draw = _continuous(parameter.distribution, parameter.min, parameter.max)
    if points is None:
        return lambda rng: parameter.format(draw(rng))
    # The distribution shapes the value first, then it snaps to the step lattice (int: step 1).
    return lambda rng: points[points.nearest(draw(rng))]


def encode_rng_state(state: Mapping[str, Any]) -> dict[str, Any]:
    # PCG64's state and increment are 128-bit integers: valid JSON, but a JSON column that stores numbers
    # as doubles (MySQL's) would round them, so they travel as decimal strings.
    inner = state["state"]
    return {**state, "state": {"state": str(inner["state"]), "inc": str(inner["inc"])}}


def decode_rng_state(state: Mapping[str, Any]) -> dict[str, Any]:
    inner = state["state"]
    return {**state, "state": {"state": int(inner["state"]), "inc": int(inner["inc"])}}


class RandomSuggester(Suggester):
    """Independent draws per parameter, re-drawn until the assignment is new."""

    inline = True  # a few numpy draws per suggestion

    def setup(self, state: Mapping[str, Any]) -> None:
        super().setup(state)
        space, settings = self.space, self.settings
        self._rng = np.random.Generator(np.random.PCG64(random_state(settings)))
        if state:
            self._rng.bit_generator.state = decode_rng_state(state["bit_generator"])
        self._names = tuple(p.name for p in space.parameters)
        self._samplers = tuple(_sampler(p, lattice(p)) for p in space.parameters)
        # Only a finite space can run out; the grid lets us find its last unused points.
        self._grid = Grid.of(space)
        self._seen = SeenAssignments(space)

    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        self._seen.update(trials)
        suggestions: list[Suggestion] = []
        unused: list[int] | None = None
        for _ in range(n):
            values = self._draw_new()
            if values is None:
                # Re-drawing keeps failing only when nearly every point is used; listing the rest tells a
                # space that is used up from one that is merely unlucky to draw from.
                if self._grid is None or self._grid.size > LISTING_LIMIT:
                    break  # never lists: an infinite space does not collide 100 times in a row
                if unused is None:
                    unused = [i for i in range(self._grid.size) if self._grid.point(i) not in self._seen]
                values = self._pick(self._grid, unused)
                if values is None:
                    break  # the finite space is used up
            self._seen.add(values)
            suggestions.append(Suggestion(dict(zip(self._names, values, strict=True))))
        return suggestions

    def state(self) -> dict[str, Any]:
        return {"bit_generator": encode_rng_state(self._rng.bit_generator.state)}

    def _draw_new(self) -> tuple[str, ...] | None:
        for _ in range(MAX_ATTEMPTS):
            values = tuple(sample(self._rng) for sample in self._samplers)
            if values not in self._seen:
                return values
        return None

    def _pick(self, grid: Grid, unused: list[int]) -> tuple[str, ...] | None:
        """A uniform choice among the unused grid indices; ``unused`` shrinks in place."""
        # Drop points taken since the list was made (by a lucky re-draw), keeping index order so that the
        # choice is the same as from a freshly made list: the stream must not depend on batching.
        unused[:] = [index for index in unused if grid.point(index) not in self._seen]
        if not unused:
            return None
        return grid.point(unused.pop(int(self._rng.integers(len(unused)))))
