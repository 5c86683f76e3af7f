"""The packages depend one way: each imports only the layers below it (and itself), so any part can be
read, tested and replaced knowing only what is under it. A new import that breaks the order fails here,
naming the module and what it imported."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "pykatib"

# Lowest first. A package may import packages of lower layers only; those of one layer are independent.
LAYERS: list[set[str]] = [
    # The template language and job kinds; metric parsing; Katib's gRPC API; a server's home and server.json;
    # a process's identity on this machine.
    {"trial", "metrics", "api", "home", "procs"},
    {"spec"},  # the Experiment: models, loading, defaults, validation, the algorithm registry
    {"store", "suggest", "earlystop", "execute", "report"},  # what the controller plugs together; report_metrics
    {"control", "progress", "dbmanager"},  # the controller; the live display; Katib's DB manager (gRPC)
    {"ui"},  # the web UI's pages and data, over the store; the server mounts it and its Guard asks it
    {"cli_run", "server"},  # pykatib run; pykatib server
    {"client"},  # the verbs that talk to a server (they share its protocol helpers)
    {"sdk"},  # Katib's Python SDK (KatibClient, models, search) over the client's connection
    {"cli", "__init__"},  # the command; the package's public names
]


def _package(path: Path) -> str:
    parts = path.relative_to(SOURCE).parts
    return parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The pykatib packages a module imports, anywhere in it (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "pykatib":
                found.add(parts[1] if len(parts) > 1 else "__init__")
    return found


def test_every_package_has_a_layer() -> None:
    known = set().union(*LAYERS)
    packages = {_package(path) for path in SOURCE.rglob("*.py")}
    assert packages <= known, f"packages without a layer: {sorted(packages - known)}"


def test_packages_import_only_the_layers_below_them() -> None:
    layer_of = {package: i for i, layer in enumerate(LAYERS) for package in layer}
    wrong = []
    for path in sorted(SOURCE.rglob("*.py")):
        package = _package(path)
        for imported in _imports(path) - {package}:
            if layer_of[imported] >= layer_of[package]:
                wrong.append(f"{path.relative_to(SOURCE)} imports pykatib.{imported}")
    assert not wrong, "imports against the layer order:\n" + "\n".join(wrong)
