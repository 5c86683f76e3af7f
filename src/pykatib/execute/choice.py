"""Which executor runs the trials: ``--executor local`` (this machine's processes, GPUs handed out) or
``--executor ray`` (a Ray cluster, ``--ray-address``)."""

from __future__ import annotations

from pykatib.execute.base import Executor

EXECUTORS = ("local", "ray")


class ExecutorUnavailableError(RuntimeError):
    """The chosen executor cannot run here (Ray missing, no cluster at the address)."""


def create_executor(kind: str = "local", ray_address: str | None = None) -> Executor:
    """The executor, connected where it needs a connection (so a missing cluster is an error at start)."""
    if kind == "ray":
        from pykatib.execute.ray_executor import RayExecutor, RayUnavailableError

        executor = RayExecutor(ray_address or "auto")
        try:
            executor.connect()
        except RayUnavailableError as exc:
            raise ExecutorUnavailableError(str(exc)) from None
        return executor
    if kind != "local":
        raise ExecutorUnavailableError(f"unknown executor {kind!r}: use one of {', '.join(EXECUTORS)}")
    from pykatib.execute.gpus import GpuExecutor
    from pykatib.execute.local import LocalExecutor

    return GpuExecutor(LocalExecutor())
