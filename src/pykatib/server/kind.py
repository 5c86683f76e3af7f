"""What the API layer asks of each kind it serves (``Kind``), and what it knows before listing (``ListQuery``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pykatib.server.kube.errors import bad_request


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
