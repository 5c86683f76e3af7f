"""The interface every suggestion algorithm implements, and the bookkeeping they all need.

The controller keeps one :class:`Suggester` per running experiment and asks it for new assignments; it
persists :meth:`Suggester.state` after each call so that a restarted controller rebuilds the suggester and
the search goes on as if nothing had happened. An algorithm never touches the store: everything it may
know about the experiment arrives as :class:`TrialResult` values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from pykatib.spec.conditions import FINAL_PHASES, TrialPhase
from pykatib.spec.models import ObjectiveType
from pykatib.spec.space import SearchSpace

# One assignment in a form that compares equal whenever Katib would call two assignments the same:
# values in the space's parameter order, numbers normalised ("0.010" and "0.01" are one value).
AssignmentKey = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class TrialResult:
    """What an algorithm sees of a trial."""

    name: str
    assignment: Mapping[str, str]  # parameter name -> Katib string value
    phase: TrialPhase  # active (Created, Running) or one of the final phases
    objective: float | None = None  # the objective metric's value under its strategy, when known
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One new assignment for the controller to turn into a trial."""

    assignment: dict[str, str]
    labels: dict[str, str] = field(default_factory=dict)


class AlgorithmNotAvailableError(RuntimeError):
    """A Katib algorithm name that pykatib knows (its settings validate) but cannot run yet."""

    def __init__(self, name: str) -> None:
        super().__init__(f"algorithm {name} is not available yet")
        self.algorithm_name = name


class Suggester(ABC):
    """One instance per experiment, alive while it runs; rebuilt from its state() after a restart.

    Contract of :meth:`suggest`:

    * ``trials`` is every trial of the experiment so far, in creation order, whatever its phase (an
      algorithm that must ignore some phases filters them itself). The list only grows between calls, so
      an algorithm may keep a cursor and read only the trials it has not seen yet.
    * It returns up to ``n`` new assignments, distinct from each other and from every trial in ``trials``
      (active ones included) wherever the search space allows.
    * Fewer than ``n`` (or ``[]``) means the search space is exhausted: the controller then ends the
      experiment with ExperimentSuggestionEndReached. The one other reason allowed is a pause until active
      trials end, which :meth:`waiting` then reports.

    :meth:`state` is JSON-serialisable and persisted after each :meth:`suggest` call. A suggester built
    with that state and then given the same trials continues exactly where the old one stopped.

    :attr:`inline` says whether :meth:`suggest` is cheap enough for the controller's event loop.
    """

    # suggest() takes microseconds: the controller calls it on its event loop instead of a thread (the hand-off
    # would cost more than the call). False, the default, for anything that fits a model or may take long.
    inline: ClassVar[bool] = False

    def __init__(
        self,
        space: SearchSpace,
        objective: ObjectiveType,
        settings: Mapping[str, object],
        state: Mapping[str, Any] | None = None,
    ) -> None:
        self.space = space
        self.objective = objective
        self.settings = dict(settings)
        self.setup(state or {})

    def setup(self, state: Mapping[str, Any]) -> None:  # noqa: B027 (an optional hook: random needs nothing more)
        """Build the algorithm, continuing where ``state`` (what :meth:`state` returned before a restart; empty
        for a new experiment) left off. Subclasses build themselves here, not in ``__init__``: the constructor
        is the same for every algorithm (the registry calls it) and is written once."""

    def number(self, name: str, default: float | None = None) -> float:
        """A numeric setting: validation's table parsed it to a number (TypeError for anything else)."""
        value = self.settings.get(name, default)
        if not isinstance(value, int | float):
            raise TypeError(f"setting {name} must be a number, got {value!r}")
        return float(value)

    def integer(self, name: str, default: int | None = None) -> int:
        """An integer setting, as :meth:`number`."""
        value = self.settings.get(name, default)
        if not isinstance(value, int):
            raise TypeError(f"setting {name} must be an integer, got {value!r}")
        return value

    @abstractmethod
    def suggest(self, n: int, trials: Sequence[TrialResult]) -> list[Suggestion]:
        """Up to ``n`` new assignments; fewer means the search space is exhausted."""

    def state(self) -> dict[str, Any]:
        """What a rebuilt suggester needs to continue the same search (JSON-serialisable)."""
        return {}

    def waiting(self) -> bool:
        """Whether the last :meth:`suggest` returned fewer than asked because it needs the results of trials
        still active first (hyperband between rungs): a pause, not the end of the search space."""
        return False


def random_state(settings: Mapping[str, object]) -> int | None:
    """The ``random_state`` setting as typed by ``algorithm_settings`` (an int, or None for OS entropy)."""
    seed = settings.get("random_state")
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int | str):
        raise TypeError(f"random_state must be an integer, got {seed!r}")
    return int(seed)


def assignment_key(space: SearchSpace, assignment: Mapping[str, str]) -> AssignmentKey:
    """The identity of an assignment within ``space``; names outside the space are ignored."""
    key: list[str | None] = []
    for parameter in space.parameters:
        value = assignment.get(parameter.name)
        if value is not None and parameter.is_numeric:
            # Trials may come from elsewhere (an edited trial, an older pykatib) with "3.0" or "0.010":
            # reformatting gives the string this project's own suggestions use for the same number.
            # A value that is no number ("nan" for an int, "abc") stays as written: it matches only itself.
            with suppress(ValueError, OverflowError):
                value = parameter.format(float(value))
        key.append(value)
    return tuple(key)


Note = TypeVar("Note")


class TrialFeed(Generic[Note]):
    """Reads the controller's trial list a step at a time, for an algorithm told only what is new: the trials
    that appeared since the last read, and those of the watched (active) ones that have ended since, each
    with the note kept when it was watched (its Optuna trial number, its point).

    The list only grows at its end (the Suggester contract), so indices are used; should it ever not (a
    caller building its own list), names are trusted instead and indices rebuilt.
    """

    def __init__(self) -> None:
        self.watched: dict[str, tuple[int, Note]] = {}  # name -> (index in the list, note)
        self._known: set[str] = set()
        self._read = 0
        self._last_name: str | None = None

    def read(self, trials: Sequence[TrialResult]) -> tuple[list[tuple[int, Note]], list[int]]:
        """(index and note of each watched trial that has ended, indices of the trials not seen before)."""
        if self._read and (len(trials) < self._read or trials[self._read - 1].name != self._last_name):
            index = {trial.name: i for i, trial in enumerate(trials)}
            self.watched = {name: (index[name], note) for name, (_, note) in self.watched.items() if name in index}
            fresh = [i for i, trial in enumerate(trials) if trial.name not in self._known]
        else:
            fresh = list(range(self._read, len(trials)))
        ended = []
        for name, (i, note) in list(self.watched.items()):
            if trials[i].phase in FINAL_PHASES:
                del self.watched[name]
                ended.append((i, note))
        self._known.update(trials[i].name for i in fresh)
        self._read = len(trials)
        self._last_name = trials[-1].name if trials else None
        return ended, fresh

    def watch(self, trial: TrialResult, index: int, note: Note) -> None:
        """Follow an active trial until it ends."""
        self.watched[trial.name] = (index, note)


class SeenAssignments:
    """The assignments an experiment already holds, updated by reading only trials not read before.

    Re-reading the whole history on every call would make a long experiment quadratic.
    """

    def __init__(self, space: SearchSpace) -> None:
        self._space = space
        self._keys: set[AssignmentKey] = set()
        self._read = 0
        self._last_name: str | None = None

    def update(self, trials: Sequence[TrialResult]) -> None:
        """Take in the trials appended since the last call."""
        if self._read and (len(trials) < self._read or trials[self._read - 1].name != self._last_name):
            # Not the same history grown at its end (a caller that filtered or reordered it): the cursor
            # would skip trials, so read everything again. Assignments suggested but never created are
            # forgotten, which is harmless: nothing in the experiment holds them.
            self._keys.clear()
            self._read = 0
        for trial in trials[self._read :]:
            self._keys.add(assignment_key(self._space, trial.assignment))
        self._read = len(trials)
        self._last_name = trials[-1].name if trials else None

    def add(self, key: AssignmentKey) -> None:
        """Record an assignment just suggested, before it shows up as a trial."""
        self._keys.add(key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)
