"""The ``pykatib`` command. Verbs stay thin: the logic they call lives in the packages below."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import click
import yaml

from pykatib.spec.loader import SpecFileError, load_file

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pykatib")
def cli() -> None:
    """Katib's hyperparameter tuning on one machine: the same Experiment YAML, no Kubernetes."""


@cli.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=True, path_type=str))
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json", "none"]),
    default="yaml",
    show_default=True,
    help="Format of the defaulted experiments printed on stdout.",
)
def validate_command(files: tuple[str, ...], output: str) -> None:
    """Check Experiment files and print them with Katib's defaults applied.

    Exit status: 0 when every file is valid, 1 when any is invalid, 2 when a file cannot be read.
    """
    status = EXIT_OK
    valid: list[dict] = []
    for path in files:
        try:
            documents = load_file(path)
        except SpecFileError as exc:
            click.echo(f"error: {exc}", err=True)
            status = EXIT_USAGE
            continue
        for document in documents:
            label = path if len(documents) == 1 else f"{path} (document {document.index + 1})"
            if document.ok:
                assert document.experiment is not None
                valid.append(document.experiment.to_dict())
                click.echo(f"{label}: valid experiment {document.experiment.metadata.name!r}", err=True)
                continue
            status = max(status, EXIT_INVALID)
            count = len(document.errors)
            click.echo(f"{label}: invalid experiment ({count} error{'s' if count != 1 else ''}):", err=True)
            for error in document.errors:
                click.echo(f"  - {error}", err=True)
    if output == "json" and valid:
        click.echo(json.dumps(valid[0] if len(valid) == 1 else valid, indent=2))
    elif output == "yaml" and valid:
        click.echo(yaml.safe_dump_all(valid, sort_keys=False, allow_unicode=True), nl=False)
    sys.exit(status)


@cli.command("run")
@click.argument("file", type=click.Path(path_type=str))
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="IMAGE=DIR",
    help="Run IMAGE's commands from DIR (tag optional); adds to the shipped example mapping.",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="PATH=VALUE",
    help="Change a field of the file before validation, e.g. --set spec.maxTrialCount=4.",
)
@click.option("--db", "db_url", default=None, help="SQLAlchemy URL of the store [default: sqlite under --workdir].")
@click.option(
    "--workdir",
    default=".pykatib",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where trial directories (logs, files) and the default database live.",
)
@click.option("--name", default=None, help="The experiment to run when the file holds several.")
@click.option("--resume", is_flag=True, help="Continue an experiment that already exists in the store.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table", show_default=True)
def run_command(file: str, images: tuple[str, ...], overrides: tuple[str, ...], db_url: str | None, workdir: Path,
                name: str | None, resume: bool, output: str) -> None:  # fmt: skip
    """Run an Experiment file to its end: trials as local processes, state in a database.

    Exit status: 0 when the experiment Succeeded, 1 when it Failed, 2 when the run was refused (invalid
    input, another controller running it) or the store failed, 130 when interrupted.
    """
    # Imported here so that `pykatib validate` does not pay for the controller's imports.
    from pykatib.cli_run import RunOptions, run_file

    options = RunOptions(file, images, overrides, db_url, workdir, name, resume, output)
    sys.exit(run_file(options))


@cli.command("delete")
@click.argument("name")
@click.option("-n", "--namespace", default=None, help="Needed only when several namespaces hold NAME.")
@click.option("--db", "db_url", default=None, help="SQLAlchemy URL of the store [default: sqlite under --workdir].")
@click.option("--workdir", default=".pykatib", show_default=True, type=click.Path(file_okay=False, path_type=Path))
def delete_command(name: str, namespace: str | None, db_url: str | None, workdir: Path) -> None:
    """Delete an experiment: its trials, observations and trial directories."""
    import shutil

    from sqlalchemy.exc import DBAPIError

    from pykatib.spec.validation import name_problem, namespace_problem
    from pykatib.store import ExperimentOwnedError, LeaseOwner, StoreError, error_line, experiment_dir, open_store

    # The experiment's files are under <workdir>/experiments/<namespace>/<name>: refuse what is not a name.
    problem = f"NAME {p}" if (p := name_problem(name)) else None
    if problem is None and namespace is not None and (p := namespace_problem(namespace)):
        problem = f"-n/--namespace {p}"
    if problem is not None:
        click.echo(f"error: {problem}", err=True)
        sys.exit(EXIT_USAGE)
    default_store = workdir / "pykatib.db"
    if not db_url and not default_store.is_file():
        # Opening would create an empty store (and the workdir): a typo in --workdir creates nothing.
        click.echo(f"error: experiment {name} not found: there is no store at {default_store}", err=True)
        sys.exit(EXIT_INVALID)
    try:
        store = open_store(db_url, workdir)  # as `run`: an explicit --db's directory is never created
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        found = [r for r in store.list_experiments(namespace) if r.name == name]
        if len(found) != 1:
            where = ", ".join(f"{r.namespace}/{r.name}" for r in found)
            problem = f"is in several namespaces ({where}): pass -n" if found else f"not found in {store.shown_url}"
            click.echo(f"error: experiment {name} {problem}", err=True)
            sys.exit(EXIT_INVALID)
        # Its lease, so that no controller runs it while (or after) its rows and files go.
        store.acquire_lease(found[0].id, LeaseOwner.this_process())
        trial_dirs = [Path(t.work_dir) for t in store.list_trials(found[0].id) if t.work_dir]
        store.delete_experiment(found[0].id)
    except ExperimentOwnedError as exc:
        click.echo(f"error: cannot delete {found[0].namespace}/{name} while it runs: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except StoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except DBAPIError as exc:  # the database failed under an open store (locked, server gone)
        click.echo(f"error: the store {store.shown_url} failed: {error_line(exc)}; nothing was deleted", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        store.close()
    record = found[0]
    root = workdir.resolve()
    for trial_dir in trial_dirs:  # where each trial ran, also in an older layout; never outside the workdir
        if trial_dir.resolve().is_relative_to(root):
            shutil.rmtree(trial_dir, ignore_errors=True)
    if namespace_problem(record.namespace) is None:
        # Only this experiment's folder: another namespace's experiment of the same name keeps its files.
        directory = experiment_dir(workdir, record.namespace, record.name)
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):
            directory.parent.rmdir()  # the namespace's folder, once its last experiment is gone
    else:  # a record from before namespaces were checked: its name is no safe path
        click.echo(f"warning: namespace {record.namespace!r} is not a DNS-1123 label: no files removed", err=True)
    click.echo(f"experiment {record.namespace}/{name} deleted")


def main() -> None:
    """The ``pykatib`` program. It ends with ``os._exit``: every verb has closed what it opened by then, and the
    interpreter's own teardown of the modules a run imports (SQLAlchemy, pydantic, numpy, rich) took about
    0.1 s of every command. ``cli`` itself, for callers that stay in process, exits normally."""
    try:
        cli()
    except SystemExit as exit:
        code = exit.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)  # sys.exit("message"), as the interpreter would print it
            code = 1
        _exit_now(code or 0)


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can be written to it anyway.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
