"""pykatib's GPU hand-out on a real NVIDIA machine (issue 16): what tests/e2e/test_gpus.py checks with a fake
device list, here with the devices the machine has and trials that compute on them with PyTorch.

    PYTHONPATH=src python3 bench/gpu_check.py --out gpu_check.json [--workdir DIR] [--budget 300]

PYKATIB_GPUS must not be set: pykatib finds the devices as a user's run would (its CUDA_VISIBLE_DEVICES, else
nvidia-smi). Needs nvidia-smi, PyTorch built with CUDA and pykatib's requirements. One `pykatib run` per check,
one after the other, each in its own work directory:

1. ``machine``: nvidia-smi -L, the driver, PyTorch's version and device name, the devices pykatib finds.
2. ``gpu``: random search over ``lr``, 6 trials 3 at a time, each container asking ``nvidia.com/gpu: 1`` and
   running this file's ``trial`` mode (bf16 matrix products on cuda for 2.5 s, then gradient descent with
   step ``lr`` on a least-squares problem whose final loss it prints): all Succeeded, each trial saw one device
   of the machine in CUDA_VISIBLE_DEVICES and had CUDA, and no two trials that held the same device overlapped
   in time (each prints when its process started and ended).
3. ``no-gpu``: 2 trials, 2 at a time, asking none: CUDA_VISIBLE_DEVICES empty, torch.cuda.is_available() False.
4. ``too-many``: 1 trial asking one device more than the machine has: Failed, its message naming the count.
5. ``darts``, ``enas``: Katib's nas/darts-gpu.yaml unchanged and nas/enas-gpu.yaml with maxTrialCount 3
   (``--set``, for time), on the stand-in images: Succeeded; the darts stand-in says it trained on the GPU.

Meanwhile nvidia-smi's compute processes are sampled every 0.5 s: which trial programs used a GPU in each
check, and the most at once. The JSON (--out) is rewritten after each check; exit 0 when every check passed.

``--dry-run`` runs it all where there is no GPU, to check the script, its experiments and imports:
PYKATIB_GPUS must name fake devices, trials compute on the CPU, and what needs a GPU is reported, not checked.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve()
NAS = ROOT / "examples" / "katib" / "nas"
RECORD = "gpu-check "  # the trial's line of what it saw, before its JSON
SECONDS = 2.5  # of matrix products per GPU trial


# --- the trial (run by pykatib as each trial's command) -------------------------------------------------------


def trial(lr: float, seconds: float, require_cuda: bool) -> int:
    """Print what the trial sees of the GPUs, keep the one it was given busy, then a loss that depends on lr."""
    start = time.time()
    import torch

    available = torch.cuda.is_available()
    seen: dict[str, Any] = {
        "start": start,
        "pid": os.getpid(),
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "NVIDIA_VISIBLE_DEVICES": os.environ.get("NVIDIA_VISIBLE_DEVICES"),
        "cuda_available": available,
        "device_count": torch.cuda.device_count() if available else 0,
    }
    if require_cuda and not available:
        print(RECORD + json.dumps(seen), flush=True)
        print("this trial asked for a GPU and PyTorch sees none", file=sys.stderr)
        return 3
    device = torch.device("cuda" if available else "cpu")
    if available:
        seen["device_name"] = torch.cuda.get_device_name(0)
    # Matrix products for `seconds`: the device is busy while the trial holds it.
    size, dtype = (8192, torch.bfloat16) if available else (256, torch.float32)
    generator = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(size, size, device=device, dtype=dtype, generator=generator)
    c = torch.empty_like(a)
    products, began = 0, time.perf_counter()
    while products == 0 or time.perf_counter() - began < seconds:
        for _ in range(10):
            torch.matmul(a, a, out=c)
        if available:
            torch.cuda.synchronize()
        products += 10
    elapsed = time.perf_counter() - began
    seen["matmul_seconds"] = round(elapsed, 3)
    seen["matmul_tflops"] = round(2 * size**3 * products / elapsed / 1e12, 1)
    # The objective: least squares by gradient descent with step lr, 100 steps; the final mean squared error.
    x = torch.randn(4096, 256, device=device, generator=generator)
    target = x @ torch.randn(256, device=device, generator=generator)
    w = torch.zeros(256, device=device)
    for _ in range(100):
        w = w - lr * 2 * x.T @ (x @ w - target) / len(target)
    loss = float(((x @ w - target) ** 2).mean())
    seen["end"] = time.time()
    print(RECORD + json.dumps(seen), flush=True)
    print(f"loss={loss if math.isfinite(loss) else 1e30:.6g}")
    return 0


# --- the experiments ------------------------------------------------------------------------------------------


def experiment(name: str, trials: int, parallel: int, gpus: int | None, *, require_cuda: bool) -> dict[str, Any]:
    """Random search over lr; each trial this file's trial mode, its container asking ``gpus`` (None: no
    resources at all)."""
    command = ["python3", str(SELF), "trial", "--lr", "${trialParameters.lr}"]
    command += ["--seconds", str(SECONDS if gpus else 0)] + (["--require-cuda"] if require_cuda else [])
    container: dict[str, Any] = {"name": "main", "image": "python:3.12", "command": command}
    if gpus is not None:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    return {
        "apiVersion": "kubeflow.org/v1beta1",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": {
            "objective": {"type": "minimize", "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "random", "algorithmSettings": [{"name": "random_state", "value": "7"}]},
            "parallelTrialCount": parallel,
            "maxTrialCount": trials,
            "maxFailedTrialCount": trials,
            "parameters": [
                {
                    "name": "lr",
                    "parameterType": "double",
                    "feasibleSpace": {"min": "0.001", "max": "0.5", "distribution": "logUniform"},
                }
            ],
            "trialTemplate": {
                "primaryContainerName": "main",
                "trialParameters": [{"name": "lr", "reference": "lr"}],
                "trialSpec": {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "spec": {"template": {"spec": {"containers": [container], "restartPolicy": "Never"}}},
                },
            },
        },
    }


# --- watching the GPUs ----------------------------------------------------------------------------------------


class ComputeApps:
    """nvidia-smi's compute processes, sampled every 0.5 s in a thread, per check (``phase``)."""

    def __init__(self, smi: str | None) -> None:
        self.smi = smi
        self.phase = ""
        self.seen: dict[str, dict[str, Any]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ComputeApps:
        if self.smi:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        assert self.smi is not None
        query = [self.smi, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"]
        while not self._stop.wait(0.5):
            phase = self.phase
            try:
                out = subprocess.run(query, capture_output=True, text=True, timeout=10).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            pids = [line.split(",")[0].strip() for line in out.splitlines() if line.strip()]
            if not phase:
                continue
            entry = self.seen.setdefault(phase, {"samples": 0, "most_at_once": 0, "programs": {}})
            entry["samples"] += 1
            entry["most_at_once"] = max(entry["most_at_once"], len(pids))
            for pid in pids:
                entry["programs"].setdefault(pid, _cmdline(pid))

    @contextlib.contextmanager
    def watching(self, phase: str) -> Iterator[None]:
        self.phase = phase
        try:
            yield
        finally:
            self.phase = ""


def _cmdline(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()[:200]


# --- running pykatib and reading what it did -------------------------------------------------------------------


class Budget:
    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def left(self) -> float:
        return self.deadline - time.monotonic()


def run_pykatib(file: Path, workdir: Path, env: dict[str, str], timeout: float, *extra: str) -> dict[str, Any]:
    """``pykatib run FILE --workdir WORKDIR -o json EXTRA``: exit status, wall time, the status block."""
    command = [sys.executable, "-m", "pykatib.cli", "run", str(file), "--workdir", str(workdir), "-o", "json"]
    command += extra
    began = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # pykatib stops its trials and exits
        try:
            stdout, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        stderr = f"timed out after {timeout:.0f} s\n{stderr}"
    result: dict[str, Any] = {"rc": proc.returncode, "wall_s": round(time.monotonic() - began, 1)}
    try:
        status = json.loads(stdout)["status"]
    except (ValueError, KeyError, TypeError):
        status = None
    result["status"] = _short_status(status)
    if proc.returncode != 0 or status is None:
        result["stderr_tail"] = stderr[-2000:]
    return result


def _short_status(status: dict[str, Any] | None) -> dict[str, Any] | None:
    if status is None:
        return None
    conditions = status.get("conditions") or []
    last = conditions[-1] if conditions else {}
    keys = ("trials", "trialsSucceeded", "trialsFailed", "startTime", "completionTime")
    short = {k: status.get(k) for k in keys}
    short["condition"] = f"{last.get('type')}: {last.get('reason')}"
    optimal = status.get("currentOptimalTrial") or {}
    metrics = (optimal.get("observation") or {}).get("metrics") or []
    short["optimal"] = {m.get("name"): m.get("latest") for m in metrics} or None
    return short


def trial_records(workdir: Path, namespace: str, name: str) -> list[dict[str, Any]]:
    """Per trial of the experiment: the store's phase, reason and message, the devices pykatib gave it
    (gpus.json), what it printed of its own (the ``gpu-check`` line), and the stand-ins' device lines."""
    from pykatib.store import Store

    db = workdir / "pykatib.db"
    if not db.exists():
        return []
    with Store(f"sqlite:///{db}") as store:
        experiment = store.get_experiment(name, namespace)
        rows = store.list_trials(experiment.id) if experiment is not None else []
    records = []
    for row in rows:
        entry: dict[str, Any] = {"trial": row.name, "phase": str(getattr(row.phase, "value", row.phase))}
        entry.update(reason=row.reason, message=row.message)
        for key in ("start_time", "completion_time"):
            value = getattr(row, key)
            entry[key] = value.isoformat() if value is not None else None
        directory = workdir / "experiments" / namespace / name / "trials" / row.name
        with contextlib.suppress(OSError, ValueError):
            entry["gpus_json"] = json.loads((directory / "gpus.json").read_text())
        log = directory / "trial.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        for line in text.splitlines():
            if line.startswith(RECORD):
                with contextlib.suppress(ValueError):
                    entry["seen"] = json.loads(line[len(RECORD) :])
            elif line.startswith((">>> Use GPU", ">>> Use CPU", "Device name:")):
                entry.setdefault("device_lines", []).append(line)
        records.append(entry)
    return records


def overlapping(seen: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Pairs of trials (by their pids) that ran at the same time on the same device."""
    pairs = []
    for i, a in enumerate(seen):
        for b in seen[i + 1 :]:
            if a.get("CUDA_VISIBLE_DEVICES") != b.get("CUDA_VISIBLE_DEVICES"):
                continue
            if a["start"] < b["end"] and b["start"] < a["end"]:
                pairs.append((a["pid"], b["pid"]))
    return pairs


# --- the checks -----------------------------------------------------------------------------------------------


def machine(env: dict[str, str], smi: str | None) -> dict[str, Any]:
    from pykatib.execute.gpus import detect_gpus

    info: dict[str, Any] = {"python": sys.version.split()[0], "CUDA_VISIBLE_DEVICES": env.get("CUDA_VISIBLE_DEVICES")}
    if smi:
        for key, args in {
            "nvidia_smi_L": ["-L"],
            "gpus": ["--query-gpu=index,name,driver_version,memory.total", "--format=csv,noheader"],
        }.items():
            out = subprocess.run([smi, *args], capture_output=True, text=True, timeout=30)
            info[key] = out.stdout.strip().splitlines()
    probe = (
        "import json, torch; a = torch.cuda.is_available(); print(json.dumps({'torch': torch.__version__, "
        "'cuda': torch.version.cuda, 'available': a, 'count': torch.cuda.device_count() if a else 0, "
        "'name': torch.cuda.get_device_name(0) if a else None}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
    info["torch"] = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}
    info["pykatib_devices"] = detect_gpus(env)
    return info


def check_gpu(seen: list[dict[str, Any]], records: list[dict[str, Any]], devices: list[str], dry: bool) -> list[str]:
    problems = []
    if len(records) != 6 or any(r.get("phase") != "Succeeded" for r in records):
        problems.append(f"not 6 Succeeded trials: {[(r['trial'], r.get('phase'), r.get('message')) for r in records]}")
    if len(seen) != len(records):
        problems.append(f"{len(seen)} trials printed what they saw, of {len(records)}")
    wrong = [s for s in seen if s.get("CUDA_VISIBLE_DEVICES") not in devices]
    if wrong:
        problems.append(f"trials saw devices other than one of {devices}: {wrong}")
    if not dry and any(not s.get("cuda_available") or s.get("device_count") != 1 for s in seen):
        problems.append("a trial had no CUDA, or more than its one device")
    pairs = overlapping([s for s in seen if "end" in s])
    if pairs:
        problems.append(f"trials on the same device overlapped in time: {pairs}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode")
    one = sub.add_parser("trial", help="one trial (pykatib runs this)")
    one.add_argument("--lr", type=float, required=True)
    one.add_argument("--seconds", type=float, default=SECONDS)
    one.add_argument("--require-cuda", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("gpu_check.json"))
    parser.add_argument("--workdir", type=Path, default=None, help="[default: a new temporary directory]")
    parser.add_argument("--budget", type=float, default=300, help="seconds for all the checks together")
    parser.add_argument("--enas-trials", type=int, default=3)
    parser.add_argument("--dry-run", action="store_true", help="no GPU here: fake devices from PYKATIB_GPUS")
    args = parser.parse_args(argv)
    if args.mode == "trial":
        return trial(args.lr, args.seconds, args.require_cuda)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    if args.dry_run != ("PYKATIB_GPUS" in env):
        parser.error("PYKATIB_GPUS must be set with --dry-run (fake devices) and unset without it")
    smi = None if args.dry_run else shutil.which("nvidia-smi")
    if not args.dry_run and smi is None:
        parser.error("no nvidia-smi here (--dry-run checks the script where there is no GPU)")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    budget = Budget(args.budget)
    report: dict[str, Any] = {"dry_run": args.dry_run, "checks": {}}
    checks: dict[str, Any] = report["checks"]

    def save() -> None:
        args.out.write_text(json.dumps(report, indent=2, default=str) + "\n")

    def say(text: str) -> None:
        print(text, flush=True)

    began = time.monotonic()
    report["machine"] = info = machine(env, smi)
    devices = [str(d) for d in info["pykatib_devices"]]
    say(f"machine: {info.get('nvidia_smi_L')} {info.get('gpus')} torch {info['torch']}; pykatib's devices {devices}")
    save()
    if not devices:
        say("FAIL: pykatib finds no GPU here")
        return 1

    def run(check: str, file: Path, timeout: float, *extra: str) -> dict[str, Any] | None:
        left = budget.left()
        if left < 15:
            checks[check] = {"ok": False, "problems": ["skipped: the budget is spent"]}
            say(f"{check}: SKIPPED (budget)")
            save()
            return None
        metadata = yaml.safe_load(file.read_text())["metadata"]
        with apps.watching(check):
            result = run_pykatib(file, workdir / check, env, min(timeout, left), *extra)
        result["trials"] = trial_records(workdir / check, metadata.get("namespace", "default"), metadata["name"])
        result["gpu_processes"] = apps.seen.get(check)
        checks[check] = result
        return result

    def verdict(check: str, problems: list[str]) -> None:
        result = checks[check]
        result["ok"], result["problems"] = not problems, problems
        status = result.get("status") or {}
        say(f"{check}: {'ok' if not problems else 'FAIL'} in {result.get('wall_s')} s, {status.get('condition')}")
        for problem in problems:
            say(f"  - {problem}")
        save()

    def write(name: str, doc: dict[str, Any]) -> Path:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    with ComputeApps(smi) as apps:
        # 2. Six GPU trials, three at a time, on the machine's devices.
        doc = experiment("gpu-check-gpu", 6, 3, 1, require_cuda=not args.dry_run)
        if (result := run("gpu", write("gpu", doc), 200)) is not None:
            seen = [r["seen"] for r in result["trials"] if "seen" in r]
            problems = check_gpu(seen, result["trials"], devices, args.dry_run)
            spans = sorted((s["start"], s["end"]) for s in seen if "end" in s)
            result["trial_seconds"] = [round(end - start, 2) for start, end in spans]
            result["gaps_between_trials_s"] = [round(b[0] - a[1], 2) for a, b in itertools.pairwise(spans)]
            result["matmul_tflops"] = [s.get("matmul_tflops") for s in seen]
            verdict("gpu", problems)
            say(f"  seen: {sorted({(s.get('CUDA_VISIBLE_DEVICES'), s.get('device_name')) for s in seen})}")
            say(f"  trial seconds {result['trial_seconds']}, gaps {result['gaps_between_trials_s']}")

        # 3. Trials that ask for no GPU see none.
        if (
            result := run("no-gpu", write("no-gpu", experiment("gpu-check-no-gpu", 2, 2, None, require_cuda=False)), 90)
        ) is not None:
            seen = [r["seen"] for r in result["trials"] if "seen" in r]
            problems = [] if len(seen) == 2 else [f"{len(seen)} of 2 trials printed what they saw"]
            problems += [f"saw a GPU: {s}" for s in seen if s.get("CUDA_VISIBLE_DEVICES") != "" or s["cuda_available"]]
            problems += [f"not Succeeded: {r}" for r in result["trials"] if r.get("phase") != "Succeeded"]
            verdict("no-gpu", problems)

        # 4. A trial asking for more devices than there are fails at once, saying so.
        wanted = len(devices) + 1
        doc = experiment("gpu-check-too-many", 1, 1, wanted, require_cuda=False)
        if (result := run("too-many", write("too-many", doc), 60)) is not None:
            expected = f"asks for {wanted} nvidia.com/gpu, and this machine has {len(devices)}"
            problems = [] if len(result["trials"]) == 1 else [f"{len(result['trials'])} trials, not 1"]
            problems += [f"not Failed naming the count: {r}" for r in result["trials"]
                         if r.get("phase") != "Failed" or expected not in str(r.get("message"))]  # fmt: skip
            problems += ["the trial ran" for r in result["trials"] if "seen" in r]
            verdict("too-many", problems)

        # 5. Katib's GPU examples of neural architecture search, on the stand-in images.
        # On a CPU (--dry-run) they would take minutes: one darts epoch, a one-layer enas network.
        quick = ["--set", "spec.algorithm.algorithmSettings[0].value=1"] if args.dry_run else []
        if (result := run("darts", NAS / "darts-gpu.yaml", 150, *quick)) is not None:
            problems = [f"not Succeeded: {r}" for r in result["trials"] if r.get("phase") != "Succeeded"]
            problems += [] if result["trials"] else ["no trial"]
            want = ">>> Use CPU for Training <<<" if args.dry_run else ">>> Use GPU for Training <<<"
            problems += [
                f"the stand-in did not say {want!r}" for r in result["trials"] if want not in r.get("device_lines", [])
            ]
            verdict("darts", problems)
            say(f"  {[r.get('device_lines') for r in result['trials']]}")
        count = str(args.enas_trials)
        budget_args = ["--set", f"spec.maxTrialCount={count}", "--set", f"spec.maxFailedTrialCount={count}"]
        budget_args += ["--set", "spec.nasConfig.graphConfig.numLayers=1"] if args.dry_run else []
        if (result := run("enas", NAS / "enas-gpu.yaml", 200, *budget_args)) is not None:
            problems = [f"not Succeeded: {r['trial']} {r.get('phase')} {r.get('message')}" for r in result["trials"]
                        if r.get("phase") != "Succeeded"]  # fmt: skip
            problems += [] if len(result["trials"]) == args.enas_trials else [f"{len(result['trials'])} trials"]
            programs = (result.get("gpu_processes") or {}).get("programs", {})
            result["enas_on_gpu"] = any("RunTrial.py" in p for p in programs.values())
            # nvidia-smi names processes where it can see them (not from inside some containers).
            listed = any(entry["most_at_once"] for entry in apps.seen.values())
            if listed and not result["enas_on_gpu"]:
                problems.append(f"no RunTrial.py among the GPU's processes: {programs}")
            verdict("enas", problems)

    report["wall_s"] = round(time.monotonic() - began, 1)
    report["ok"] = all(c.get("ok") for c in checks.values()) and len(checks) == 5
    save()
    say(f"{'ALL OK' if report['ok'] else 'FAILED'} in {report['wall_s']} s; report in {args.out}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
