"""Stand-in for Katib's darts-cnn-cifar10 image (``python3 run_trial.py`` in /opt/darts-cnn-cifar10).

It takes Katib's arguments as Katib's darts example passes them, ``--algorithm-settings="{'num_epochs': '1',
...}"`` (the double quotes are part of the value: no shell removes them), ``--search-space="['max_pooling_3x3']"``
and ``--num-layers="1"``, runs a real DARTS search with PyTorch (mixed operations, architecture weights updated by
Adam on validation batches, network weights by SGD on training batches: first-order bilevel) on the first GPU when
one is visible, as Katib's image does (``>>> Use GPU for Training <<<``), else on the CPU, over
scikit-learn's 8x8 digits resized to CIFAR-10's 3x32x32 (a few hundred images, half to train, half to
validate), and prints what Katib's image prints, ending with ``Best-Genotype=Genotype(...)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

SAMPLES = 400  # digits used: a tiny stand-in for CIFAR-10's 50000
NAS_EXTRA = "pip install 'pykatib[nas]'"


def _unquote(value: str) -> str:
    # Katib's example wraps each value in double quotes inside the argument itself.
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def katib_json(value: str) -> Any:
    """A value as Katib's suggestion formats it (JSON with ' for "), as Katib's image reads it."""
    return json.loads(_unquote(value).replace("'", '"'))


def parse_args(argv: list[str] | None = None) -> tuple[dict[str, Any], list[str], int]:
    """(algorithm settings, search space, number of layers); exits 2 naming the argument that is wrong."""
    parser = argparse.ArgumentParser(description="TrainingContainer")
    parser.add_argument("--algorithm-settings", type=str, default="", help="algorithm settings")
    parser.add_argument("--search-space", type=str, default="", help="search space for the neural architecture search")
    parser.add_argument("--num-layers", type=str, default="", help="number of layers of the neural network")
    args = parser.parse_args(argv)
    try:
        settings = katib_json(args.algorithm_settings)
        space = katib_json(args.search_space)
        layers = int(_unquote(args.num_layers))
    except ValueError as error:
        parser.error(f"cannot read the arguments as Katib's darts suggestion writes them: {error}")
    if not isinstance(settings, dict) or not isinstance(space, list) or not all(isinstance(s, str) for s in space):
        parser.error("--algorithm-settings must be a dict and --search-space a list of operation names")
    return settings, space, layers


def print_settings(settings: dict[str, Any]) -> None:
    print(">>> Algorithm settings")
    for key, value in settings.items():
        tabs = "\t" if len(key) > 13 else "\t\t\t" if len(key) < 5 else "\t\t"
        print(f"{key}{tabs}{value}")
    print()


def main(argv: list[str] | None = None) -> int:
    settings, space, num_layers = parse_args(argv)
    try:
        import torch  # noqa: F401 (checked before anything prints)
    except ImportError:
        print(f"darts-cnn-cifar10 needs PyTorch, which is not installed: {NAS_EXTRA}", file=sys.stderr)
        return 1
    from search import search

    print_settings(settings)
    return search(settings, space, num_layers, SAMPLES)


if __name__ == "__main__":
    sys.exit(main())
