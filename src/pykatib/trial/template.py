"""``${trialParameters.X}`` substitution in a v1beta1 trialSpec (docs/katib-compatibility.md, "Trial templates").

Katib serialises the trialSpec to JSON text and replaces the placeholders in that text, so a value with
a quote in it breaks the document. pykatib replaces inside each string of the parsed object instead:
the result is the same for every value Katib handles, and any value (``"; rm -rf /"``, quotes,
newlines) stays one harmless string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

PARAMETER_PLACEHOLDER = re.compile(r"\$\{trialParameters\.([^}]+)\}")
META_REFERENCE = re.compile(r"^\$\{trialSpec\.(.+)\}$")
META_INDEXED = re.compile(r"^(.+)\[(.+)\]$")
META_KEYS = ("Name", "Namespace", "Kind", "APIVersion", "Labels", "Annotations")


def placeholder(name: str) -> str:
    return "${trialParameters." + name + "}"


def parse_meta_reference(reference: str) -> tuple[str, str | None] | None:
    """``${trialSpec.Labels[app]}`` -> ("Labels", "app"); ``${trialSpec.Name}`` -> ("Name", None)."""
    match = META_REFERENCE.match(reference)
    if not match:
        return None
    key = match.group(1)
    if key in META_KEYS:
        return key, None
    indexed = META_INDEXED.match(key)
    if indexed and indexed.group(1) in ("Labels", "Annotations"):
        return indexed.group(1), indexed.group(2)
    return None


def _map_strings(obj: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return fn(obj)
    if isinstance(obj, Mapping):
        return {(fn(k) if isinstance(k, str) else k): _map_strings(v, fn) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_map_strings(v, fn) for v in obj]
    return obj


def find_placeholders(obj: Any) -> list[str]:
    """Every ``${trialParameters.X}`` name used in the object, in order of first use."""
    found: dict[str, None] = {}

    def collect(text: str) -> str:
        for match in PARAMETER_PLACEHOLDER.finditer(text):
            found.setdefault(match.group(1), None)
        return text

    _map_strings(obj, collect)
    return list(found)


def substitute(obj: Any, values: Mapping[str, str]) -> Any:
    """Replace each ``${trialParameters.X}`` whose X is in ``values``; others are left as they are."""

    def replace(text: str) -> str:
        if "${" not in text:
            return text
        return PARAMETER_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)

    return _map_strings(obj, replace)
