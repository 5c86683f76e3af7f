"""The ``pykatib`` command. Verbs stay thin: the logic they call lives in the packages below."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import click
import yaml

from pykatib.spec.loader import SpecFileError, load_config_maps, load_file

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pykatib")
def cli() -> None:
    """Katib's hyperparameter tuning on one machine: the same Experiment YAML, no Kubernetes."""


def _executor_options(command: Callable[..., None]) -> Callable[..., None]:
    """--executor and --ray-address: where trials run (see pykatib.execute.choice)."""
    address = "The Ray cluster: auto (the one this machine joined, or $RAY_ADDRESS) or HOST:PORT."
    command = click.option("--ray-address", default=None, metavar="auto|HOST:PORT", help=address)(command)
    where = "Where trials run: local processes (GPUs handed out per trial), or a Ray cluster."
    choice = click.Choice(["local", "ray"])
    return click.option("--executor", type=choice, default="local", show_default=True, help=where)(command)


def _configmap_option(command: Callable[..., None]) -> Callable[..., None]:
    """--configmap FILE: ConfigMaps a trialTemplate.configMap may name, as applied to a cluster."""
    return click.option(
        "--configmap",
        "configmaps",
        multiple=True,
        metavar="FILE",
        type=click.Path(dir_okay=False, path_type=str),
        help="A YAML file of ConfigMaps (Katib's trial templates) the experiment's trialTemplate.configMap names.",
    )(command)


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
@_configmap_option
def validate_command(files: tuple[str, ...], output: str, configmaps: tuple[str, ...]) -> None:
    """Check Experiment files and print them with Katib's defaults applied.

    Exit status: 0 when every file is valid, 1 when any is invalid, 2 when a file cannot be read.
    """
    status = EXIT_OK
    valid: list[dict] = []
    try:
        config_maps = load_config_maps(configmaps)
    except SpecFileError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    for path in files:
        try:
            documents = load_file(path, config_maps=config_maps)
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
@_configmap_option
@_executor_options
def run_command(file: str, images: tuple[str, ...], overrides: tuple[str, ...], db_url: str | None, workdir: Path,
                name: str | None, resume: bool, output: str, configmaps: tuple[str, ...], executor: str,
                ray_address: str | None) -> None:  # fmt: skip
    """Run an Experiment file to its end: trials as local processes, state in a database.

    Exit status: 0 when the experiment Succeeded, 1 when it Failed, 2 when the run was refused (invalid
    input, another controller running it) or the store failed, 130 when interrupted.
    """
    # Imported here so that `pykatib validate` does not pay for the controller's imports.
    from pykatib.cli_run import RunOptions, run_file

    options = RunOptions(file, images, overrides, db_url, workdir, name, resume, output, configmaps, executor,
                         ray_address)  # fmt: skip
    sys.exit(run_file(options))


def _server_options(command: Callable[..., None]) -> Callable[..., None]:
    """--server, --token and --home: which pykatib server a verb talks to (see pykatib.client.connection)."""
    home = "Where server.json is read [default: $PYKATIB_HOME, else ~/.pykatib]."
    command = click.option("--home", default=None, type=click.Path(file_okay=False), help=home)(command)
    token = "The server's bearer token [default: the one in server.json]."
    command = click.option("--token", default=None, envvar="PYKATIB_TOKEN", show_envvar=True, help=token)(command)
    server = "The server's URL [default: the one in <home>/server.json]."
    return click.option("--server", envvar="PYKATIB_SERVER", show_envvar=True, metavar="URL", help=server)(command)


def _namespace_option(command: Callable[..., None]) -> Callable[..., None]:
    return click.option("-n", "--namespace", default=None, help="The namespace [default: default].")(command)


@cli.command("delete")
@click.argument("args", nargs=-1, required=True, metavar="NAME | experiment NAME...")
@click.option("-n", "--namespace", default=None, help="The namespace [local: needed only when several hold NAME; "
              "server: default].")  # fmt: skip
@click.option("--db", "db_url", default=None, help="Local: SQLAlchemy URL of the store [default: sqlite in --workdir].")
@click.option("--workdir", default=".pykatib", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Local: where the store and trial directories are.")  # fmt: skip
@_server_options
def delete_command(args: tuple[str, ...], namespace: str | None, db_url: str | None, workdir: Path,
                   server: str | None, token: str | None, home: str | None) -> None:  # fmt: skip
    """Delete an experiment, from the local store or from a pykatib server.

    \b
    pykatib delete NAME                from the store of `pykatib run` (--workdir, --db): its trials,
                                       observations and trial directories
    pykatib delete experiment NAME...  from the pykatib server (--server, --token, --home)
    """
    from pykatib.client.resources import EXPERIMENT_WORDS

    context = click.get_current_context()
    given = {p for p in ("db_url", "workdir", "server", "token", "home")
             if context.get_parameter_source(p) == click.core.ParameterSource.COMMANDLINE}  # fmt: skip
    kind, _, slash_name = args[0].partition("/")
    if len(args) == 1 and not slash_name:  # the local form
        if given & {"server", "token", "home"}:
            raise click.UsageError("--server, --token and --home are for the server: pykatib delete experiment NAME")
        _delete_local(args[0], namespace, db_url, workdir)
        return
    names = [slash_name] if len(args) == 1 else list(args[1:])
    if kind.lower() not in EXPERIMENT_WORDS or (slash_name and len(args) > 1):
        raise click.UsageError(f"expected NAME (local) or experiment NAME... (server), got: {' '.join(args)}")
    if given & {"db_url", "workdir"}:
        raise click.UsageError("--db and --workdir are for the local store: pykatib delete NAME")
    from pykatib.client.connection import ServerOptions
    from pykatib.client.verbs import delete

    sys.exit(delete(ServerOptions(server, token, home), kind, names, namespace))


def _delete_local(name: str, namespace: str | None, db_url: str | None, workdir: Path) -> None:
    """Delete an experiment from a local store: its trials, observations and trial directories."""
    from sqlalchemy.exc import DBAPIError

    from pykatib.control.session import remove_experiment_files
    from pykatib.spec.validation import name_problem, namespace_problem
    from pykatib.store import ExperimentOwnedError, LeaseOwner, StoreError, error_line, open_store

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
    warning = remove_experiment_files(workdir, record.namespace, record.name, trial_dirs)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"experiment {record.namespace}/{name} deleted")


@cli.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (other than loopback "
              "only with --token).")  # fmt: skip
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--db", "db_url", default=None, help="SQLAlchemy URL of the store [default: sqlite under --workdir].")
@click.option("--workdir", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where trials run and the default store lives [default: the home directory].")  # fmt: skip
@click.option("--token", default=None, envvar="PYKATIB_TOKEN", help="Bearer token every request must carry "
              "[env PYKATIB_TOKEN].")  # fmt: skip
@click.option("--home", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Where server.json is written [default: $PYKATIB_HOME or ~/.pykatib].")  # fmt: skip
@click.option("--image", "images", multiple=True, metavar="IMAGE=DIR", help="Map a container image to a directory.")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Certificate to serve https with [default with --token: a self-signed one in the home].",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The certificate's private key.",
)
@click.option(
    "--grpc-port",
    default=None,
    type=click.IntRange(0, 65535),
    help="Port of Katib's DB manager (gRPC, on 127.0.0.1 only) [default: its port of the last start, else Katib's "
    "6789, else a free port]; 0 picks a free port.",
)
@_executor_options
def server_command(
    host: str, port: int, db_url: str | None, workdir: Path | None, token: str | None, home: Path | None,
    images: tuple[str, ...], tls_cert: Path | None, tls_key: Path | None, grpc_port: int | None, executor: str,
    ray_address: str | None,
) -> None:  # fmt: skip
    """Run experiments and serve the Kubernetes API for Katib's kinds (kubectl, the Katib SDK, pykatib's verbs).

    It drives every unfinished experiment in its store and every experiment created through its API, until
    stopped with Ctrl-C or SIGTERM (running trials are then stopped, and run again at its next start).
    With --token it serves https (kubectl sends a token only over TLS); `pykatib kubeconfig` carries the
    certificate.
    """
    import logging

    from pykatib.server.main import ServerOptions, ServerRefused, serve
    from pykatib.store import StoreError

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from pykatib.execute.choice import ExecutorUnavailableError

    options = ServerOptions(host, port, db_url, workdir, token or None, home, images, tls_cert, tls_key, grpc_port,
                            executor, ray_address)  # fmt: skip
    try:
        sys.exit(serve(options))
    except (ServerRefused, StoreError, ValueError, ExecutorUnavailableError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)


# The verbs that talk to a `pykatib server` (pykatib.client): each returns kubectl's lines and an exit status,
# 0 done, 1 failed (not found, no server, refused token, timed out), 2 refused input (a bad file or option, an
# invalid object).


@cli.command("apply")
@click.option("-f", "--filename", "file", required=True, type=click.Path(path_type=str),
              help="A YAML file of Experiments (v1beta1 or v1alpha3) and ConfigMaps.")  # fmt: skip
@_namespace_option
@_server_options
def apply_command(file: str, namespace: str | None, server: str | None, token: str | None, home: str | None) -> None:
    """Create or update the file's experiments (and ConfigMaps) on the pykatib server, as kubectl apply.

    An existing experiment takes only budget changes (maxTrialCount, parallelTrialCount, maxFailedTrialCount).
    With no server running (and none given), one is started in the background. Relative paths in the
    experiment's commands are resolved from the current directory.
    """
    from pykatib.client.apply import apply
    from pykatib.client.connection import ServerOptions

    sys.exit(apply(ServerOptions(server, token, home), file, namespace))


@cli.command("get")
@click.argument("kind", metavar="experiments|trials|suggestions")
@click.argument("name", required=False)
@_namespace_option
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-o", "--output", type=click.Choice(["wide", "json", "yaml", "name"]), default=None,
              help="Output format [default: a table].")  # fmt: skip
@click.option("-l", "--selector", default=None, help="Label selector, e.g. katib.kubeflow.org/experiment=x.")
@click.option("--experiment", default=None, help="Trials of this experiment only.")
@_server_options
def get_command(kind: str, name: str | None, namespace: str | None, all_namespaces: bool, output: str | None,
                selector: str | None, experiment: str | None, server: str | None, token: str | None,
                home: str | None) -> None:  # fmt: skip
    """List experiments, trials or suggestions on the pykatib server, or show one (NAME)."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.verbs import get

    options = ServerOptions(server, token, home)
    sys.exit(get(options, kind, name, namespace=namespace, all_namespaces=all_namespaces, output=output,
                 selector=selector, experiment=experiment))  # fmt: skip


@cli.command("describe")
@click.argument("kind", metavar="experiment|trial|suggestion")
@click.argument("name")
@_namespace_option
@_server_options
def describe_command(kind: str, name: str, namespace: str | None, server: str | None, token: str | None,
                     home: str | None) -> None:  # fmt: skip
    """Show an experiment, trial or suggestion in detail; an experiment with a summary of its trials."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.verbs import describe

    sys.exit(describe(ServerOptions(server, token, home), kind, name, namespace))


@cli.command("logs")
@click.argument("trial")
@_namespace_option
@click.option("-f", "--follow", is_flag=True, help="Keep printing the log as it grows, until the trial ends.")
@click.option("-c", "--container", default=None, help="The container [default: the trial's primary one].")
@click.option("--tail", default=-1, show_default=True, help="Only the last N lines (-1: all).")
@_server_options
def logs_command(trial: str, namespace: str | None, follow: bool, container: str | None, tail: int,
                 server: str | None, token: str | None, home: str | None) -> None:  # fmt: skip
    """Print a trial's log (its primary pod's), as it arrives."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.verbs import logs

    sys.exit(logs(ServerOptions(server, token, home), trial, namespace=namespace, follow=follow,
                  container=container, tail=tail))  # fmt: skip


@cli.command("edit-budget")
@click.argument("name")
@_namespace_option
@click.option("--max-trial-count", type=int, default=None, help="New spec.maxTrialCount.")
@click.option("--parallel-trial-count", type=int, default=None, help="New spec.parallelTrialCount.")
@click.option("--max-failed-trial-count", type=int, default=None, help="New spec.maxFailedTrialCount.")
@_server_options
def edit_budget_command(name: str, namespace: str | None, max_trial_count: int | None,
                        parallel_trial_count: int | None, max_failed_trial_count: int | None, server: str | None,
                        token: str | None, home: str | None) -> None:  # fmt: skip
    """Change an experiment's budget on the pykatib server (at least one option); prints the new budget."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.waiting import edit_budget

    options = ServerOptions(server, token, home)
    counts = {"max_trial_count": max_trial_count, "parallel_trial_count": parallel_trial_count,
              "max_failed_trial_count": max_failed_trial_count}  # fmt: skip
    sys.exit(edit_budget(options, name, namespace, **counts))


@cli.command("wait")
@click.argument("name")
@click.option("--for", "condition", required=True, metavar="CONDITION",
              help="condition=TYPE[=STATUS] or TYPE (e.g. Succeeded), or delete.")  # fmt: skip
@click.option("--timeout", default="30s", show_default=True, help="How long to wait: 300s, 5m, 1h30m; -1 for ever.")
@_namespace_option
@_server_options
def wait_command(name: str, condition: str, timeout: str, namespace: str | None, server: str | None,
                 token: str | None, home: str | None) -> None:  # fmt: skip
    """Wait until an experiment has a condition, as kubectl wait.

    Exit status: 0 when the condition is met, 1 on timeout or when the experiment ended the other way
    (Failed while waiting for Succeeded, or the reverse).
    """
    from pykatib.client.connection import ServerOptions
    from pykatib.client.waiting import wait

    sys.exit(wait(ServerOptions(server, token, home), name, condition, timeout, namespace))


@cli.command("stop")
@click.argument("name")
@_namespace_option
@click.option("--wait", "wait_", is_flag=True, help="Wait until the experiment has ended.")
@click.option("--timeout", default="2m", show_default=True, help="With --wait: how long to wait.")
@_server_options
def stop_command(name: str, namespace: str | None, wait_: bool, timeout: str, server: str | None,
                 token: str | None, home: str | None) -> None:  # fmt: skip
    """End an experiment on the pykatib server: its running trials are killed, its results kept."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.waiting import parse_timeout, stop

    try:
        wait_s = parse_timeout(timeout) if wait_ else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    sys.exit(stop(ServerOptions(server, token, home), name, namespace, wait_s=wait_s))


@cli.command("kubeconfig")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False, path_type=str),
              help="Write it to this file (mode 0600) instead of stdout.")  # fmt: skip
@click.option("-n", "--namespace", default="default", show_default=True, help="The context's namespace.")
@_server_options
def kubeconfig_command(output: str | None, namespace: str, server: str | None, token: str | None,
                       home: str | None) -> None:  # fmt: skip
    """A kubeconfig for the pykatib server, so that `KUBECONFIG=FILE kubectl get experiments` works."""
    from pykatib.client.connection import ServerOptions
    from pykatib.client.verbs import write_kubeconfig

    sys.exit(write_kubeconfig(ServerOptions(server, token, home), output, namespace))


def run_verb(argv: Sequence[str]) -> int:
    """Run one pykatib command in this process (tests, embedding): its exit status. Output goes to
    sys.stdout and sys.stderr; unlike ``main`` the interpreter keeps running."""
    try:
        cli.main(args=list(argv), prog_name="pykatib", standalone_mode=True)
    except SystemExit as exit:
        code = exit.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)
        return 1
    return 0


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
