"""Scale-out: throughput of many trivial trials, pykatib's ways against each other and against Ray Tune.

    .venv/bin/python bench/scale.py [--trials 1000] [--experiments 3] [--parallel 4] [--ray-trials 1000]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

Every trial is the same trivial work: `python3 -c "print('loss=' + sys.argv[1])" X`, one process.

1. baseline: `pykatib run`, one experiment of TRIALS trials, PARALLEL at a time, SQLite, local processes;
   and the bare work: the same commands through a PARALLEL-wide pool of subprocesses.
2. server: `pykatib server` on a scratch PostgreSQL database, EXPERIMENTS experiments of TRIALS trials each
   POSTed at once (each PARALLEL at a time), local executor, until all have succeeded.
3. ray: `pykatib run --executor ray` of RAY_TRIALS trials on a local Ray cluster of PARALLEL CPUs (each trial
   one actor, one CPU).
4. Ray Tune 2.60 on the same cluster, the same RAY_TRIALS trials PARALLEL at a time: (a) a function trainable
   running the same process per trial (the same work), (b) one computing the loss in its own process
   (Tune's best case: no process per trial).

Printed per line: wall seconds, trials per second, wall milliseconds per trial, and the ratio of trials per
second against the baseline (1.) and, for Ray, against Ray Tune (a). All on this one machine, one after the
other; nothing else of pykatib's should run meanwhile.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead
from large_experiment import server

ROOT = Path(__file__).resolve().parents[1]
CODE = "import sys; print('loss=' + sys.argv[1])"
GROUP = "/apis/kubeflow.org/v1beta1/namespaces/default/experiments"


def experiment(name: str, trials: int, parallel: int) -> dict[str, Any]:
    """bench/overhead.py's experiment of the trivial trial; no failure ends it early."""
    doc = overhead.experiment(name, ["python3", "-c", CODE, "${trialParameters.x}"], trials, parallel)
    doc["spec"]["maxFailedTrialCount"] = trials
    return doc


def line(label: str, trials: int, seconds: float, base: float | None = None, peer: float | None = None) -> float:
    rate = trials / seconds
    extra = ""
    if base is not None:
        extra += f"  {rate / base:5.2f}x pykatib run (SQLite)"
    if peer is not None:
        extra += f"  {rate / peer:5.2f}x Ray Tune (same work)"
    print(f"{label:<46} {trials:>5} trials {seconds:8.1f} s {rate:7.1f} trials/s {1000 / rate:7.1f} ms/trial{extra}")
    return rate


def bare(trials: int, parallel: int, tmp: Path) -> float:
    return overhead.bare_pool([sys.executable, "-c", CODE, "0.5"], trials, parallel, tmp)


def pykatib_run(doc: dict[str, Any], tmp: Path, *extra: str) -> float:
    path = tmp / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "pykatib.cli", "run", str(path), "--workdir", str(tmp / "state"), "-o", "json", *extra],
        capture_output=True, text=True, cwd=tmp,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    status = json.loads(run.stdout)["status"] if run.returncode == 0 else {}
    if status.get("trialsSucceeded") != doc["spec"]["maxTrialCount"]:
        raise RuntimeError(f"pykatib run {' '.join(extra)} ended {run.returncode}: {run.stderr[-2000:]} {status}")
    return elapsed


def served(postgres: str, experiments: int, trials: int, parallel: int, tmp: Path) -> float:
    """The experiments POSTed at once to a server on a scratch PostgreSQL database; until all succeeded."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = make_url(postgres)
    name = f"pykatib_scale_{secrets.token_hex(3)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = admin.set(database=name).render_as_string(hide_password=False)
    home = tmp / "home"
    home.mkdir()
    try:
        with server(home, None, tmp / "server.log", "--db", url, "--workdir", str(tmp / "served"), "--grpc-port",
                    "0") as srv, srv.client() as http:  # fmt: skip
            start = time.perf_counter()
            for i in range(experiments):
                response = http.post(GROUP, json=experiment(f"scale-{i}", trials, parallel))
                response.raise_for_status()
            pending = {f"scale-{i}" for i in range(experiments)}
            while pending:
                time.sleep(0.2)
                for exp in list(pending):
                    status = http.get(f"{GROUP}/{exp}").json().get("status") or {}
                    if status.get("completionTime"):
                        if status.get("trialsSucceeded") != trials:
                            raise RuntimeError(f"{exp} ended as {json.dumps(status)[:2000]}")
                        pending.discard(exp)
            return time.perf_counter() - start
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        engine.dispose()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RayCluster:
    """A one-node local Ray cluster of PARALLEL CPUs (`ray start --head --block` in its own process group)."""

    def __init__(self, cpus: int, tmp: Path) -> None:
        self.address = f"127.0.0.1:{free_port()}"
        ray = str(Path(sys.executable).with_name("ray"))
        command = [ray, "start", "--block", "--head", f"--port={self.address.split(':')[1]}", f"--num-cpus={cpus}",
                   "--include-dashboard=false", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
                   f"--temp-dir={tmp / 'ray'}"]  # fmt: skip
        self.log = tmp / "ray.log"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ray start failed:\n{self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", int(self.address.split(":")[1])), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        time.sleep(3)  # the raylet registers after the GCS listens

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


# Ray Tune in a process of its own (a driver like a user's script): the wall time of Tuner.fit().
TUNE = """
import json, subprocess, sys, time
import ray
from ray import tune

address, trials, parallel, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
CODE = {code!r}

def same_work(config):
    out = subprocess.run([sys.executable, "-c", CODE, str(config["x"])], capture_output=True, text=True, check=True)
    tune.report({{"loss": float(out.stdout.strip().split("=")[1])}})

def in_process(config):
    tune.report({{"loss": config["x"]}})

ray.init(address=address, log_to_driver=False, logging_level="ERROR")
tuner = tune.Tuner(
    same_work if mode == "same" else in_process,
    param_space={{"x": tune.uniform(0, 1)}},
    tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=parallel, metric="loss", mode="min"),
    run_config=tune.RunConfig(storage_path={storage!r}, verbose=0),
)
start = time.perf_counter()
results = tuner.fit()
elapsed = time.perf_counter() - start
print(json.dumps({{"seconds": elapsed, "ok": sum(1 for r in results if r.error is None)}}))
"""


def ray_tune(address: str, trials: int, parallel: int, mode: str, tmp: Path) -> float:
    script = tmp / f"tune_{mode}.py"
    script.write_text(textwrap.dedent(TUNE.format(code=CODE, storage=str(tmp / f"tune-{mode}"))))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
           "RAY_AIR_NEW_OUTPUT": "0"}  # fmt: skip
    run = subprocess.run([sys.executable, str(script), address, str(trials), str(parallel), mode],
                         capture_output=True, text=True, env=env)  # fmt: skip
    result = json.loads(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 else {}
    if result.get("ok") != trials:
        raise RuntimeError(f"Ray Tune ({mode}) ended {run.returncode}: {run.stderr[-3000:]} {result}")
    return float(result["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--experiments", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--ray-trials", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--skip", action="append", default=[], choices=["server", "ray", "tune"])
    args = parser.parse_args()
    import pykatib

    compileall.compile_dir(Path(pykatib.__file__).parent, quiet=1)  # as an installed package is
    print(f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; every trial: python3 -c {CODE!r}")
    with tempfile.TemporaryDirectory(prefix="pykatib-scale-") as name:
        tmp = Path(name)
        n, p = args.trials, args.parallel
        line(f"bare work ({p} at a time)", n, bare(n, p, tmp))
        (tmp / "run").mkdir()
        base = line("pykatib run, SQLite, local", n, pykatib_run(experiment("sqlite", n, p), tmp / "run"))
        if "server" not in args.skip:
            total = args.experiments * n
            seconds = served(args.postgres, args.experiments, n, p, tmp)
            line(f"pykatib server, PostgreSQL, {args.experiments} experiments", total, seconds, base)
        if "ray" in args.skip and "tune" in args.skip:
            return
        cluster = RayCluster(p, tmp)
        try:
            r = args.ray_trials
            peer = None
            if "tune" not in args.skip:
                peer = line("Ray Tune 2.60, a process per trial", r, ray_tune(cluster.address, r, p, "same", tmp))
                line("Ray Tune 2.60, in-process trainable", r, ray_tune(cluster.address, r, p, "inproc", tmp))
            if "ray" not in args.skip:
                (tmp / "ray-run").mkdir()
                doc = experiment("ray", r, p)
                seconds = pykatib_run(doc, tmp / "ray-run", "--executor", "ray", "--ray-address", cluster.address)
                line("pykatib run --executor ray", r, seconds, base, peer)
        finally:
            cluster.stop()
            shutil.rmtree(tmp / "ray", ignore_errors=True)
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
