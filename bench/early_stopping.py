"""What medianstop saves: the same experiment with and without early stopping.

    .venv/bin/python bench/early_stopping.py [--trials 40] [--seeds 1,2,3] [--epochs 20]

A trainer with a learning curve over EPOCHS epochs (bench/problems/learning_curve.py: the loss decays fast
in the first epochs towards a floor set by learning rate and momentum, with noise; too large a learning rate
diverges, as in real training; lr is searched log-uniformly over six decades) runs as real
processes, TRIALS trials at parallelTrialCount 2, random search with each seed, once without early stopping
and once with medianstop (Katib's defaults min_trials_required 3, start_step 4, unless given). Printed per seed and in
total: trial-epochs spent (metric reports stored) and the best objective. Targets: at least 1.5x fewer
epochs with medianstop, best objective within 2% of the run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from pykatib.control.runner import ExperimentController
from pykatib.spec.loader import parse_experiment
from pykatib.store import Store

TRAINER = Path(__file__).resolve().parent / "problems" / "learning_curve.py"


def experiment(
    name: str, seed: int, trials: int, epochs: int, early: bool, medianstop: tuple[int, int] = (3, 4)
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": str(seed)}]},
        "parallelTrialCount": 2,
        "maxTrialCount": trials,
        "parameters": [
            {
                "name": "lr",
                "parameterType": "double",
                "feasibleSpace": {"min": "0.00001", "max": "10", "distribution": "logUniform"},
            },
            {"name": "momentum", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "0.99"}},
        ],
        "trialTemplate": {
            "primaryContainerName": "main",
            "trialParameters": [{"name": "lr", "reference": "lr"}, {"name": "momentum", "reference": "momentum"}],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "main",
                                    "command": [
                                        "python3",
                                        str(TRAINER),
                                        f"--epochs={epochs}",
                                        f"--seed={seed}",
                                        "--lr=${trialParameters.lr}",
                                        "--momentum=${trialParameters.momentum}",
                                    ],
                                }
                            ]
                        }
                    }
                },
            },
        },
    }
    if early:
        min_trials, start_step = medianstop
        settings = [{"name": "min_trials_required", "value": str(min_trials)},
                    {"name": "start_step", "value": str(start_step)}]  # fmt: skip
        spec["earlyStopping"] = {"algorithmName": "medianstop", "algorithmSettings": settings}
    return {"apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment", "metadata": {"name": name}, "spec": spec}


def run(doc: dict[str, Any], workdir: Path) -> tuple[int, float, int]:
    """(trial-epochs spent, best objective, early-stopped trials)."""
    store = Store(f"sqlite:///{workdir / 'store.db'}")
    try:
        status = asyncio.run(ExperimentController(parse_experiment(doc), store, workdir=workdir).run())
        record = store.get_experiment(doc["metadata"]["name"], "default")
        assert record is not None
        epochs = sum(len(store.list_observations(t.id, "loss")) for t in store.list_trials(record.id))
    finally:
        store.close()
    metrics = status["currentOptimalTrial"]["observation"]["metrics"]
    best = float(next(m["min"] for m in metrics if m["name"] == "loss"))
    return epochs, best, int(status.get("trialsEarlyStopped", 0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--epochs", type=int, default=20)
    # Katib's defaults; its own median-stop example uses 1 and 2.
    parser.add_argument("--min-trials-required", type=int, default=3)
    parser.add_argument("--start-step", type=int, default=4)
    args = parser.parse_args()
    medianstop = (args.min_trials_required, args.start_step)
    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"{'seed':>4} {'epochs (no ES)':>15} {'epochs (medianstop)':>20} {'stopped':>8} "
          f"{'best (no ES)':>13} {'best (medianstop)':>18}")  # fmt: skip
    total_plain = total_early = 0
    gaps = []
    with tempfile.TemporaryDirectory(prefix="pykatib-es-") as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            plain = run(experiment("plain", seed, args.trials, args.epochs, False), Path(tmp) / f"plain-{seed}")
            doc = experiment("early", seed, args.trials, args.epochs, True, medianstop)
            early = run(doc, Path(tmp) / f"early-{seed}")
            total_plain += plain[0]
            total_early += early[0]
            gaps.append((early[1] - plain[1]) / abs(plain[1]))
            print(f"{seed:>4} {plain[0]:>15} {early[0]:>20} {early[2]:>8} {plain[1]:>13.5f} {early[1]:>18.5f}")
    print(f"\ntrial-epochs: {total_plain} without early stopping, {total_early} with medianstop: "
          f"{total_plain / total_early:.2f}x fewer (target >= 1.5x)")  # fmt: skip
    print(f"best objective with medianstop vs without: {', '.join(f'{100 * g:+.2f}%' for g in gaps)} "
          f"(target: within 2%)")  # fmt: skip


if __name__ == "__main__":
    main()
