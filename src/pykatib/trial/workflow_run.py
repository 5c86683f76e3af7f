"""Runs an Argo Workflow trial's plan: ``python -m pykatib.trial.workflow_run PLAN.json``.

The trial's one process (its log is the trial's log): it runs the steps the plan lists (``trial.workflow``,
localized by ``control.launch``) as child processes, each in its own process group like a pod, in the order
of the workflow's steps and dag. The primary step writes to this process's stdout and stderr (the trial's
log, which the metrics collector reads); every other step to its own log file. A step whose result a later
step reads has its stdout captured as Argo's ``outputs.result`` (one trailing newline trimmed, at most the
last 256 kB). The first failed step fails the workflow: steps already running finish, no other starts,
and this process exits with that step's status. On SIGTERM the running steps get SIGTERM, then SIGKILL
after a grace period. Only the standard library: it starts once per trial.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

# What trial.workflow leaves in a step's argv, env and script for the run: a step's result, the trial's name.
RESULT_MARKER = "{{pykatib.result.%s}}"
WORKFLOW_NAME_MARKER = "{{pykatib.workflow.name}}"
MARKER = re.compile(r"\{\{pykatib\.(?:result\.([a-z0-9-]+)|workflow\.name)\}\}")
TRIAL_NAME_ENV = "KATIB_TRIAL_NAME"
RESULT_LIMIT = 256 * 1024  # Argo keeps the last 256 kB of a result
STOP_GRACE_SECONDS = 2.0  # below the executor's own grace, so the steps are gone before the runner is
LEFTOVER_GRACE_SECONDS = 3.0  # what a finished step left in its group: SIGTERM, then SIGKILL (a pod's end)
PR_SET_PDEATHSIG = 1
PREFIX = "pykatib workflow:"
_LIBC = ctypes.CDLL(None, use_errno=True)


class WorkflowRun:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.steps: dict[str, dict[str, Any]] = plan["steps"]
        self.results: dict[str, str] = {}
        self.running: set[int] = set()  # process groups of running steps
        self.failed: int | None = None  # the exit status of the first step that failed
        self.stopping = False
        self.trial_name = os.environ.get(TRIAL_NAME_ENV, "")

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        await self.node(self.plan["root"])
        if self.stopping:
            return 128 + signal.SIGTERM
        return 0 if self.failed is None else self.failed

    def stop(self) -> None:
        """SIGTERM every running step's group, SIGKILL after the grace period; start nothing more."""
        if self.stopping:
            return
        self.stopping = True
        groups = list(self.running)
        for pgid in groups:
            _signal_group(pgid, signal.SIGTERM)
        asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, _kill_groups, groups)

    def go_on(self) -> bool:
        return not self.stopping and self.failed is None

    async def node(self, node: dict[str, Any]) -> bool:
        """Run one node of the tree; whether it succeeded."""
        if "leaf" in node:
            return await self.leaf(node["leaf"])
        if "steps" in node:
            for group in node["steps"]:
                if not self.go_on():
                    return False
                done = await asyncio.gather(*(self.node(child) for child in group))
                if not all(done):
                    return False
            return True
        return await self.dag(node["dag"])

    async def dag(self, tasks: list[dict[str, Any]]) -> bool:
        """Each task once its dependencies succeeded; after a failure no new task starts (Argo's failFast)."""
        finished: dict[str, asyncio.Future[bool]] = {
            t["name"]: asyncio.get_running_loop().create_future() for t in tasks
        }

        async def task(item: dict[str, Any]) -> None:
            ok = True
            for dependency in item["dependencies"]:
                ok = await finished[dependency] and ok
            ok = ok and self.go_on() and await self.node(item["node"])
            finished[item["name"]].set_result(ok)

        await asyncio.gather(*(task(t) for t in tasks))
        return all(f.result() for f in finished.values())

    def substitute(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            return self.trial_name if match.group(1) is None else self.results.get(match.group(1), "")

        return MARKER.sub(replace, text)

    async def leaf(self, key: str) -> bool:
        if not self.go_on():
            return False
        step = self.steps[key]
        argv = [self.substitute(a) for a in step["argv"]]
        env = {k: v for k, v in os.environ.items() if k not in step["unset"]}
        env.update({k: self.substitute(v) for k, v in step["env"].items()})
        script = step.get("script")
        if script is not None:
            os.makedirs(os.path.dirname(script["path"]), exist_ok=True)
            with open(script["path"], "w") as f:
                f.write(self.substitute(script["source"]))
            os.chmod(script["path"], 0o755)
        capture = bool(step.get("result"))
        log = None if step["primary"] else open(step["log"], "ab")  # noqa: SIM115 (closed below)
        try:
            stdout: Any = subprocess.PIPE if capture else log  # None: the runner's own (the trial's log)
            try:
                process = await asyncio.create_subprocess_exec(
                    *argv, stdin=subprocess.DEVNULL, stdout=stdout, stderr=log, cwd=step["cwd"], env=env,
                    process_group=0, preexec_fn=functools.partial(_die_with_parent, os.getpid()),
                )  # fmt: skip
            except OSError as exc:
                _say(f"step {step['name']} ({key}) could not start: {exc}")
                self.failed = self.failed or 127
                return False
            self.running.add(process.pid)
            if self.stopping:  # stopped while it was starting
                _signal_group(process.pid, signal.SIGTERM)
                asyncio.get_running_loop().call_later(STOP_GRACE_SECONDS, _kill_groups, [process.pid])
            pump = None
            if capture:
                assert process.stdout is not None
                out = log.fileno() if log is not None else sys.stdout.fileno()
                pump = asyncio.ensure_future(_pump(process.stdout, out))
            code = await process.wait()
            # The pod's end: what the step left in its process group goes too.
            _signal_group(process.pid, signal.SIGTERM)
            if pump is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pump), LEFTOVER_GRACE_SECONDS)
            _signal_group(process.pid, signal.SIGKILL)
            self.running.discard(process.pid)
            if pump is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(pump), LEFTOVER_GRACE_SECONDS)
                pump.cancel()
                if pump.done() and not pump.cancelled():
                    self.results[key] = _result(pump.result())
        finally:
            if log is not None:
                log.close()
        if code == 0:
            return True
        status = code if code > 0 else 128 - code  # killed by a signal: 128 + its number, as a shell says
        if not self.stopping:
            where = "" if step["primary"] else f"; its log: {os.path.basename(step['log'])}"
            _say(f"step {step['name']} ({key}) failed with exit status {status}{where}")
        self.failed = self.failed or status
        return False


async def _pump(stream: asyncio.StreamReader, out: int) -> bytes:
    """Copy a step's stdout to ``out`` as it comes; return its last RESULT_LIMIT bytes (and one more)."""
    kept = bytearray()
    while chunk := await stream.read(65536):
        os.write(out, chunk)
        kept += chunk
        if len(kept) > 2 * RESULT_LIMIT:
            del kept[: len(kept) - RESULT_LIMIT - 1]
    return bytes(kept)


def _result(out: bytes) -> str:
    text = out.decode(errors="replace")
    text = text.removesuffix("\n")
    return text[-RESULT_LIMIT:]


def _die_with_parent(parent: int) -> None:
    """In the child before exec: a runner killed outright (SIGKILL) takes its steps with it."""
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the runner died before the line above
        os._exit(137)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _kill_groups(groups: list[int]) -> None:
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)


def _say(message: str) -> None:
    sys.stderr.write(f"{PREFIX} {message}\n")
    sys.stderr.flush()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        _say("usage: python -m pykatib.trial.workflow_run PLAN.json")
        return 2
    with open(argv[1]) as f:
        plan = json.load(f)
    if sys.version_info < (3, 12) and hasattr(os, "pidfd_open"):
        # 3.11 waits for each child in a thread of its own; the steps' preexec_fn must fork beside no thread.
        # (3.12 waits on pidfds by default, and deprecates choosing.)
        asyncio.set_child_watcher(asyncio.PidfdChildWatcher())
    return asyncio.run(WorkflowRun(plan).run())


if __name__ == "__main__":
    sys.exit(main(sys.argv))
