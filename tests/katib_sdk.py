"""The official ``kubeflow-katib`` SDK from PyPI, in a virtual environment of the tests' own.

Katib's SDK pins protobuf<5 and pulls kubeflow-training, so it cannot share pykatib's environment. The
environment is built once (``.venv-katib-sdk`` in the repository, ignored by git) and reused while its
requirements stay the same. ``KatibSdk.run(code)`` runs a Python script there, as a user's notebook or
trial would, and returns what it printed. A machine that cannot install it skips with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e_support import PROJECT

# kubernetes<34: 37.0.2 (what pip picks for the SDK's "kubernetes>=27.2.0") validates arguments with
# pydantic and refuses the SDK's V1beta1Experiment objects in create_namespaced_custom_object; 33.1.0
# is the last series the SDK works with here.
REQUIREMENTS = ("kubeflow-katib==0.19.*", "kubernetes>=27.2,<34")
VENV = PROJECT / ".venv-katib-sdk"
_STAMP = ".requirements"


def _stamp() -> str:
    return hashlib.sha256("\n".join(REQUIREMENTS).encode()).hexdigest()


def ensure_venv() -> Path:
    """The SDK's environment, built (or rebuilt when REQUIREMENTS changed) on first use; its python."""
    python = VENV / "bin" / "python"
    stamp = VENV / _STAMP
    if python.exists() and stamp.exists() and stamp.read_text() == _stamp():
        return python
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *REQUIREMENTS],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        pytest.skip(f"cannot install the official Katib SDK ({' '.join(REQUIREMENTS)}):\n{done.stderr[-2000:]}")
    stamp.write_text(_stamp())
    return python


@dataclass
class KatibSdk:
    python: Path

    def run(
        self, code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run ``code`` (dedented) with the SDK's python; fails the test with its output on a non-zero exit."""
        done = self.run_unchecked(code, env=env, cwd=cwd, timeout=timeout)
        assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        return done

    def run_unchecked(
        self, code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        base = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        return subprocess.run(
            [str(self.python), "-c", textwrap.dedent(code)],
            env={**base, **(env or {})},
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture(scope="session")
def katib_sdk() -> KatibSdk:
    return KatibSdk(ensure_venv())
