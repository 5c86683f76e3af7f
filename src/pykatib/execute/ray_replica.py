"""One trial replica's process on a Ray node: the body of the Ray actor ``execute.ray_executor`` starts.

The process runs in its own session on the node (stopping the trial stops its whole group there), its
output goes to a file on the node that the controller reads back in chunks (no shared filesystem needed),
and its exit code is kept until the controller has read it. The actor is detached: it outlives a controller
that dies, and a restarted one finds it by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

READ_LIMIT = 1 << 20  # bytes of output per read
NODE_ENV = "PYKATIB_RAY_NODE_ID"  # the Ray node a replica runs on, for the trial and the tests


class Replica:
    """A replica's process (a Ray actor's state)."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, gpus: int) -> None:
        import ray

        self.directory = tempfile.mkdtemp(prefix="pykatib-replica-")
        self.log_path = os.path.join(self.directory, "output.log")
        env = dict(env)
        # The devices Ray gave this actor (num_gpus); a replica that asked for none sees none.
        env["CUDA_VISIBLE_DEVICES"] = os.environ.get("CUDA_VISIBLE_DEVICES", "") if gpus else ""
        self.node_id = ray.get_runtime_context().get_node_id()
        env[NODE_ENV] = self.node_id
        os.makedirs(cwd, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.code: int | None = None

    def where(self) -> dict[str, object]:
        """The node, host and pid this replica runs on."""
        return {"node_id": self.node_id, "host": socket.gethostname(), "pid": self.proc.pid}

    def progress(self, offset: int) -> tuple[bytes, int | None]:
        """Output from ``offset`` on, and the exit code once the process has ended (a shell's 128+N for a
        signal). The code comes only with the last of the output."""
        code = self._poll()
        with open(self.log_path, "rb") as log:
            log.seek(offset)
            chunk = log.read(READ_LIMIT)
        more = os.path.getsize(self.log_path) > offset + len(chunk)
        return chunk, None if more else code

    def stop(self, grace: float) -> int | None:
        """SIGTERM to the replica's group, SIGKILL after ``grace`` seconds; its exit code."""
        if self._poll() is None:
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self._poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
        self._signal(signal.SIGKILL)  # what the process left in its group, or the process itself
        self.proc.wait()
        return self._poll()

    def close(self) -> int | None:
        """Stop whatever is left (the process, or what it left in its group) and remove the output file."""
        code = self.stop(0.0)
        shutil.rmtree(self.directory, ignore_errors=True)
        return code

    def _poll(self) -> int | None:
        if self.code is None:
            returncode = self.proc.poll()
            if returncode is not None:
                self.code = 128 - returncode if returncode < 0 else returncode
        return self.code

    def _signal(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)
