"""Orchestration overhead of `pykatib run` against a bare pool of subprocesses, and observation ingestion.

    .venv/bin/python bench/overhead.py [--trials 300] [--lines 200000] [--repeat 3]

1. The same N commands, 2 at a time: once through `pykatib run` (parallelTrialCount 2, random search,
   SQLite store, StdOut collector), once through a bare 2-wide pool of `subprocess.run`. Printed as the
   ratio of wall times (targets: <= 1.5 for `sh -c 'echo loss=0.5'`, <= 1.15 for `python3 -c ...`) and as
   the overhead per trial in milliseconds.
2. One trial printing LINES `loss=` lines: metric lines parsed and persisted per second (target >= 100,000),
   from the controller's own wall time minus the bare command's.
Everything runs in this one process's children on this machine, one after the other. Each measurement is
taken REPEAT times, the three sides interleaved (bare, command, in process, bare, ...) so that a burst of
other work on the machine hits all of them alike; medians are printed, with the load average.

pykatib's modules are compiled to bytecode first, as installing a package does: with PYTHONDONTWRITEBYTECODE
set (some sandboxes set it) every `pykatib run` would otherwise recompile them, which no installed copy does.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]


def experiment(name: str, command: list[str], trials: int, parallel: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "1"}]},
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "0", "max": "1"}}],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "x", "reference": "x"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"containers": [{"name": "main", "command": command}]}}},
                },
            },
        },
    }


def bare_pool(argv: list[str], count: int, width: int, workdir: Path) -> float:
    """The baseline: the same command `count` times, `width` at a time, output to a file as pykatib does."""

    def one(i: int) -> None:
        with open(workdir / f"bare-{i % width}.log", "wb") as log:
            subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, check=True)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=width) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - start


def pykatib_run(doc: dict[str, Any], workdir: Path) -> float:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "pykatib.cli", "run", str(path), "--workdir", str(workdir / "state"), "-o", "json"],
        stdout=subprocess.DEVNULL,
        check=True,
        cwd=workdir,
    )
    return time.perf_counter() - start


def controller_only(doc: dict[str, Any], workdir: Path) -> float:
    """The same experiment through the controller in this process: pykatib's start-up left out."""
    from pykatib.control.runner import ExperimentController
    from pykatib.spec.loader import parse_experiment
    from pykatib.store import Store

    exp = parse_experiment(doc)
    store = Store(f"sqlite:///{workdir / (doc['metadata']['name'] + '-inproc.db')}")
    start = time.perf_counter()
    asyncio.run(ExperimentController(exp, store, workdir=workdir / "inproc").run())
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def overhead(label: str, command: list[str], trials: int, workdir: Path, repeat: int) -> None:
    # pykatib runs `python3` as the interpreter running it; the baseline must run the very same one.
    argv = [sys.executable if a == "python3" else a.replace("${trialParameters.x}", "0.5") for a in command]
    bares, commands, inprocs = [], [], []
    for i in range(repeat):
        name = f"{label}-{i}"  # a new experiment (and database) each time, as a first run has
        bares.append(bare_pool(argv, trials, 2, workdir))
        commands.append(pykatib_run(experiment(name, command, trials, 2), workdir / name))
        inprocs.append(controller_only(experiment(name, command, trials, 2), workdir))
    bare, ours, inproc = (statistics.median(values) for values in (bares, commands, inprocs))
    print(f"{label}: {trials} trials, 2 at a time (median of {repeat}; load average {load()})")
    print(f"  bare pool                 {bare:8.2f} s")
    print(f"  pykatib run (command)     {ours:8.2f} s   ratio {ours / bare:6.3f}   (with interpreter start-up)")
    print(f"  controller (in process)   {inproc:8.2f} s   ratio {inproc / bare:6.3f}")
    for name, value in (("pykatib run", ours), ("controller", inproc)):
        per_trial_ms = (value - bare) / trials * 1000
        slot = 2 * per_trial_ms
        print(f"  overhead, {name:12} {per_trial_ms:6.2f} ms per trial of wall time ({slot:.2f} ms of a slot)")


def ingestion(lines: int, workdir: Path) -> None:
    from pykatib.control.runner import ExperimentController
    from pykatib.spec.loader import parse_experiment
    from pykatib.store import Store

    script = f"import sys\nw=sys.stdout.write\nfor i in range({lines}): w(f'epoch {{i}} loss={{1/(i+1):.6f}}\\n')"
    command = ["python3", "-c", script, "${trialParameters.x}"]
    bare = bare_pool([sys.executable, "-c", script, "0.5"], 1, 1, workdir)
    exp = parse_experiment(experiment("ingest", command, 1, 1))
    store = Store(f"sqlite:///{workdir / 'ingest.db'}")
    start = time.perf_counter()
    asyncio.run(ExperimentController(exp, store, workdir=workdir / "ingest").run())
    ours = time.perf_counter() - start
    record = store.get_experiment("ingest", "default")
    assert record is not None
    (trial,) = store.list_trials(record.id)
    stored = len(store.list_observations(trial.id))
    store.close()
    print(f"ingestion: one trial printing {lines} metric lines")
    print(f"  observations stored      {stored}")
    print(f"  controller wall time     {ours:8.2f} s (bare command {bare:.2f} s)")
    print(f"  lines parsed+persisted/s {stored / max(ours - bare, 1e-9):12,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    os.chdir(ROOT)
    import pykatib

    compileall.compile_dir(Path(pykatib.__file__).parent, quiet=1)
    print(f"load average at start {load()}")
    with tempfile.TemporaryDirectory(prefix="pykatib-bench-") as tmp:
        workdir = Path(tmp)
        sh = ["sh", "-c", "echo loss=0.5", "${trialParameters.x}"]
        overhead("sh-echo", sh, args.trials, workdir, args.repeat)
        python = ["python3", "-c", "print('loss=0.5')", "${trialParameters.x}"]
        overhead("python-print", python, args.trials, workdir, args.repeat)
        ingestion(args.lines, workdir)
    print(f"load average at end {load()}")


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


if __name__ == "__main__":
    main()
