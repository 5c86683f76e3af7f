"""``examples/sdk/tune.ipynb`` runs from top to bottom in a Jupyter kernel of this environment's python,
against a real ``pykatib server`` (found through ``PYKATIB_HOME``, as a user's notebook finds ``~/.pykatib``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from server_support import PROJECT, running_server

NOTEBOOK = PROJECT / "examples" / "sdk" / "tune.ipynb"
KERNEL = "pykatib-test"
CELL_TIMEOUT = 180  # seconds a cell may take (the wait cell runs the whole experiment); a guard, not a measure


def test_tune_notebook_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # A kernel spec of this python (not whatever "python3" kernel the machine has), found through JUPYTER_PATH.
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": KERNEL, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    for variable in ("PYKATIB_SERVER", "PYKATIB_TOKEN", "KATIB_TRIAL_NAME", "PYKATIB_TRIAL_DIR"):
        monkeypatch.delenv(variable, raising=False)
    with running_server(tmp_path / "home") as server:
        monkeypatch.setenv("PYKATIB_HOME", str(server.home))
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        nbclient.NotebookClient(notebook, kernel_name=KERNEL, timeout=CELL_TIMEOUT,
                                resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
        with server.client() as http:
            left = http.get("/apis/kubeflow.org/v1beta1/experiments").json()["items"]
    printed = "".join(
        out.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
    )
    assert "Experiment Trials status: 4 Trials" in printed and "4 Succeeded Trials" in printed
    details = [line for line in printed.splitlines() if line.startswith("tune-experiment-") and "result =" in line]
    assert len(details) == 4, printed
    assert any(line.startswith("result=") for line in printed.splitlines()), printed  # the best trial's log
    cell = next(c for c in notebook.cells if c.source == "client.get_optimal_hyperparameters(name)")
    optimal = cell.outputs[0]["data"]["text/plain"]
    assert "'best_trial_name': 'tune-experiment-" in optimal
    assert left == []  # the last cell deleted it
