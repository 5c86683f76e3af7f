"""The Store: everything pykatib persists, behind one small API over any SQLAlchemy database.

Each call runs in its own connection and transaction (``engine.begin()`` / ``engine.connect()``), never in a
shared Session, so one Store may be used from many threads (the controller's asyncio worker threads, the
server's request threads). ``transaction()`` and ``batch()`` make several calls of one thread share one
transaction: a commit per call cost more than the statements themselves for the controller's small writes.
Statements are Core, not ORM, and the frequent ones are compiled once per Store and handed to the driver with
values converted here (``_engine.DriverStatement``): the observation log and the controller's per-trial
writes are the hot path, and records are plain dataclasses built from rows.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, TypedDict, Unpack

from sqlalchemy import (
    Connection,
    Engine,
    Row,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError

from pykatib.store import _migrate
from pykatib.store._engine import (
    OBSERVATION_COLUMNS,
    Statements,
    check_file_identity,
    create_store_engine,
    file_identity,
    observation_insert,
    opening_errors,
    shown_url,
    sqlite_file,
)
from pykatib.store._lease_calls import LeaseCalls
from pykatib.store._object_calls import ObjectCalls
from pykatib.store._values import json_copy as _json_copy
from pykatib.store._values import now as _now
from pykatib.store.errors import (
    ExperimentExistsError,
    ExperimentNotFoundError,
    TrialExistsError,
    TrialNotFoundError,
)
from pykatib.store.models import (
    METRIC_NAME_LENGTH,
    algorithm_state,
    experiments,
    observation_logs,
)
from pykatib.store.models import trials as trials_table  # `trials` is create_trials' parameter name
from pykatib.store.records import (
    ExperimentRecord,
    MetricStats,
    NewTrial,
    ObservationRow,
    TrialPhase,
    TrialRecord,
)

DEFAULT_URL = "sqlite:///.pykatib/pykatib.db"
# Up to this many ids are sent in an IN list; more are filtered after the query (SQLite's parameter limit).
_IN_LIST_LIMIT = 1000


def experiment_dir(workdir: Path, namespace: str, name: str) -> Path:
    """Where an experiment's trial directories live under a work directory (absolute: trials run in their own
    directories, where a relative path would mean something else). Keyed by namespace and name, so that
    experiments of the same name in two namespaces never share (or delete) each other's files."""
    return workdir.resolve() / "experiments" / namespace / name


def workdir_url(workdir: Path) -> str:
    """The SQLite store inside a pykatib work directory (``--workdir``): the CLI's default ``--db``."""
    return f"sqlite:///{workdir / 'pykatib.db'}"


def open_store(db_url: str | None, workdir: Path) -> Store:
    """The store of ``--db``, or the default one inside ``--workdir``. Only the default creates its directory
    (the workdir): an explicit SQLite path whose directory is missing is a typo, refused (StoreError)."""
    if not db_url:
        return Store(workdir_url(workdir))
    return Store(db_url, create_folder=False)


class TrialUpdate(TypedDict, total=False):
    """The trial fields the controller may change after creation (``Store.update_trial``)."""

    phase: TrialPhase | str
    reason: str | None
    message: str | None
    start_time: datetime | None
    completion_time: datetime | None
    exit_code: int | None
    pid: int | None
    work_dir: str | None
    objective_value: float | None
    labels: dict[str, str]


_TRIAL_UPDATE_FIELDS = frozenset(TrialUpdate.__annotations__)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one call of ``Store.batch`` returned (``value``), or the error it raised (``error``)."""

    value: Any = None
    error: Exception | None = None


class Store(LeaseCalls, ObjectCalls):
    """pykatib's persistence: experiments, trials, the observation log and algorithm state.

    ``url`` is any SQLAlchemy URL (default: ``sqlite:///.pykatib/pykatib.db`` under the current directory).
    Opening creates the schema of a new database and upgrades an older one; a current one costs one query.
    """

    def __init__(self, url: str | None = None, *, create_folder: bool = True) -> None:
        """Open (and create or migrate) the database at ``url``. A database that cannot be opened raises
        StoreUnavailableError with a one-line message (the URL with its password hidden, what to check).
        ``create_folder=False``: a SQLite file's directory must exist already (an explicit path with a typo
        should be refused, not become a new, empty database)."""
        self.url: str = url or DEFAULT_URL
        self._engine: Engine = create_store_engine(self.url, create_folder=create_folder)
        # Writes on SQLite take the write lock at BEGIN (see _engine._install_sqlite_settings); others ignore it.
        self._writer: Engine = self._engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self._observation_insert = observation_insert(self._engine)
        self._sql = Statements(self._engine)
        self._local = threading.local()  # .conn: the connection of this thread's transaction() block
        try:
            with opening_errors(self.url):
                _migrate.upgrade(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        # The SQLite file as opened (the migration created a new one by now), for check_file.
        file = sqlite_file(self.url)
        self._file: Path | None = file.absolute() if file is not None else None
        self._file_identity = file_identity(self._file) if self._file is not None else None

    def close(self) -> None:
        """Close the pooled connections (connections in use are closed when returned)."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({make_url(self.url).render_as_string(hide_password=True)!r})"

    @property
    def shown_url(self) -> str:
        """The URL as messages show it: its password hidden."""
        return shown_url(self.url)

    def check_file(self) -> None:
        """Raise StoreFileChangedError when this Store's SQLite file was deleted, or another file now has its path
        (replaced, restored from a copy), since it was opened. SQLite would carry on writing to the file it
        has open, unlinked or not, and everything written would vanish with the process; a long-running
        caller (the controller's heartbeat) calls this to stop instead. One stat(); a no-op for a server
        database, ``:memory:`` and ``file:`` URIs."""
        if self._file is not None:
            check_file_identity(self._file, self._file_identity)

    # transactions

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Every Store call this thread makes inside the block is part of one transaction, committed when the
        block ends and rolled back whole when it raises. Reads inside see the block's writes; other threads
        and processes see them only after the commit. A nested block joins the outer one.

        Inside the block a call that breaks a constraint raises the database's own error (IntegrityError),
        not ExperimentExistsError and the like: on PostgreSQL the failed statement has aborted the
        transaction, so the Store cannot look up what was wrong. ``batch()`` gives the precise errors.
        """
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with _plain_value_errors(), self._writer.begin() as conn:
            self._local.conn = conn
            try:
                yield
            finally:
                self._local.conn = None

    def batch(self, calls: Sequence[Callable[[], Any]]) -> list[BatchOutcome]:
        """Run calls of this Store's methods (``lambda: store.update_trial(...)``) in order, in one transaction,
        and return what each returned or raised. The common case costs one commit for all of them.

        When one call fails, the transaction is rolled back and the calls run again on their own, in order, each
        in its own transaction, as a caller making them one by one would, stopping at the first failure: the
        calls before it land, it reports its own precise error, and the calls after it are not run and report
        the same error. (A trial's end written after its observations must not land when they did not: the
        store would say Succeeded with observations missing.) Calls must therefore be safe to run again after
        a rollback (Store calls are). When the commit fails, every call reports that error and none runs again.
        """
        if self._in_transaction():  # inside a transaction() block: part of it, and failing with it
            return [BatchOutcome(call()) for call in calls]
        if len(calls) > 1:
            values: list[Any] = []
            call_failed = False
            try:
                with self.transaction():
                    for call in calls:
                        try:
                            values.append(call())
                        except Exception:
                            call_failed = True
                            raise
            except Exception as error:
                if not call_failed:
                    # The commit itself (or the connection) failed: whether it landed is unknown, so nothing
                    # runs again (observations inserted twice would be counted twice); every call fails.
                    return [BatchOutcome(error=error)] * len(calls)
                # One call failed and took the transaction with it: all run again below, one by one.
            else:
                return [BatchOutcome(value) for value in values]
        outcomes: list[BatchOutcome] = []
        for call in calls:
            try:
                outcomes.append(BatchOutcome(call()))
            except Exception as error:
                return outcomes + [BatchOutcome(error=error)] * (len(calls) - len(outcomes))
        return outcomes

    # experiments

    def create_experiment(self, name: str, namespace: str, spec: dict[str, Any]) -> ExperimentRecord:
        """Create an experiment with an empty status; ExperimentExistsError if ``namespace/name`` exists."""
        now = _now()
        status: dict[str, Any] = {}
        try:
            with self._write() as conn:
                result = conn.execute(
                    insert(experiments).values(
                        name=name, namespace=namespace, spec=spec, status=status, created_at=now, updated_at=now
                    )
                )
        except IntegrityError as error:
            if self._in_transaction():
                raise
            # The only constraint a well-formed row can break is unique(name, namespace).
            raise ExperimentExistsError(f"experiment {namespace}/{name} already exists") from error
        key = result.inserted_primary_key
        assert key is not None  # an INSERT of one row always has its key
        experiment_id = key[0]
        return ExperimentRecord(experiment_id, name, namespace, _json_copy(spec), status, now, now)

    def get_experiment(self, name: str, namespace: str = "default") -> ExperimentRecord | None:
        with self._read() as conn:
            row = conn.execute(
                select(experiments).where(experiments.c.name == name, experiments.c.namespace == namespace)
            ).first()
        return None if row is None else _experiment(row)

    def list_experiments(self, namespace: str | None = None) -> list[ExperimentRecord]:
        """All experiments (of one namespace if given) in creation order."""
        stmt = select(experiments).order_by(experiments.c.id)
        if namespace is not None:
            stmt = stmt.where(experiments.c.namespace == namespace)
        with self._read() as conn:
            return [_experiment(row) for row in conn.execute(stmt)]

    def update_experiment(
        self, experiment_id: int, *, status: dict[str, Any] | None = None, spec: dict[str, Any] | None = None
    ) -> None:
        """Replace the status and/or spec document; ``updated_at`` always moves."""
        values: dict[str, Any] = {"id_": experiment_id, "updated_at_": _now()}
        fields = ["updated_at"]
        if status is not None:
            values["status_"] = status
            fields.append("status")
        if spec is not None:
            values["spec_"] = spec
            fields.append("spec")
        with self._write() as conn:
            result = self._sql.update(experiments, tuple(fields)).execute(conn, values)
        if result.rowcount == 0:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id}")

    def delete_experiment(self, experiment_id: int) -> None:
        """Delete an experiment with its trials, observations and algorithm state (foreign-key cascades)."""
        with self._write() as conn:
            result = conn.execute(delete(experiments).where(experiments.c.id == experiment_id))
        if result.rowcount == 0:
            raise ExperimentNotFoundError(f"no experiment with id {experiment_id}")

    # trials

    def create_trials(self, experiment_id: int, trials: Sequence[NewTrial]) -> list[TrialRecord]:
        """Create trials in one transaction: all or none. TrialExistsError if a name is taken."""
        if not trials:
            return []
        names = [trial.name for trial in trials]
        duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
        if duplicates:
            raise TrialExistsError(f"trial names repeated in one batch: {', '.join(duplicates)}")
        now = _now()
        rows = [
            {
                "experiment_id_": experiment_id,
                "name_": trial.name,
                "parameter_assignments_": _json_copy(trial.parameter_assignments),
                "labels_": _json_copy(trial.labels),
                "phase_": TrialPhase(trial.phase).value,
                "work_dir_": trial.work_dir,
                "created_at_": now,
                "updated_at_": now,
            }
            for trial in trials
        ]
        try:
            with self._write() as conn:
                self._sql.insert_trials.execute_many(conn, rows)
                # Names are unique, so they identify the new rows on every backend (no RETURNING needed).
                found = self._sql.trial_ids(len(names)).execute(conn, {f"n{i}": n for i, n in enumerate(names)})
                ids: dict[str, int] = {m["name"]: m["id"] for m in found.mappings()}
        except IntegrityError as error:
            if self._in_transaction():
                raise
            if not self._experiment_id_exists(experiment_id):
                raise ExperimentNotFoundError(f"no experiment with id {experiment_id}") from error
            with self._read() as conn:
                taken = sorted(conn.scalars(select(trials_table.c.name).where(trials_table.c.name.in_(names))))
            raise TrialExistsError(f"trial names already taken: {', '.join(taken)}") from error
        return [
            TrialRecord(
                id=ids[row["name_"]],
                experiment_id=experiment_id,
                name=row["name_"],
                parameter_assignments=row["parameter_assignments_"],
                labels=row["labels_"],
                phase=TrialPhase(row["phase_"]),
                reason=None,
                message=None,
                created_at=now,
                start_time=None,
                completion_time=None,
                exit_code=None,
                pid=None,
                work_dir=row["work_dir_"],
                objective_value=None,
                updated_at=now,
            )
            for row in rows
        ]

    def update_trial(self, trial_id: int, **fields: Unpack[TrialUpdate]) -> None:
        """Set some of: phase, reason, message, start_time, completion_time, exit_code, pid, work_dir,
        objective_value, labels (replaced whole). Passing None clears a nullable field."""
        unknown = set(fields) - _TRIAL_UPDATE_FIELDS
        if unknown:
            raise TypeError(f"update_trial() got fields it cannot change: {', '.join(sorted(unknown))}")
        if not fields:
            return
        values: dict[str, Any] = dict(fields)
        if "phase" in values:
            values["phase"] = TrialPhase(values["phase"]).value
        if "labels" in values and not isinstance(values["labels"], dict):
            raise TypeError(f"labels must be a dict, got {values['labels']!r}")
        objective = values.get("objective_value")
        if objective is not None and not math.isfinite(objective):
            # SQLite would store NaN as NULL and MySQL refuses it: reject it the same way everywhere.
            raise ValueError(f"objective_value must be finite, got {objective!r}")
        values["updated_at"] = _now()
        names = tuple(sorted(values))
        params = {f"{name}_": values[name] for name in names}
        params["id_"] = trial_id
        with self._write() as conn:
            result = self._sql.update(trials_table, names).execute(conn, params)
        if result.rowcount == 0:
            raise TrialNotFoundError(f"no trial with id {trial_id}")

    def list_trials(self, experiment_id: int, *, offset: int = 0, limit: int | None = None) -> list[TrialRecord]:
        """The experiment's trials in creation order; ``offset``/``limit``: one page of them (the server's)."""
        stmt = select(trials_table).where(trials_table.c.experiment_id == experiment_id).order_by(trials_table.c.id)
        if offset:
            stmt = stmt.offset(offset)
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._read() as conn:
            return [_trial(row) for row in conn.execute(stmt)]

    def trials_changed_since(self, experiment_id: int, since: datetime) -> list[TrialRecord]:
        """The experiment's trials whose row changed at or after ``since`` (a row from before migration 0003: by
        its creation), and those still to run or running, whose observations arrive without changing their row;
        in creation order. What a live view reads again every few seconds, instead of every trial."""
        t = trials_table
        changed = func.coalesce(t.c.updated_at, t.c.created_at)
        active = [phase.value for phase in (TrialPhase.CREATED, TrialPhase.RUNNING)]
        stmt = (
            select(t)
            .where(t.c.experiment_id == experiment_id, (changed >= since) | t.c.phase.in_(active))
            .order_by(t.c.id)
        )
        with self._read() as conn:
            return [_trial(row) for row in conn.execute(stmt)]

    def observation_series(
        self, experiment_id: int, metric_name: str, trial_ids: Sequence[int] | None = None
    ) -> tuple[list[int], list[float]]:
        """One metric's observations of the experiment's trials (of ``trial_ids`` only, when given) as two
        parallel lists, trial ids and values, ordered by trial, then time, then insertion: every trial's reports
        in order, in one query that the (trial_id, metric_name, time) index answers without a sort. Numbers only:
        a text value (a genotype) has no place on a curve."""
        obs = observation_logs
        of_experiment = select(trials_table.c.id).where(trials_table.c.experiment_id == experiment_id)
        stmt = (
            select(obs.c.trial_id, obs.c.value)
            .where(obs.c.trial_id.in_(of_experiment), obs.c.metric_name == metric_name, obs.c.value.is_not(None))
            .order_by(obs.c.trial_id, obs.c.metric_name, obs.c.time, obs.c.id)
        )
        wanted: set[int] | None = None
        if trial_ids is not None:
            if not trial_ids:
                return [], []
            if len(trial_ids) <= _IN_LIST_LIMIT:
                stmt = stmt.where(obs.c.trial_id.in_(list(trial_ids)))
            else:
                wanted = set(trial_ids)
        ids: list[int] = []
        values: list[float] = []
        with self._read() as conn:
            for trial_id, value in conn.execute(stmt):
                if wanted is None or trial_id in wanted:
                    ids.append(trial_id)
                    values.append(value)
        return ids, values

    def count_trials(self, experiment_id: int) -> int:
        with self._read() as conn:
            query = select(func.count()).select_from(trials_table).where(trials_table.c.experiment_id == experiment_id)
            return int(conn.scalar(query) or 0)

    def get_trial(self, name: str) -> TrialRecord | None:
        with self._read() as conn:
            row = conn.execute(select(trials_table).where(trials_table.c.name == name)).first()
        return None if row is None else _trial(row)

    # observations

    def add_observations(self, rows: Sequence[ObservationRow]) -> None:
        """Append rows to the observation log in one transaction (one executemany).

        Values must be finite, times timezone-aware and metric names at most METRIC_NAME_LENGTH characters
        (checked here, so that every backend refuses the same rows: SQLite would take a longer name that
        PostgreSQL and MySQL refuse); TrialNotFoundError if a row names an unknown trial.
        """
        if not rows:
            return
        statement = self._observation_insert
        store_time = statement.store_time
        params: list[Any] = []
        last_time: datetime | None = None
        stored_time: Any = None
        for row in rows:
            # Text (a value that is no number) goes to its own column, the number column left NULL.
            value, text = (None, row.value) if isinstance(row.value, str) else (float(row.value), None)
            # Checked here, not in the column type, so the error is a plain ValueError naming the row.
            if value is not None and not math.isfinite(value):
                raise ValueError(f"observation value must be finite: {row!r}")
            if len(row.metric_name) > METRIC_NAME_LENGTH:
                raise ValueError(
                    f"observation metric name longer than {METRIC_NAME_LENGTH} characters: {row.metric_name[:40]!r}..."
                )
            # The rows of one batch mostly share one time object (a collector stamps the lines it read at
            # once with one collection time): converted once, not once per row.
            if row.time is not last_time:
                if row.time.tzinfo is None:
                    raise ValueError(f"observation time must be timezone-aware: {row!r}")
                last_time, stored_time = row.time, store_time(row.time)
            params.append((row.trial_id, row.metric_name, value, text, stored_time))
        if not statement.positional:
            params = [dict(zip(OBSERVATION_COLUMNS, values, strict=True)) for values in params]
        try:
            with self._write() as conn:
                if statement.sql is None:
                    conn.execute(insert(observation_logs), params)
                else:
                    conn.exec_driver_sql(statement.sql, params)
        except IntegrityError as error:
            if self._in_transaction():
                raise
            wanted = {row.trial_id for row in rows}
            with self._read() as conn:
                found = set(conn.scalars(select(trials_table.c.id).where(trials_table.c.id.in_(wanted))))
            if wanted - found:
                missing = ", ".join(map(str, sorted(wanted - found)))
                raise TrialNotFoundError(f"observations for unknown trial ids: {missing}") from error
            raise

    def delete_observations(self, trial_id: int) -> int:
        """Forget a trial's observations (a trial that runs again from the start); returns how many."""
        with self._write() as conn:
            result = conn.execute(delete(observation_logs).where(observation_logs.c.trial_id == trial_id))
        return int(result.rowcount or 0)

    def list_observations(self, trial_id: int, metric_name: str | None = None) -> list[ObservationRow]:
        """A trial's observations (of one metric if given), ordered by time, then by insertion."""
        obs = observation_logs
        stmt = (
            select(obs.c.trial_id, obs.c.metric_name, obs.c.value, obs.c.text, obs.c.time)
            .where(obs.c.trial_id == trial_id)
            .order_by(obs.c.time, obs.c.id)
        )
        if metric_name is not None:
            stmt = stmt.where(obs.c.metric_name == metric_name)
        with self._read() as conn:
            return [
                ObservationRow(trial_id, name, text if value is None else value, at)
                for trial_id, name, value, text, at in conn.execute(stmt)
            ]

    def metric_summaries(
        self, experiment_id: int, trial_ids: Sequence[int] | None = None
    ) -> dict[int, dict[str, MetricStats]]:
        """Per trial id, per metric name: min, max, latest and count, computed by the database.

        ``latest`` follows Katib: the value with the greatest time, and of equal times the row stored last.
        Trials without observations are absent. ``trial_ids``: only these trials (a page of the server's list).
        """
        obs = observation_logs
        later = observation_logs.alias("later")

        # Correlated per (trial, metric) group; the (trial_id, metric_name, time) index makes it one seek.
        def latest(column: str) -> Any:
            return (
                select(later.c[column])
                .where(later.c.trial_id == obs.c.trial_id, later.c.metric_name == obs.c.metric_name)
                .order_by(later.c.time.desc(), later.c.id.desc())
                .limit(1)
                .scalar_subquery()
            )

        stmt = (
            select(
                obs.c.trial_id,
                obs.c.metric_name,
                func.min(obs.c.value),
                func.max(obs.c.value),
                latest("value"),
                latest("text"),  # the latest row's text, when its value is no number
                func.count(),
            )
            .join_from(obs, trials_table, trials_table.c.id == obs.c.trial_id)
            .where(trials_table.c.experiment_id == experiment_id)
            .group_by(obs.c.trial_id, obs.c.metric_name)
        )
        if trial_ids is not None:
            if not trial_ids:
                return {}
            stmt = stmt.where(obs.c.trial_id.in_(list(trial_ids)))
        summaries: dict[int, dict[str, MetricStats]] = {}
        with self._read() as conn:
            for trial_id, metric_name, low, high, last, last_text, count in conn.execute(stmt):
                summaries.setdefault(trial_id, {})[metric_name] = MetricStats(
                    None if low is None else float(low),
                    None if high is None else float(high),
                    str(last_text) if last is None else float(last),
                    int(count),
                )
        return summaries

    # algorithm state

    def save_algorithm_state(self, experiment_id: int, state: dict[str, Any]) -> None:
        """Store the suggester's state for the experiment, replacing any earlier one."""
        values = {"experiment_id_": experiment_id, "state_": state, "updated_at_": _now()}
        try:
            with self._write() as conn:
                # Update-then-insert is portable; the controller is the one writer of an experiment's state.
                if self._sql.update_state.execute(conn, values).rowcount == 0:
                    self._sql.insert_state.execute(conn, values)
        except IntegrityError as error:
            if self._in_transaction():
                raise
            if not self._experiment_id_exists(experiment_id):
                raise ExperimentNotFoundError(f"no experiment with id {experiment_id}") from error
            # Another writer inserted first: its row exists now, so this update wins as the later save.
            with self._write() as conn:
                self._sql.update_state.execute(conn, values)

    def load_algorithm_state(self, experiment_id: int) -> dict[str, Any] | None:
        with self._read() as conn:
            return conn.scalar(select(algorithm_state.c.state).where(algorithm_state.c.experiment_id == experiment_id))

    # plumbing

    def _in_transaction(self) -> bool:
        return getattr(self._local, "conn", None) is not None

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        shared: Connection | None = getattr(self._local, "conn", None)
        if shared is not None:
            with _plain_value_errors():
                yield shared
            return
        with _plain_value_errors(), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        shared: Connection | None = getattr(self._local, "conn", None)
        if shared is not None:  # inside transaction(): see its own writes
            with _plain_value_errors():
                yield shared
            return
        # A transaction even for reads: a multi-row result is one consistent snapshot.
        with _plain_value_errors(), self._engine.connect() as conn:
            yield conn

    def _experiment_id_exists(self, experiment_id: int) -> bool:
        with self._read() as conn:
            return conn.scalar(select(experiments.c.id).where(experiments.c.id == experiment_id)) is not None


@contextmanager
def _plain_value_errors() -> Iterator[None]:
    """Re-raise a ValueError/TypeError from a column type (naive datetime, NaN in a JSON document) as itself.

    SQLAlchemy wraps it in a StatementError carrying the whole statement; callers should see the plain error.
    """
    try:
        yield
    except StatementError as error:
        if not isinstance(error, DBAPIError) and isinstance(error.orig, ValueError | TypeError):
            raise error.orig from None
        raise


def _experiment(row: Row[Any]) -> ExperimentRecord:
    return ExperimentRecord(**{name: row._mapping[name] for name in _fields(ExperimentRecord)})


def _trial(row: Row[Any]) -> TrialRecord:
    # By position: the record's fields are the table's columns in order (checked below); a list of 10,000
    # trials spent a third of its time looking each value up by name.
    values = list(row)
    values[_PHASE_INDEX] = TrialPhase(values[_PHASE_INDEX])
    return TrialRecord(*values)


@cache
def _fields(record: type[Any]) -> tuple[str, ...]:
    """A record's field names: each is the name of its column."""
    return tuple(field.name for field in dataclasses.fields(record))


_TRIAL_COLUMNS = tuple(column.name for column in trials_table.columns)
assert _fields(TrialRecord) == _TRIAL_COLUMNS, "TrialRecord's fields must be the trials table's columns, in order"
_PHASE_INDEX = _TRIAL_COLUMNS.index("phase")
