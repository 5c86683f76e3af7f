"""Errors the Store raises: the controller, API and CLI catch these, never a driver's exception."""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the Store raises on purpose."""


class ExperimentExistsError(StoreError):
    """An experiment with this name already exists in this namespace."""


class ExperimentNotFoundError(StoreError):
    """No experiment has this id (it was never created, or it was deleted)."""


class ExperimentOwnedError(StoreError):
    """Another live controller holds the experiment's owner lease; the message names it."""


class TrialExistsError(StoreError):
    """A trial with this name already exists (trial names are unique across the whole store)."""


class TrialNotFoundError(StoreError):
    """No trial has this id."""


class SchemaVersionError(StoreError):
    """The database's schema is at a revision this pykatib cannot migrate (usually: made by a newer pykatib)."""


class StoreUnavailableError(StoreError):
    """The database cannot be opened or reached (bad URL, unknown dialect or driver, server down, a SQLite path
    that is a folder or not a database). The message names the URL, password hidden, and what to check."""


class StoreFileChangedError(StoreUnavailableError):
    """The SQLite file a running Store opened was deleted or replaced by another file (``Store.check_file``):
    what is written from then on would not reach the file at that path."""


class KubeObjectExistsError(StoreError):
    """An object of that kind, namespace and name is already stored."""
