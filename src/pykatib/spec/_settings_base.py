"""The pieces every algorithm's settings table is built from.

A table maps a setting name to a :class:`Setting` (how to parse the string Katib stores, and the default);
an :class:`AlgorithmRules` adds the rules that look at the whole experiment (its parameters, its trial
counts). Parsers raise :class:`SettingValueError` with the message the user sees; the caller attaches
the field path, so a parser never needs to know where its value came from.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pykatib.spec.errors import SpecError
from pykatib.spec.models import ParameterSpec
from pykatib.spec.space import SearchSpace

# Python's int() also takes "1_000" and float() takes "nan"; Katib's Go services (strconv.Atoi) do not,
# and a seed of 1_000 in YAML is more likely a typo than intent. Surrounding blanks are harmless.
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")

# The value Katib's NAS services read as Python's None ("leave this to the library").
NONE_TEXT = "None"


class SettingValueError(ValueError):
    """A setting value that does not parse or is out of range; the message is shown as is."""


# A parser gets the setting's name and its raw string and returns the typed value.
Parser = Callable[[str, str], object]


@dataclass(frozen=True, slots=True)
class Setting:
    """One entry of an algorithm's settings table."""

    parse: Parser
    default: object = None
    # Katib's hyperband and pbt services refuse to start without these; there is no default to fall back on.
    required: bool = False


@dataclass(frozen=True, slots=True)
class SettingsContext:
    """What the whole-experiment rules look at besides the settings themselves."""

    # The parameters that parsed: some may be missing when the user's file has errors elsewhere.
    space: SearchSpace
    # The raw parameter list, for rules that need only names and types and for `spec.parameters[i]` paths.
    parameter_specs: Sequence[ParameterSpec]
    max_trial_count: int | None
    # Already defaulted (Katib's webhook sets 3).
    parallel_trial_count: int
    has_nas_config: bool

    def parameter_index(self, name: str) -> int | None:
        """Index of the first parameter named ``name`` in ``spec.parameters``."""
        return next((i for i, spec in enumerate(self.parameter_specs) if spec.name == name), None)


@dataclass(frozen=True, slots=True)
class ParsedSettings:
    """The settings of one experiment after parsing, for the whole-experiment rules.

    ``values`` holds every valid value given plus the defaults of those not given; a setting whose value
    was rejected is left out, so that a rule never builds on a value the user has already been told is
    wrong.
    """

    base_path: str
    values: dict[str, object]
    index: dict[str, int]

    def value_path(self, name: str) -> str:
        """Path of a given setting's value, or of the settings list when the setting was not given."""
        i = self.index.get(name)
        return self.base_path if i is None else f"{self.base_path}[{i}].value"


# A rule about the experiment as a whole (parameter types, trial counts); it returns every problem found.
Check = Callable[[ParsedSettings, SettingsContext], list[SpecError]]


def _missing_default(names: Sequence[str]) -> str:
    return f"required settings missing: {', '.join(names)}"


@dataclass(frozen=True, slots=True)
class AlgorithmRules:
    """An algorithm's settings table, its optional whole-experiment rule, and what runs it."""

    settings: Mapping[str, Setting]
    check: Check | None = None
    # "module:Class" of the suggester or early-stopping rule that runs the algorithm (imported only when an
    # experiment uses it: the spec package names its implementations but never imports them); None for a
    # Katib algorithm pykatib validates but cannot run yet.
    implementation: str | None = None
    # ENAS and DARTS search an architecture described by spec.nasConfig instead of spec.parameters.
    nas: bool = False
    # How to word the error for required settings that were not given (Katib's services differ).
    missing_message: Callable[[Sequence[str]], str] = field(default=_missing_default)


def _format(template: str, name: str, value: object) -> str:
    return template.format(name=name, value=value)


def integer(
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    message: str | None = None,
    maximum_message: str | None = None,
    allow_none: bool = False,
) -> Parser:
    """An integer in [minimum, maximum]. Messages may use ``{name}`` and ``{value}``."""

    def parse(name: str, raw: str) -> object:
        if allow_none and raw == NONE_TEXT:
            return None
        if not _INTEGER.fullmatch(raw):
            raise SettingValueError(f'value "{raw}" for setting {name} must be an integer')
        value = int(raw)
        if minimum is not None and value < minimum:
            text = message or "{name} must be greater than or equal to " + f"{minimum}, got {{value}}"
            raise SettingValueError(_format(text, name, value))
        if maximum is not None and value > maximum:
            text = maximum_message or "{name} must be less than or equal to " + f"{maximum}, got {{value}}"
            raise SettingValueError(_format(text, name, value))
        return value

    return parse


def number(
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    message: str | None = None,
    allow_none: bool = False,
) -> Parser:
    """A finite float within the given bounds (each closed unless ``*_open``)."""

    def parse(name: str, raw: str) -> object:
        if allow_none and raw == NONE_TEXT:
            return None
        try:
            if "_" in raw:  # float() reads "1_0" as 10: a typo, not a number
                raise ValueError(raw)
            value = float(raw)
        except ValueError:
            raise SettingValueError(f'value "{raw}" for setting {name} must be a number') from None
        if not math.isfinite(value):
            raise SettingValueError(f'value "{raw}" for setting {name} must be a finite number')
        below = low is not None and (value <= low if low_open else value < low)
        above = high is not None and (value >= high if high_open else value > high)
        if below or above:
            left = "(" if low_open else "["
            right = ")" if high_open else "]"
            bounds = f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"
            text = message or "{name} must be in the range " + bounds + ", got {value}"
            raise SettingValueError(_format(text, name, raw.strip()))
        return value

    return parse


def one_of(options: Sequence[str], message: str) -> Parser:
    """One of a fixed set of words (case-sensitive, as in Katib)."""
    listing = ", ".join(options)

    def parse(name: str, raw: str) -> object:
        if raw not in options:
            raise SettingValueError(f"{_format(message, name, raw)} (supported: {listing})")
        return raw

    return parse


def text(name: str, raw: str) -> object:
    """Any non-blank string, kept as written."""
    if not raw.strip():
        raise SettingValueError(f"setting {name} must not be empty")
    return raw


def random_state() -> Setting:
    """The seed every sampler-based algorithm takes; None lets the library seed from the OS."""
    # Katib only asks for >= 0. numpy's RandomState (behind Optuna and scikit-optimize) also refuses
    # seeds of 2**32 and above, which Katib would accept here and then fail on at the first suggestion.
    return Setting(
        integer(
            minimum=0,
            maximum=2**32 - 1,
            message="random_state should be great or equal than zero",
            maximum_message="random_state must be less than 2^32 (4294967296), got {value}",
        )
    )
