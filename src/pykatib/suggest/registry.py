"""Katib's ``algorithmName`` -> the suggester class that runs it, as the one algorithm registry
(``spec.settings``: name -> settings rules -> implementation) names it. Adding an algorithm: one module,
and its table in ``spec._settings_algorithms`` naming the class."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from pykatib.spec.models import ExperimentSpec, ObjectiveType
from pykatib.spec.settings import (
    ALGORITHM_NAMES,
    algorithm_implementation,
    algorithm_settings,
    load_implementation,
)
from pykatib.spec.space import SearchSpace, hyperband_resource, parse_search_space
from pykatib.suggest.base import AlgorithmNotAvailableError, Suggester

# The library-backed algorithms' packages are dependencies of pykatib itself: a missing one is a broken install.
_REINSTALL = "reinstall pykatib with its dependencies: pip install pykatib"
# Except those of an optional extra (package -> extra): torch for the NAS algorithms.
_EXTRAS = {"torch": "nas"}


class _Suggesters(Mapping[str, type[Suggester]]):
    """name -> class, for the algorithms pykatib runs; each class is imported on first use.

    Optuna, scikit-optimize and scikit-learn take a second or two to import: a command that runs no such
    algorithm (``pykatib validate``, a random search) never imports them.
    """

    def __init__(self) -> None:
        self._names = [name for name in ALGORITHM_NAMES if algorithm_implementation(name) is not None]
        self._loaded: dict[str, type[Suggester]] = {}

    def __getitem__(self, name: str) -> type[Suggester]:
        loaded = self._loaded.get(name)
        if loaded is None:
            path = algorithm_implementation(name) if name in self._names else None
            if path is None:
                raise KeyError(name)
            loaded = self._loaded[name] = load_implementation(path)
        return loaded

    def __contains__(self, name: object) -> bool:
        # By name, without importing (Mapping's would): a missing library is create_suggester's to report.
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


SUGGESTERS: Mapping[str, type[Suggester]] = _Suggesters()


def _unavailable(name: str, reason: str) -> AlgorithmNotAvailableError:
    error = AlgorithmNotAvailableError(name)
    error.args = (f"algorithm {name} is not available: {reason}",)
    return error


class AlgorithmRefusedError(AlgorithmNotAvailableError):
    """The algorithm cannot run this experiment as written (Katib's service refuses it when it validates);
    the message names the field. Refused before any trial starts, as an unavailable algorithm is."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(name)
        self.args = (f"algorithm {name} cannot run this experiment: {message}",)


def create_suggester(
    algorithm_name: str,
    space: SearchSpace,
    objective: ObjectiveType,
    settings: Mapping[str, object],
    state: Mapping[str, Any] | None = None,
) -> Suggester:
    """A suggester for one experiment; ``settings`` are the typed ones from ``algorithm_settings``.

    Raises :class:`AlgorithmNotAvailableError` for a Katib algorithm not implemented yet (its settings
    still validate) or whose library is not installed, and ``ValueError`` for a name Katib does not know.
    """
    if algorithm_name in SUGGESTERS:
        try:
            suggester = SUGGESTERS[algorithm_name]
        except ImportError as error:
            extra = _EXTRAS.get(str(error.name).split(".")[0])
            install = f"pip install 'pykatib[{extra}]'" if extra else _REINSTALL
            missing = f"it needs {error.name or error}, not installed ({install})"
            raise _unavailable(algorithm_name, missing) from error
        return suggester(space, objective, settings, state)
    if algorithm_name in ALGORITHM_NAMES:
        raise AlgorithmNotAvailableError(algorithm_name)
    raise ValueError(f'unknown algorithm "{algorithm_name}"; known algorithms: {", ".join(ALGORITHM_NAMES)}')


def experiment_suggester(spec: ExperimentSpec, state: Mapping[str, Any] | None = None) -> Suggester:
    """The suggester of a validated experiment: its algorithm, parameters, objective type and settings."""
    assert spec.algorithm is not None and spec.algorithm.algorithm_name
    assert spec.objective is not None and spec.objective.type is not None
    name = spec.algorithm.algorithm_name
    space, _ = parse_search_space(spec.parameters or [], fixed_range=hyperband_resource(spec))
    settings = algorithm_settings(name, spec.algorithm.algorithm_settings or [])
    if spec.nas_config is not None:
        # NAS algorithms (enas, darts) read the architecture's search space, and, as Katib's services do, the
        # settings as written: both under their Katib names.
        raw = spec.algorithm.algorithm_settings or []
        settings = {**settings, "nasConfig": spec.nas_config, "algorithmSettings": raw}
    return create_suggester(name, space, spec.objective.type, settings, state)
