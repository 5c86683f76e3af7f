"""Sample efficiency of every search algorithm: best regret after N trials, through real pykatib experiments.

    .venv/bin/python bench/sample_efficiency.py [--problems ...] [--algorithms ...] [--parallel 1 4]
        [--seeds 1 2 3 4 5] [--trials 60] [--jobs 1] [--results FILE]
    .venv/bin/python bench/sample_efficiency.py --report FILE
    .venv/bin/python bench/sample_efficiency.py --simulate [--problems ...] [--seeds $(seq 1 100)] ...

Each run is one Katib v1beta1 Experiment (written as YAML to a temporary directory, with a fresh SQLite store
and work directory) driven to its end by pykatib's controller in this process (or in one of ``--jobs`` worker
processes): every trial is a real process, ``python3 bench/problems/<problem>.py --x1=...``, printing
``value=<float>`` for the StdOut collector. The objective is minimised; the best value is read from the final
status (``currentOptimalTrial``). Problems:

* branin: Branin-Hoo, 2-d; regret = best - 0.397887.
* hartmann6: Hartmann 6-d; regret = best - (-3.322368).
* svm: SVC (RBF, standardised) on scikit-learn's breast_cancer, C and gamma logUniform, 3-fold CV; the figure
  is the best CV error (1 - accuracy), no known optimum. Trials ask an evaluation server started here (one
  scikit-learn import, a fork per request; see problems/svm_breast_cancer.py) unless ``--ml-in-process``.

Sobol is deterministic (Katib's sobol takes no seed): it runs once per parallelism, whatever ``--seeds`` says.
Grid is left out (the problems are continuous).

``--simulate`` checks the figures with many more seeds than real experiments can afford: each run drives the
algorithm's suggester directly (no controller, store or processes), with the objective evaluated in this
process; at parallelTrialCount P the suggester is asked for as many suggestions as slots are free, and
trials end one at a time in a random (seeded) order, as real trials of varying length do. The same table is
printed, with the standard error of each mean; runs are saved only when ``--results`` names a file (kept apart
from real runs: the file remembers that it holds simulated ones).

Every finished run is saved at once to the results file (JSON), and runs already there are skipped, so the
matrix can be run in chunks, one command after another; ``--report`` prints the table from that file. The
summary checks the issue's targets: every model-based algorithm (tpe, multivariate-tpe, cmaes,
bayesianoptimization) has a lower mean than random on every problem, and an algorithm's mean at
parallelTrialCount 4 is at most 1.2 times its mean at parallelTrialCount 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent
PROBLEM_DIR = ROOT / "problems"
ALGORITHMS = ("random", "sobol", "tpe", "multivariate-tpe", "cmaes", "bayesianoptimization")
MODEL_BASED = ("tpe", "multivariate-tpe", "cmaes", "bayesianoptimization")
RATIO_TARGET = 1.2


@dataclass(frozen=True)
class Problem:
    script: str
    parameters: tuple[tuple[str, float, float, str | None], ...]  # name, min, max, distribution
    optimum: float | None  # None: report the best value itself (an error rate)
    label: str

    def figure(self, best: float) -> float:
        return best if self.optimum is None else best - self.optimum


PROBLEMS = {
    "branin": Problem("branin.py", (("x1", -5.0, 10.0, None), ("x2", 0.0, 15.0, None)), 0.39788735772973816, "regret"),
    "hartmann6": Problem(
        "hartmann6.py", tuple((f"x{i}", 0.0, 1.0, None) for i in range(1, 7)), -3.32236801141551, "regret"
    ),
    "svm": Problem(
        "svm_breast_cancer.py", (("C", 1e-2, 1e4, "logUniform"), ("gamma", 1e-5, 1e1, "logUniform")), None, "CV error"
    ),
}


def experiment(problem: str, algorithm: str, parallel: int, seed: int | None, trials: int, server: str | None):
    spec = PROBLEMS[problem]
    parameters = []
    for name, low, high, distribution in spec.parameters:
        feasible = {"min": repr(low), "max": repr(high)}
        if distribution:
            feasible["distribution"] = distribution
        parameters.append({"name": name, "parameterType": "double", "feasibleSpace": feasible})
    command = ["python3", str(PROBLEM_DIR / spec.script)]
    command += [f"--{name}=${{trialParameters.{name}}}" for name, *_ in spec.parameters]
    if server:
        command.append(f"--server={server}")
    algo: dict[str, Any] = {"algorithmName": algorithm}
    if seed is not None:
        algo["algorithmSettings"] = [{"name": "random_state", "value": str(seed)}]
    exp_name = f"{problem}-{algorithm}-p{parallel}-s{seed if seed is not None else 'none'}"
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": exp_name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "value"},
            "algorithm": algo,
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": 3,
            "parameters": parameters,
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": name, "reference": name} for name, *_ in spec.parameters],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"containers": [{"name": "main", "command": command}]}}},
                },
            },
        },
    }


def run_one(problem: str, algorithm: str, parallel: int, seed: int | None, trials: int, server: str | None):
    """One experiment, start to end, in a fresh temporary directory; returns the result record."""
    from pykatib.control.runner import ExperimentController
    from pykatib.spec.loader import parse_experiment
    from pykatib.store import Store

    doc = experiment(problem, algorithm, parallel, seed, trials, server)
    with tempfile.TemporaryDirectory(prefix="pykatib-sample-") as tmp_name:
        tmp = Path(tmp_name)
        path = tmp / "experiment.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        exp = parse_experiment(yaml.safe_load(path.read_text()), source=str(path))
        store = Store(f"sqlite:///{tmp / 'store.db'}")
        start = time.perf_counter()
        try:
            status = asyncio.run(ExperimentController(exp, store, workdir=tmp / "w").run())
        finally:
            store.close()
        wall = time.perf_counter() - start
    optimal = status.get("currentOptimalTrial") or {}
    metrics = (optimal.get("observation") or {}).get("metrics") or []
    best = next((float(m["min"]) for m in metrics if m.get("name") == "value"), math.nan)
    reason = next((c.get("reason") for c in reversed(status.get("conditions") or []) if c.get("status") == "True"), "")
    return {
        "problem": problem,
        "algorithm": algorithm,
        "parallel": parallel,
        "seed": seed,
        "trials": trials,
        "best": best,
        "figure": PROBLEMS[problem].figure(best),
        "best_assignment": {a["name"]: a["value"] for a in optimal.get("parameterAssignments") or []},
        "succeeded": status.get("trialsSucceeded"),
        "failed": status.get("trialsFailed"),
        "end_reason": reason,
        "wall_s": round(wall, 3),
    }


def simulate_one(problem: str, algorithm: str, parallel: int, seed: int | None, trials: int) -> dict[str, Any]:
    """One run of ``--simulate``: the suggester and the objective in this process (see the module docstring)."""
    import random
    from dataclasses import replace

    from pykatib.spec.models import AlgorithmSetting, ObjectiveType, ParameterSpec
    from pykatib.spec.space import parse_search_space
    from pykatib.suggest import TrialResult, algorithm_settings, create_suggester

    spec = PROBLEMS[problem]
    parameters = experiment(problem, algorithm, parallel, seed, trials, None)["spec"]["parameters"]
    space, errors = parse_search_space([ParameterSpec.model_validate(p) for p in parameters])
    assert not errors, errors
    given = [] if seed is None else [AlgorithmSetting(name="random_state", value=str(seed))]
    suggester = create_suggester(algorithm, space, ObjectiveType.MINIMIZE, algorithm_settings(algorithm, given))
    objective = OBJECTIVES[problem]()
    order = random.Random(seed)
    history: list[TrialResult] = []
    running: list[int] = []
    start = time.perf_counter()
    while len(history) < trials or running:
        free = min(parallel - len(running), trials - len(history))
        if free > 0:
            for suggestion in suggester.suggest(free, history):
                running.append(len(history))
                history.append(TrialResult(f"t{len(history)}", suggestion.assignment, "Running"))
        if not running:
            break  # the space is used up
        i = running.pop(order.randrange(len(running)))
        value = objective({k: float(v) for k, v in history[i].assignment.items()})
        history[i] = replace(history[i], phase="Succeeded", objective=value)
    best = min(t.objective for t in history if t.objective is not None)
    return {
        "problem": problem,
        "algorithm": algorithm,
        "parallel": parallel,
        "seed": seed,
        "trials": trials,
        "best": best,
        "figure": spec.figure(best),
        "wall_s": round(time.perf_counter() - start, 3),
    }


def _branin() -> Any:
    sys.path.insert(0, str(PROBLEM_DIR))
    from branin import branin

    return lambda a: branin(a["x1"], a["x2"])


def _hartmann6() -> Any:
    sys.path.insert(0, str(PROBLEM_DIR))
    from hartmann6 import hartmann6

    return lambda a: hartmann6([a[f"x{i}"] for i in range(1, 7)])


def _svm() -> Any:
    sys.path.insert(0, str(PROBLEM_DIR))
    from svm_breast_cancer import evaluate

    return lambda a: evaluate(a["C"], a["gamma"])


OBJECTIVES = {"branin": _branin, "hartmann6": _hartmann6, "svm": _svm}


def run_simulated(args: argparse.Namespace) -> None:
    command = shlex.join([".venv/bin/python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]])
    started = time.perf_counter()
    results_path = Path(args.results) if args.results else None
    data: dict[str, Any] = load(results_path) if results_path else {"invocations": [], "runs": []}
    if data["runs"] and not data.get("simulated"):
        raise SystemExit(f"{results_path} holds real runs: give --simulate a file of its own")
    data["simulated"] = True
    done = {key(r) for r in data["runs"]}
    invocation: dict[str, Any] = {"command": command, "runs": 0}
    data["invocations"].append(invocation)
    for problem in args.problems:
        for algorithm in args.algorithms:
            for parallel in args.parallel:
                for seed in [None] if algorithm == "sobol" else args.seeds:
                    if (problem, algorithm, parallel, seed, args.trials) in done:
                        continue
                    data["runs"].append(simulate_one(problem, algorithm, parallel, seed, args.trials))
                    invocation["runs"] += 1
                    invocation["wall_s"] = round(time.perf_counter() - started, 1)
                    if results_path:
                        save(results_path, data)
            print(f"  {problem} {algorithm} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    report(data, standard_error=True)


def key(record: dict[str, Any]) -> tuple[Any, ...]:
    return (record["problem"], record["algorithm"], record["parallel"], record["seed"], record["trials"])


def load(path: Path) -> dict[str, Any]:
    if path.exists():
        return json.loads(path.read_text())
    return {"invocations": [], "runs": []}


def save(path: Path, data: dict[str, Any]) -> None:
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(data, indent=1))
    part.replace(path)


def start_server(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    socket_path = str(tmp / "svm.sock")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(PROBLEM_DIR / "svm_breast_cancer.py"), f"--serve={socket_path}"],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        proc.kill()
        raise SystemExit("the svm evaluation server did not start")
    return proc, socket_path


def run_matrix(args: argparse.Namespace) -> None:
    results_path = Path(args.results or Path(tempfile.gettempdir()) / "pykatib-sample-efficiency.json")
    data = load(results_path)
    if data.get("simulated"):
        raise SystemExit(f"{results_path} holds simulated runs: give the real matrix a file of its own")
    done = {key(r) for r in data["runs"]}
    plan = []
    for problem in args.problems:
        for algorithm in args.algorithms:
            for parallel in args.parallel:
                for seed in [None] if algorithm == "sobol" else args.seeds:
                    job = (problem, algorithm, parallel, seed, args.trials)
                    if job not in done:
                        plan.append(job)
    command = shlex.join([".venv/bin/python", os.path.relpath(__file__, Path.cwd()), *sys.argv[1:]])
    print(f"command: {command}")
    print(f"{len(plan)} runs to do ({len(done)} already in {results_path}), {args.jobs} at a time", flush=True)
    started = time.perf_counter()
    invocation = {"command": command, "started": datetime.now(UTC).isoformat(timespec="seconds"), "runs": 0}
    data["invocations"].append(invocation)
    with tempfile.TemporaryDirectory(prefix="pykatib-sample-srv-") as tmp:
        server_proc = None
        server = None
        if not args.ml_in_process and any(job[0] == "svm" for job in plan):
            server_proc, server = start_server(Path(tmp))
        try:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                pending: dict[Future[dict[str, Any]], tuple[Any, ...]] = {}
                queue = list(plan)
                while queue or pending:
                    while queue and len(pending) < args.jobs:
                        job = queue.pop(0)
                        pending[pool.submit(run_one, *job[:4], job[4], server if job[0] == "svm" else None)] = job
                    finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in finished:
                        job = pending.pop(future)
                        record = future.result()
                        data["runs"].append(record)
                        invocation["runs"] += 1
                        invocation["wall_s"] = round(time.perf_counter() - started, 1)
                        save(results_path, data)
                        print(
                            f"  {record['problem']:9} {record['algorithm']:20} P={record['parallel']} "
                            f"seed={record['seed']}: {PROBLEMS[record['problem']].label} {record['figure']:.6g} "
                            f"({record['succeeded']} ok, {record['failed']} failed, {record['wall_s']:.1f} s)",
                            flush=True,
                        )
        finally:
            if server_proc is not None:
                server_proc.terminate()
                server_proc.wait()
    invocation["wall_s"] = round(time.perf_counter() - started, 1)
    save(results_path, data)
    print(f"wall time {invocation['wall_s']:.1f} s\n")
    report(data)


def fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e4:
        return f"{value:.4f}"
    return f"{value:.2e}"


def report(data: dict[str, Any], standard_error: bool = False) -> None:
    groups: dict[tuple[str, str, int], list[float]] = {}
    for r in data["runs"]:
        groups.setdefault((r["problem"], r["algorithm"], r["parallel"]), []).append(r["figure"])
    problems = [p for p in PROBLEMS if any(k[0] == p for k in groups)]
    algorithms = [a for a in ALGORITHMS if any(k[1] == a for k in groups)]
    parallels = sorted({k[2] for k in groups})
    trials = sorted({r["trials"] for r in data["runs"]})
    seeds = sorted({r["seed"] for r in data["runs"] if r["seed"] is not None})
    mean = {k: statistics.fmean(v) for k, v in groups.items()}

    print("Commands:")
    for inv in data["invocations"]:
        print(f"  {inv['command']}   ({inv.get('runs', 0)} runs, {inv.get('wall_s', 0):.0f} s)")
    total = sum(inv.get("wall_s", 0) for inv in data["invocations"])
    print(f"Total wall time {total:.0f} s ({total / 60:.1f} min) over {len(data['runs'])} runs; {trials} trials each,")
    print(f"seeds {seeds} (sobol: one run per parallelism, deterministic).\n")

    def cell(k: tuple[str, str, int]) -> str:
        values = groups.get(k)
        if not values:
            return "-"
        if len(values) == 1:
            return f"{fmt(values[0])} (n=1)"
        spread = statistics.stdev(values)
        if standard_error:
            error = spread / math.sqrt(len(values))
            return f"{fmt(mean[k])} ± {fmt(error)} (s.e.), median {fmt(statistics.median(values))}"
        return f"{fmt(mean[k])} ± {fmt(spread)} [{fmt(min(values))}, {fmt(max(values))}]"

    columns = "mean ± s.e., median" if standard_error else "mean ± std [min, max]"
    head = ["problem", "algorithm"] + [f"P={p}: {columns}" for p in parallels]
    if len(parallels) > 1:
        head.append(f"P{parallels[-1]}/P{parallels[0]}")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for problem in problems:
        for algorithm in algorithms:
            row = [f"{problem} ({PROBLEMS[problem].label})", algorithm]
            row += [cell((problem, algorithm, p)) for p in parallels]
            if len(parallels) > 1:
                lo, hi = (problem, algorithm, parallels[0]), (problem, algorithm, parallels[-1])
                row.append(f"{mean[hi] / mean[lo]:.2f}" if lo in mean and hi in mean and mean[lo] > 0 else "-")
            print("| " + " | ".join(row) + " |")

    print("\nTarget 1: every model-based algorithm has a lower mean than random (per problem and parallelism)")
    failures = 0
    for problem in problems:
        for p in parallels:
            base = mean.get((problem, "random", p))
            if base is None:
                continue
            for algorithm in MODEL_BASED:
                k = (problem, algorithm, p)
                if k in mean:
                    ok = mean[k] < base
                    failures += not ok
                    verdict = "holds" if ok else "FAILS"
                    print(f"  {verdict:5} {problem:9} P={p} {algorithm:20} {fmt(mean[k])} vs random {fmt(base)}")
    print(f"  -> {failures} failure(s)")

    if len(parallels) > 1:
        lo_p, hi_p = parallels[0], parallels[-1]
        print(f"\nTarget 2: mean at P={hi_p} <= {RATIO_TARGET} x mean at P={lo_p} (per algorithm and problem)")
        failures = 0
        for problem in problems:
            for algorithm in algorithms:
                lo, hi = mean.get((problem, algorithm, lo_p)), mean.get((problem, algorithm, hi_p))
                if lo is None or hi is None:
                    continue
                ok = hi <= RATIO_TARGET * lo
                failures += not ok
                ratio = f"{hi / lo:.2f}" if lo > 0 else "inf"
                verdict = "holds" if ok else "FAILS"
                print(f"  {verdict:5} {problem:9} {algorithm:20} {fmt(hi)} / {fmt(lo)} = {ratio}")
        print(f"  -> {failures} failure(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--algorithms", nargs="+", choices=ALGORITHMS, default=list(ALGORITHMS))
    parser.add_argument("--parallel", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=1, help="experiments run at the same time (worker processes)")
    parser.add_argument(
        "--results", help="results file (JSON; default for real runs: pykatib-sample-efficiency.json in the temp dir)"
    )
    parser.add_argument("--ml-in-process", action="store_true", help="svm trials import scikit-learn themselves")
    parser.add_argument("--report", metavar="FILE", help="print the table from a results file and exit")
    parser.add_argument("--simulate", action="store_true", help="suggesters driven in process, many seeds (see above)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.report:
        data = load(Path(args.report))
        report(data, standard_error=bool(data.get("simulated")))
    elif args.simulate:
        run_simulated(args)
    else:
        run_matrix(args)


if __name__ == "__main__":
    main()
