"""The ``pykatib`` command. Verbs stay thin: the logic they call lives in the packages below."""

from __future__ import annotations

import json
import sys

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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
