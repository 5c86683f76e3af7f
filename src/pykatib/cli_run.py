"""``pykatib run``: load, check, run with live progress, print the result. Exit 0/1/2 as Katib's outcome."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shlex
import signal
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.text import Text
from sqlalchemy.exc import DBAPIError

from pykatib.control.runner import ExperimentController
from pykatib.control.session import RunRefused, check_runnable, not_in_store_message, plan_run
from pykatib.dbmanager import PORT_FILE, DBManager, listen_again, trial_resolver
from pykatib.execute.choice import ExecutorUnavailableError, create_executor
from pykatib.execute.localize import ImageMap, default_image_map
from pykatib.progress import Progress, optimal_summary, optimal_value, trials_table
from pykatib.spec.conditions import ExperimentCondition
from pykatib.spec.errors import InvalidExperimentError
from pykatib.spec.loader import SpecFileError, load_config_maps, load_experiment_document
from pykatib.store import Store, StoreError, error_line, experiment_dir, open_store, shown_url, sqlite_file, workdir_url

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_WORKDIR = Path(".pykatib")


@dataclass(frozen=True)
class RunOptions:
    """What ``pykatib run`` was given: the file and its options."""

    file: str
    images: Sequence[str] = ()
    overrides: Sequence[str] = ()
    db_url: str | None = None
    workdir: Path = DEFAULT_WORKDIR
    name: str | None = None
    resume: bool = False
    output: str = "table"
    configmaps: Sequence[str] = ()
    executor: str = "local"
    ray_address: str | None = None

    def resume_command(self) -> str:
        """The ``pykatib run ... --resume`` line that continues this run: every option it was given,
        shell-quoted (a database password hidden: this line is printed)."""
        args = ["pykatib", "run", self.file]
        if self.workdir != DEFAULT_WORKDIR:
            args += ["--workdir", str(self.workdir)]
        if self.db_url:
            args += ["--db", shown_url(self.db_url)]
        if self.name is not None:
            args += ["--name", self.name]
        for override in self.overrides:
            args += ["--set", override]
        for image in self.images:
            args += ["--image", image]
        for configmap in self.configmaps:
            args += ["--configmap", configmap]
        if self.executor != "local":
            args += ["--executor", self.executor]
        if self.ray_address:
            args += ["--ray-address", self.ray_address]
        if self.output != "table":
            args += ["-o", self.output]
        return shlex.join([*args, "--resume"])


def run_file(options: RunOptions) -> int:
    file, name, db_url, workdir, resume = options.file, options.name, options.db_url, options.workdir, options.resume
    err = Console(stderr=True)
    out = Console(file=sys.stdout, soft_wrap=True)  # bound now: see the Ray executor below
    if options.executor == "ray":
        # Ray's driver prints cluster events (a node marked dead) to sys.stdout from a thread of its own:
        # they go to stderr, and stdout carries only the result (-o json stays parseable).
        sys.stdout = sys.stderr
    try:
        config_maps = load_config_maps(options.configmaps)
        document = load_experiment_document(file, name=name, overrides=options.overrides, config_maps=config_maps)
        image_map = default_image_map()
        image_map.update(ImageMap.parse_options(options.images))
    except SpecFileError as exc:
        _error(err, str(exc))
        return EXIT_INVALID
    except InvalidExperimentError as exc:
        err.print(f"[red]{exc}[/]", highlight=False, soft_wrap=True)  # one error per line, never cut
        return EXIT_INVALID
    except ValueError as exc:
        _error(err, str(exc))
        return EXIT_INVALID
    experiment = document.experiment
    assert experiment is not None
    template, objective = experiment.spec.trial_template, experiment.spec.objective
    assert template is not None and objective is not None  # a valid experiment has both
    trial_spec = document.sample_trial_spec if template.config_map else None
    url = db_url or workdir_url(workdir)
    # What continues this run after Ctrl-C or a store failure: the same file, store, workdir and changes.
    again = options.resume_command()
    store: Store | None = None
    started = False
    # A store that cannot be opened or fails (here, or out of the controller's run: another controller owns
    # the experiment, the database went away) is one line on stderr and exit 2, never a traceback.
    try:
        missing = sqlite_file(url)
        if resume and missing is not None and not missing.exists():
            # Refused before opening, which would create an empty database (and --workdir) for nothing.
            namespace, experiment_name = experiment.metadata.namespace, experiment.metadata.name
            raise RunRefused(not_in_store_message(str(namespace), str(experiment_name), shown_url(url)))
        store = open_store(db_url, workdir)
        check_runnable(experiment, image_map, trial_spec)
        executor = create_executor(options.executor, options.ray_address)
        plan = plan_run(store, experiment, resume=resume)
        if plan.action == "finished":
            assert plan.record is not None
            status = plan.record.status
            err.print(f"{experiment.metadata.name} has already ended; raise spec.maxTrialCount to run more trials")
        else:
            started = True
            metric = str(objective.objective_metric_name)
            folder = _experiment_folder(
                store, workdir, str(experiment.metadata.namespace), str(experiment.metadata.name)
            )
            db_manager = _LazyDBManager(store, workdir, folder, err)
            with Progress(err, str(experiment.metadata.name), metric) as progress, _log_lines(err), db_manager:
                controller = ExperimentController(
                    experiment, store, workdir=workdir, image_map=image_map, trial_spec=trial_spec,
                    on_change=progress.update, trial_env=db_manager.trial_env, executor=executor,
                )  # fmt: skip
                ended = _run_interruptibly(controller)
            if ended is None:
                _line(err, f"interrupted: running trials were stopped; continue with: {again}")
                return EXIT_INTERRUPTED
            status = ended
        _print_result(out, store, experiment.to_dict(), status, options.output)
        return EXIT_FAILED if _failed(status) else EXIT_SUCCEEDED
    except (RunRefused, StoreError, ExecutorUnavailableError) as exc:
        _error(err, str(exc))
        return EXIT_INVALID
    except DBAPIError as exc:
        # The database failed under an open store (server gone, file locked or broken): the trials' own
        # files keep their results, and --resume picks them up once the database works again.
        then = f"; once it works again, continue with: {again}" if started else ""
        reason = error_line(exc)
        _error(err, f"the store {shown_url(url)} failed: {reason}{then}")
        return EXIT_INVALID
    finally:
        if store is not None:
            store.close()


def _db_manager(store: Store, workdir: Path, directory: Path) -> tuple[DBManager, int | None]:
    """Katib's DB manager for the run's trials (``report_metrics`` of Katib's SDK) on 127.0.0.1: on the port
    of the experiment's last run (recorded in its directory: trials re-attached by ``--resume`` report there),
    else a free one. Also the port of the last run (None: none recorded)."""
    try:
        return listen_again(store, trial_resolver(store, workdir), directory / PORT_FILE)
    except OSError as exc:
        raise RunRefused(f"Katib's DB manager cannot listen on 127.0.0.1: {exc.strerror or exc}") from exc


class _LazyDBManager:
    """The run's DB manager, started once the controller holds the experiment's lease (``trial_env`` is called
    then): a run refused because another controller drives the experiment must leave that one's port alone."""

    def __init__(self, store: Store, workdir: Path, folder: Path, err: Console) -> None:
        self._store, self._workdir, self._folder, self._err = store, workdir, folder, err
        self._manager: DBManager | None = None

    def trial_env(self) -> dict[str, str]:
        if self._manager is None:
            manager, last = _db_manager(self._store, self._workdir, self._folder)
            if last is not None and last != manager.port:
                _line(self._err, f"warning: Katib's DB manager cannot listen on its port of the last run, "
                                 f"127.0.0.1:{last} (taken): trials still running from then cannot report to it "
                                 f"(it listens on {manager.address})")  # fmt: skip
            manager.start()
            self._manager = manager
        return self._manager.trial_env()

    def __enter__(self) -> _LazyDBManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._manager is not None:
            self._manager.stop()


def _experiment_folder(store: Store, workdir: Path, namespace: str, name: str) -> Path:
    """The experiment's folder: the one its trials are in (also one of an older layout, ``experiments/<name>``, as
    the controller keeps them together), else ``experiments/<namespace>/<name>`` under ``workdir``."""
    record = store.get_experiment(name, namespace)
    count = store.count_trials(record.id) if record is not None else 0
    if record is not None and count:
        [last] = store.list_trials(record.id, offset=count - 1, limit=1)
        if last.work_dir:
            return Path(last.work_dir).parent.parent
    return experiment_dir(workdir, namespace, name)


class _OneLineHandler(logging.Handler):
    """The controller's warnings and errors as one line each (``error: trial X: <what failed>``), not the
    traceback that logging's last-resort handler prints: a failing trial's store error is the run's too."""

    def __init__(self, err: Console) -> None:
        super().__init__(logging.WARNING)
        self.err = err

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message = f"{message}: {error_line(record.exc_info[1])}"
            self.err.print(Text(f"{record.levelname.lower()}: {message}"), soft_wrap=True, highlight=False)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _log_lines(err: Console) -> Iterator[None]:
    logger = logging.getLogger("pykatib")
    handler = _OneLineHandler(err)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def _error(err: Console, message: str) -> None:
    """``error: MESSAGE`` on one line: no rich markup read inside the message, no wrapping at the width."""
    err.print(Text.assemble(("error:", "red"), " ", message), soft_wrap=True, highlight=False)


def _line(err: Console, message: str) -> None:
    err.print(Text(message), soft_wrap=True, highlight=False)


def _run_interruptibly(controller: ExperimentController) -> dict[str, Any] | None:
    """Run to the end; on Ctrl-C (or SIGTERM) stop the trials cleanly and return None."""

    async def main() -> dict[str, Any] | None:
        task = asyncio.create_task(controller.run())
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            return await task
        except asyncio.CancelledError:
            return None
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    return asyncio.run(main())


def _failed(status: dict[str, Any]) -> bool:
    return any(
        c.get("type") == ExperimentCondition.FAILED and c.get("status") == "True" for c in status.get("conditions", [])
    )


def _print_result(out: Console, store: Store, document: dict[str, Any], status: dict[str, Any], output: str) -> None:
    final = {**document, "status": status}
    if output == "json":
        out.file.write(json.dumps(final, indent=2) + "\n")
        return
    if output == "yaml":
        out.file.write(yaml.safe_dump(final, sort_keys=False))
        return
    record = store.get_experiment(document["metadata"]["name"], document["metadata"]["namespace"])
    assert record is not None
    trials = store.list_trials(record.id)
    best = (status.get("currentOptimalTrial") or {}).get("bestTrialName")
    objective = document["spec"]["objective"]["objectiveMetricName"]
    out.print(trials_table(trials, objective, best, optimal_value(status, objective)))
    ended = next(
        (
            c
            for c in status.get("conditions", [])
            if c["type"] in (ExperimentCondition.SUCCEEDED, ExperimentCondition.FAILED)
        ),
        None,
    )
    if ended:
        out.print(f"Experiment {document['metadata']['name']} {ended['type']}: {ended['reason']} ({ended['message']})")
    out.print(optimal_summary(status, str(document["spec"]["algorithm"]["algorithmName"])))
