"""Persistence: experiments, trials, the observation log and algorithm state in any SQLAlchemy database.

``Store`` is the API; the records are plain dataclasses; the schema lives in ``models`` and is created and
upgraded by the Alembic migrations shipped in ``migrations/`` whenever a Store opens a database.
"""

from pykatib.store._engine import error_line, shown_url, sqlite_file
from pykatib.store.errors import (
    ExperimentExistsError,
    ExperimentNotFoundError,
    ExperimentOwnedError,
    KubeObjectExistsError,
    SchemaVersionError,
    StoreError,
    TrialExistsError,
    TrialNotFoundError,
)
from pykatib.store.lease import LEASE_SECONDS, RENEW_SECONDS, Lease, LeaseOwner
from pykatib.store.records import (
    ExperimentRecord,
    KubeObjectRecord,
    MetricStats,
    NewTrial,
    ObservationRow,
    TrialPhase,
    TrialRecord,
)
from pykatib.store.store import (
    DEFAULT_URL,
    BatchOutcome,
    Store,
    TrialUpdate,
    experiment_dir,
    open_store,
    workdir_url,
)

__all__ = [
    "DEFAULT_URL",
    "LEASE_SECONDS",
    "RENEW_SECONDS",
    "BatchOutcome",
    "ExperimentExistsError",
    "ExperimentNotFoundError",
    "ExperimentOwnedError",
    "ExperimentRecord",
    "KubeObjectExistsError",
    "KubeObjectRecord",
    "Lease",
    "LeaseOwner",
    "MetricStats",
    "NewTrial",
    "ObservationRow",
    "SchemaVersionError",
    "Store",
    "StoreError",
    "TrialExistsError",
    "TrialNotFoundError",
    "TrialPhase",
    "TrialRecord",
    "TrialUpdate",
    "error_line",
    "experiment_dir",
    "open_store",
    "shown_url",
    "sqlite_file",
    "workdir_url",
]
