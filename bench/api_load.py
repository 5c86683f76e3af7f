"""The API of `pykatib server` under load, `kubectl get trials` of a large experiment, and the overhead of
experiments the server runs.

    .venv/bin/python bench/api_load.py [--trials 10000] [--seconds 20] [--clients 20] [--quick]

1. Load: one finished experiment of TRIALS trials (20 observations each, a few KB of log each) written
   straight into a new store, a server started on it, then CLIENTS concurrent clients (threads of this
   process, an httpx.Client each) for SECONDS s, each request one of: a page of 100 trials (label selector
   on the experiment; a client follows the continue token from a random page for up to 5 pages), a trial,
   a trial's primary pod log. Printed per endpoint: requests, req/s, p50/p95/p99, errors (non-200, or a
   body that is not what was asked for). Targets: 0 errors, p95 < 100 ms for a page of 100. Also printed
   first: each endpoint's latency with one client alone (the server's own time per request).
2. `kubectl get trials -n NS` of all TRIALS (kubectl's own paging, 500 a request) and with
   `--chunk-size=0` (one request), timed end to end, median of 3 after one untimed run that fills
   kubectl's discovery cache. Target: under 2 s.
3. Overhead: on a fresh server, 300 trivial python trials at parallelTrialCount 2 (the command
   `bench/overhead.py` uses), timed from the POST of the experiment to its final (Succeeded) status, against a bare
   2-wide pool running the same commands (`bench/overhead.py`'s own baseline), and through the controller in
   this process (`bench/overhead.py`'s in-process figure, to tell the server's own share). Interleaved
   REPEAT times, medians, with where the server's time goes (the POST's answer, the first trial's start, the
   last one's end, the final status, from the store's times). No interpreter start-up on the server side:
   target ratio <= 1.15.

`--token`: the servers require a bearer token, and so serve https with a self-signed certificate (kubectl
sends a token over TLS only); by default plain http on loopback, as `pykatib server` runs unless told.
The load clients run in this process, on the machine the server runs on (GIL-bound: at most one core of
the two); their latencies include their own queueing. `--quick`: 1,000 trials, 5 s, 60 overhead trials,
once.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from large_experiment import Seeded, Server, seed, server  # noqa: E402  (the seeded store, the server)
from overhead import bare_pool, controller_only, experiment, load  # noqa: E402  (bench/overhead.py: the baseline)

GROUP = "/apis/kubeflow.org/v1beta1"
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
TRIAL_LABEL = "katib.kubeflow.org/trial"
PAGE = 100
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


# --- load -------------------------------------------------------------------------------------------


@dataclass
class Target:
    """What the clients ask for: the experiment, its trials, the continue tokens of its pages, pod names."""

    seeded: Seeded
    tokens: list[str]  # "" for the first page
    pods: dict[str, str]  # trial -> its primary pod

    @property
    def list_path(self) -> str:
        return f"{GROUP}/namespaces/{self.seeded.namespace}/trials"

    @property
    def selector(self) -> str:
        return f"{EXPERIMENT_LABEL}={self.seeded.name}"

    def pod(self, trial: str) -> str:
        return self.pods.get(trial) or f"{trial}-job-0"


@dataclass
class Sample:
    kind: str
    seconds: float
    ok: bool
    problem: str = ""


@dataclass
class Client:
    """One load client: its own connection, and its place in a walk through the pages."""

    target: Target
    http: httpx.Client
    rng: random.Random
    samples: list[Sample] = field(default_factory=list)
    token: str | None = None
    walked: int = 0

    def one(self, kind: str) -> Sample:
        seeded = self.target.seeded
        start = time.perf_counter()
        try:
            if kind == "list":
                if self.token is None or self.walked >= 5:
                    self.token, self.walked = self.rng.choice(self.target.tokens), 0
                params = {"limit": str(PAGE), "labelSelector": self.target.selector}
                if self.token:
                    params["continue"] = self.token
                response = self.http.get(self.target.list_path, params=params)
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    return Sample(kind, elapsed, False, f"{response.status_code} {response.text[:200]}")
                body = response.json()
                self.token = (body.get("metadata") or {}).get("continue") or None
                self.walked += 1
                items = len(body.get("items") or [])
                if items != PAGE and not (self.token is None and 0 < items <= PAGE):
                    return Sample(kind, elapsed, False, f"a page of {items} items")
                return Sample(kind, elapsed, True)
            trial = self.rng.choice(seeded.trials)
            if kind == "get":
                response = self.http.get(f"{self.target.list_path}/{trial}")
                elapsed = time.perf_counter() - start
                if response.status_code != 200:
                    return Sample(kind, elapsed, False, f"{response.status_code} {response.text[:200]}")
                if response.json()["metadata"]["name"] != trial:
                    return Sample(kind, elapsed, False, "another trial")
                return Sample(kind, elapsed, True)
            response = self.http.get(f"/api/v1/namespaces/{seeded.namespace}/pods/{self.target.pod(trial)}/log")
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                return Sample(kind, elapsed, False, f"{response.status_code} {response.text[:200]}")
            if b"loss=" not in response.content:
                return Sample(kind, elapsed, False, f"log without metrics: {response.content[:100]!r}")
            return Sample(kind, elapsed, True)
        except Exception as exc:  # a transport error, or a body that is not the JSON asked for: counted
            return Sample(kind, time.perf_counter() - start, False, f"{type(exc).__name__}: {exc}")


KINDS = ("list", "get", "log")


def prepare(srv: Server, seeded: Seeded) -> tuple[Target, float]:
    """Walk every page once (its continue tokens; the time of one client reading them all) and find the
    primary pod of a few trials through the pods endpoint (checks the `<trial>-job-0` naming)."""
    tokens = [""]
    params = {"limit": str(PAGE), "labelSelector": f"{EXPERIMENT_LABEL}={seeded.name}"}
    path = f"{GROUP}/namespaces/{seeded.namespace}/trials"
    seen = 0
    with srv.client() as http:
        start = time.perf_counter()
        while True:
            response = http.get(path, params=params)
            response.raise_for_status()
            body = response.json()
            seen += len(body["items"])
            token = body["metadata"].get("continue")
            if not token:
                break
            tokens.append(token)
            params["continue"] = token
        walk = time.perf_counter() - start
        if seen != len(seeded.trials):
            raise RuntimeError(f"paging through the trials gave {seen} of {len(seeded.trials)}")
        pods = {}
        for trial in seeded.trials[:3]:
            response = http.get(
                f"/api/v1/namespaces/{seeded.namespace}/pods", params={"labelSelector": f"{TRIAL_LABEL}={trial}"}
            )
            response.raise_for_status()
            items = response.json()["items"]
            primary = [p for p in items if (p["metadata"].get("labels") or {}).get("pykatib.kubeflow.org/primary")]
            if not primary:
                raise RuntimeError(f"no primary pod listed for trial {trial}: {items}")
            pods[trial] = primary[0]["metadata"]["name"]
            if pods[trial] != f"{trial}-job-0":
                print(f"  note: the primary pod of {trial} is {pods[trial]}, not {trial}-job-0")
    return Target(seeded, tokens, pods), walk


def alone(srv: Server, target: Target, rounds: int) -> dict[str, float]:
    """Median latency of each endpoint with one client and nothing else running."""
    client = Client(target, srv.client(), random.Random(1))
    medians = {}
    with client.http:
        for kind in KINDS:
            samples = [client.one(kind) for _ in range(rounds)]
            bad = [s for s in samples if not s.ok]
            if bad:
                raise RuntimeError(f"{kind} failed with one client: {bad[0].problem}")
            medians[kind] = statistics.median(s.seconds for s in samples)
    return medians


def hammer(srv: Server, target: Target, clients: int, seconds: float) -> tuple[list[Sample], float]:
    """``clients`` threads for ``seconds``, each request list, get or log at random (one third each)."""
    workers = [Client(target, srv.client(timeout=60), random.Random(100 + i)) for i in range(clients)]
    barrier = threading.Barrier(clients + 1)
    deadline = 0.0

    def run(client: Client) -> None:
        barrier.wait()
        while time.perf_counter() < deadline:
            client.samples.append(client.one(client.rng.choice(KINDS)))

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    start = time.perf_counter()
    deadline = start + seconds
    barrier.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    for worker in workers:
        worker.http.close()
    return [s for w in workers for s in w.samples], elapsed


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# --- kubectl ----------------------------------------------------------------------------------------


def kubeconfig(path: Path, srv: Server, namespace: str) -> None:
    user: dict[str, Any] = {"token": srv.token} if srv.token else {}
    cluster: dict[str, Any] = {"server": srv.url}
    if srv.ca:
        cluster["certificate-authority"] = srv.ca
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "pykatib",
                "clusters": [{"name": "pykatib", "cluster": cluster}],
                "users": [{"name": "pykatib", "user": user}],
                "contexts": [
                    {"name": "pykatib", "context": {"cluster": "pykatib", "user": "pykatib", "namespace": namespace}}
                ],
            }
        )
    )


def kubectl_get(config: Path, cache: Path, namespace: str, extra: list[str], expected: int) -> float:
    command = [
        KUBECTL,
        "--kubeconfig",
        str(config),
        "--cache-dir",
        str(cache),
        "get",
        "trials",
        "-n",
        namespace,
        *extra,
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = len(done.stdout.splitlines()) - 1
    if rows != expected:
        raise RuntimeError(f"kubectl get trials printed {rows} rows, not {expected}:\n{done.stdout[:500]}")
    return elapsed


# --- overhead ---------------------------------------------------------------------------------------


@dataclass
class ServedRun:
    """One experiment through the server, in seconds from the POST (the phases from the store's times)."""

    seen: float  # a poll saw it Succeeded
    answered: float  # the POST's 201
    first_start: float  # the first trial's start_time
    last_end: float  # the last trial's completion_time
    total: float  # the experiment row's last update: the final status, served from then on


def served_experiment(srv: Server, doc: dict[str, Any], trials: int, db: Path) -> ServedRun:
    """POST the experiment, poll until it has succeeded. The time counted is from the POST to the final
    status's write (the experiment row's updated_at, in microseconds): what the API serves from then on. A
    poll sees it up to 0.1 s later (polls are kept that rare so as not to load the server; each on a new
    connection: a kept-alive one answers about 40 ms late, a delayed ACK, the server's sockets lacking
    TCP_NODELAY)."""
    from pykatib.store import Store

    path = f"{GROUP}/namespaces/default/experiments"
    name = doc["metadata"]["name"]
    limits = httpx.Limits(max_keepalive_connections=0)
    with srv.client(limits=limits) as http:
        posted = time.time()
        start = time.perf_counter()
        response = http.post(path, json=doc)
        answered = time.perf_counter() - start
        if response.status_code != 201:
            raise RuntimeError(f"POST {path} gave {response.status_code}: {response.text[:2000]}")
        deadline = start + 900
        while time.perf_counter() < deadline:
            status = http.get(f"{path}/{name}").json().get("status") or {}
            if status.get("completionTime"):
                elapsed = time.perf_counter() - start
                conditions = {c["type"]: c["status"] for c in status.get("conditions") or []}
                if conditions.get("Succeeded") != "True" or status.get("trialsSucceeded") != trials:
                    raise RuntimeError(f"experiment {name} ended as {json.dumps(status)[:2000]}")
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"experiment {name} did not end within 900 s")
    with Store(f"sqlite:///{db}") as store:
        record = store.get_experiment(name, "default")
        assert record is not None
        rows = store.list_trials(record.id)
    starts = [t.start_time.timestamp() for t in rows if t.start_time is not None]
    ends = [t.completion_time.timestamp() for t in rows if t.completion_time is not None]
    written = record.updated_at.timestamp() - posted
    return ServedRun(elapsed, answered, min(starts) - posted, max(ends) - posted, written)


def overhead(
    trials: int, repeat: int, tmp: Path, token: str | None
) -> tuple[list[float], list[ServedRun], list[float]]:
    """REPEAT rounds of: the bare pool, the experiment through the server, the same experiment through the
    controller in this process (`bench/overhead.py`'s in-process figure: the server's own share apart)."""
    home = tmp / "overhead-home"
    home.mkdir()
    inproc = tmp / "overhead-inproc"
    inproc.mkdir()
    command = ["python3", "-c", "print('loss=0.5')", "${trialParameters.x}"]
    # The server runs `python3` as the interpreter running it: this one (it is started with sys.executable).
    argv = [sys.executable if a == "python3" else a.replace("${trialParameters.x}", "0.5") for a in command]
    bares: list[float] = []
    served: list[ServedRun] = []
    controllers: list[float] = []
    with server(home, token, tmp / "overhead-server.log") as srv:
        for i in range(repeat):
            name = f"python-print-{i}"
            bares.append(bare_pool(argv, trials, 2, tmp))
            served.append(served_experiment(srv, experiment(name, command, trials, 2), trials, home / "pykatib.db"))
            controllers.append(controller_only(experiment(name, command, trials, 2), inproc))
            print(
                f"  round {i + 1}: bare pool {bares[-1]:.2f} s, server {served[-1].total:.2f} s "
                f"(ratio {served[-1].total / bares[-1]:.3f}), controller in process {controllers[-1]:.2f} s "
                f"(ratio {controllers[-1] / bares[-1]:.3f}); load average {load()}"
            )
    return bares, served, controllers


# --- main -------------------------------------------------------------------------------------------


Targets = list[tuple[str, str, bool]]  # (target, measured, met)


def run_load(srv: Server, seeded: Seeded, clients: int, seconds: float, targets: Targets) -> None:
    target, walk = prepare(srv, seeded)
    pages = len(target.tokens)
    print(
        f"one client paging through all {len(seeded.trials)} trials: {pages} pages in {walk:.2f} s "
        f"({walk / pages * 1000:.1f} ms a page)"
    )
    single = alone(srv, target, 20)
    print("one client alone, median of 20: " + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in single.items()))
    samples, elapsed = hammer(srv, target, clients, seconds)
    print(f"{clients} clients for {seconds:g} s ({elapsed:.1f} s until the last answer; load average {load()}):")
    print(f"  {'endpoint':28} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    labels = {"list": "list (page of 100 trials)", "get": "get trial", "log": "pod log", "all": "all"}
    problems: list[str] = []
    p95_list = float("nan")
    for kind in (*KINDS, "all"):
        chosen = [s for s in samples if kind in ("all", s.kind)]
        times = [s.seconds * 1000 for s in chosen]
        errors = [s for s in chosen if not s.ok]
        if kind != "all":
            problems += [f"{s.kind}: {s.problem}" for s in errors[:3]]
        p50, p95, p99 = (percentile(times, q) for q in (50, 95, 99))
        if kind == "list":
            p95_list = p95
        rate = len(chosen) / elapsed
        print(f"  {labels[kind]:28} {len(chosen):8d} {rate:8.1f} {p50:8.1f} {p95:8.1f} {p99:8.1f} {len(errors):6d}")
    for problem in problems:
        print(f"  error: {problem}")
    total_errors = sum(not s.ok for s in samples)
    targets.append(("API load: errors", f"{total_errors}", total_errors == 0))
    targets.append(("API load: p95 of a page of 100 < 100 ms", f"{p95_list:.0f} ms", p95_list < 100))


def run_kubectl(srv: Server, seeded: Seeded, tmp: Path, targets: Targets) -> None:
    if not os.access(KUBECTL, os.X_OK):
        print(f"kubectl: not found at {KUBECTL}; skipped")
        return
    config, cache = tmp / "kubeconfig", tmp / "kube-cache"
    kubeconfig(config, srv, seeded.namespace)
    version = subprocess.run([KUBECTL, "version", "--client", "-o", "json"], capture_output=True, text=True).stdout
    shown = json.loads(version or "{}").get("clientVersion", {}).get("gitVersion", "?")
    count = len(seeded.trials)
    results = {}
    for label, extra in (("kubectl get trials", []), ("kubectl get trials --chunk-size=0", ["--chunk-size=0"])):
        cold = kubectl_get(config, cache, seeded.namespace, extra, count)
        runs = [kubectl_get(config, cache, seeded.namespace, extra, count) for _ in range(3)]
        results[label] = statistics.median(runs)
        print(
            f"{label} ({count} trials, kubectl {shown}): median of 3 {results[label]:.2f} s "
            f"({', '.join(f'{r:.2f}' for r in runs)}; first, discovery cache empty: {cold:.2f} s)"
        )
    value = results["kubectl get trials"]
    targets.append((f"kubectl get trials of {count} < 2 s", f"{value:.2f} s", value < 2))


def run_overhead(trials: int, repeat: int, tmp: Path, token: str | None, targets: Targets) -> None:
    print(f"overhead: {trials} python trials at parallelTrialCount 2 (load average {load()})")
    bares, runs, controllers = overhead(trials, repeat, tmp, token)
    bare = statistics.median(bares)
    served = statistics.median(r.total for r in runs)
    controller = statistics.median(controllers)
    ratio = served / bare
    print(f"  median of {repeat}:")
    print(f"  {'bare pool':30} {bare:8.2f} s")
    for label, value in (("server (POST to final status)", served), ("controller in process", controller)):
        per_trial = (value - bare) / trials * 1000
        print(f"  {label:30} {value:8.2f} s   ratio {value / bare:6.3f}   ({per_trial:.2f} ms per trial of wall time)")

    def phase(field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs) * 1000

    trials_window = statistics.median(r.last_end - r.first_start for r in runs)
    print(
        f"  through the server, ms from the POST (medians): 201 at {phase('answered'):.0f}, first trial started "
        f"{phase('first_start'):.0f}, last trial ended {phase('last_end'):.0f}, final status written "
        f"{phase('total'):.0f} (seen by a poll at {phase('seen'):.0f}); first start to last end "
        f"{trials_window:.2f} s ({trials_window / bare:.3f} of the bare pool)"
    )
    targets.append(("server overhead ratio <= 1.15", f"{ratio:.3f}", ratio <= 1.15))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--observations", type=int, default=20)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--overhead-trials", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--token", action="store_true", help="the servers require a bearer token (https)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["load", "kubectl", "overhead"])
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    parser.add_argument("--quick", action="store_true", help="1,000 trials, 5 s, 60 overhead trials, once")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.seconds, args.overhead_trials, args.repeat = 1000, 5.0, 60, 1
    os.chdir(ROOT)
    import pykatib

    compileall.compile_dir(Path(pykatib.__file__).parent, quiet=1)
    token = secrets.token_urlsafe(24) if args.token else None
    targets: Targets = []
    print(f"load average at start {load()}; {os.cpu_count()} cores")
    tmp = Path(tempfile.mkdtemp(prefix="pykatib-api-load-"))
    try:
        if not {"load", "kubectl"} <= set(args.skip):
            home = tmp / "home"
            home.mkdir()
            start = time.perf_counter()
            seeded = seed(home, args.trials, args.observations)
            size = (home / "pykatib.db").stat().st_size / 1e6
            print(
                f"seeded {args.trials} trials x {args.observations} observations (+ a trial.log each) "
                f"in {time.perf_counter() - start:.1f} s; store {size:.0f} MB"
            )
            with server(home, token, tmp / "server.log") as srv:
                if "load" not in args.skip:
                    run_load(srv, seeded, args.clients, args.seconds, targets)
                if "kubectl" not in args.skip:
                    run_kubectl(srv, seeded, tmp, targets)
        if "overhead" not in args.skip:
            run_overhead(args.overhead_trials, args.repeat, tmp, token, targets)
        print(f"load average at end {load()}")
        print()
        print(f"{'target':45} {'measured':>10}  result")
        for label, value, met in targets:
            print(f"{label:45} {value:>10}  {'PASS' if met else 'MISS'}")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
