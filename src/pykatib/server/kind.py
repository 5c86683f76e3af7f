"""What the API layer asks of each kind it serves (``Kind``), and what it knows before listing (``ListQuery``)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from pykatib.server.kube.errors import bad_request

# Kubernetes' generateName: the prefix (cut to 58 characters) and 5 characters of this alphabet (no vowels,
# no look-alikes); a name taken already is drawn again, up to GENERATE_ATTEMPTS times (create_named).
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
GENERATE_ATTEMPTS = 8
T = TypeVar("T")


@dataclass
class ListQuery:
    """What the API layer knows before listing: a name or experiment the selectors pin down, and whether
    whole objects are needed (a Table needs only metadata and the printer columns)."""

    name: str | None = None
    experiment: str | None = None
    trial: str | None = None
    full: bool = True


@dataclass
class Kind:
    """A kind's operations; each raises KubeError for what the client did wrong."""

    listing: Callable[[str | None, ListQuery], list[dict[str, Any]]]
    get: Callable[[str | None, str], dict[str, Any]]
    create: Callable[[str | None, dict[str, Any]], dict[str, Any]] | None = None
    # A create's checks without the create (``?dryRun=All``): what create would answer, nothing stored.
    dry_run: Callable[[str | None, dict[str, Any]], dict[str, Any]] | None = None
    replace: Callable[[str | None, str, dict[str, Any]], dict[str, Any]] | None = None
    delete: Callable[[str | None, str], dict[str, Any]] | None = None
    # Fills in what listing() left out for a Table (trial metrics and run specs), for the page only.
    complete: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
    # One page read from the store, and how many there are in all: for a list that needs no other filter.
    page: Callable[[str | None, ListQuery, int, int | None], tuple[list[dict[str, Any]], int]] | None = None


def metadata_of(body: dict[str, Any]) -> dict[str, Any]:
    """The body's metadata (empty when absent); 400 when it is not an object."""
    metadata = body.get("metadata")
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise bad_request(f"metadata must be an object, got {type(metadata).__name__}")
    return metadata


def generate_prefix(metadata: dict[str, Any]) -> str | None:
    """``metadata.generateName`` when the name is to be generated (no ``name`` given), else None."""
    prefix = metadata.get("generateName")
    if metadata.get("name") or not prefix:
        return None
    if not isinstance(prefix, str):
        raise bad_request(f"metadata.generateName must be a string, got {type(prefix).__name__}")
    return prefix


def generated_name(prefix: str) -> str:
    """A name from ``generateName``, as the Kubernetes API server makes one."""
    return prefix[:58] + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))


def create_named(
    create: Callable[[str], T],
    name: str,
    prefix: str | None,
    taken: type[Exception],
    conflict: Callable[[str], Exception],
) -> T:
    """``create(name)``; a generated name (``prefix`` given) taken already is drawn again, up to
    GENERATE_ATTEMPTS times; ``conflict(name)`` is raised for a name that stays taken."""
    for attempt in range(1, GENERATE_ATTEMPTS + 1):
        try:
            return create(name)
        except taken as exc:
            if prefix is None or attempt == GENERATE_ATTEMPTS:
                raise conflict(name) from exc
            name = generated_name(prefix)  # the same length: still a valid name
    raise AssertionError("unreachable")
