"""What ``pykatib run`` shows: a live progress line while trials run, a table of trials at the end."""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pykatib.spec.conditions import TrialPhase
from pykatib.store import TrialRecord


class Progress:
    """A one-line live summary on stderr: trials done/running/failed, best so far, elapsed time."""

    def __init__(self, console: Console, name: str, objective: str) -> None:
        self.console = console
        self.name = name
        self.objective = objective
        self.started = time.monotonic()
        self.status: dict[str, Any] = {}
        self._live = Live(self._render(), console=console, refresh_per_second=4, transient=True)

    def __enter__(self) -> Progress:
        self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._live.__exit__(kind, error, traceback)

    def update(self, status: dict[str, Any]) -> None:
        self.status = status
        self._live.update(self._render())

    def _render(self) -> Text:
        s = self.status
        done = sum(int(s.get(k, 0)) for k in ("trialsSucceeded", "trialsEarlyStopped"))
        failed = int(s.get("trialsFailed", 0)) + int(s.get("trialMetricsUnavailable", 0))
        text = Text()
        text.append(f"{self.name} ", style="bold")
        text.append(f"trials {s.get('trials', 0)}: {done} succeeded, {s.get('trialsRunning', 0)} running, ")
        text.append(f"{failed} failed", style="red" if failed else "")
        best = optimal_value(s, self.objective)
        if best is not None:
            text.append(f"  best {self.objective}={best}", style="green")
        text.append(f"  {time.monotonic() - self.started:.1f}s", style="dim")
        return text


def optimal_value(status: dict[str, Any], metric: str) -> str | None:
    optimal = status.get("currentOptimalTrial") or {}
    for entry in (optimal.get("observation") or {}).get("metrics") or []:
        if entry.get("name") == metric:
            return str(entry.get("latest") if entry.get("latest") else entry.get("max"))
    return None


def trials_table(trials: Sequence[TrialRecord], objective: str, best: str | None) -> Table:
    names = list(dict.fromkeys(k for t in trials for k in t.parameter_assignments))
    table = Table(title="Trials", title_justify="left")
    table.add_column("trial")
    table.add_column("status")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column(objective, justify="right")
    style = {
        TrialPhase.SUCCEEDED: "green", TrialPhase.FAILED: "red", TrialPhase.METRICS_UNAVAILABLE: "yellow",
        TrialPhase.KILLED: "dim",
    }  # fmt: skip
    for trial in trials:
        value = "" if trial.objective_value is None else f"{trial.objective_value:.6g}"
        row: list[str | Text] = [trial.name, Text(str(trial.phase), style=style.get(trial.phase, ""))]
        row += [trial.parameter_assignments.get(n, "") for n in names]
        row.append(Text(value, style="bold green" if trial.name == best else ""))
        table.add_row(*row)
    return table


def optimal_summary(status: dict[str, Any]) -> str:
    optimal = status.get("currentOptimalTrial")
    if not optimal:
        return "No optimal trial: no trial reported the objective metric."
    assignments = ", ".join(f"{a['name']}={a['value']}" for a in optimal.get("parameterAssignments", []))
    metrics = "; ".join(
        f"{m['name']}: min {m.get('min')}, max {m.get('max')}, latest {m.get('latest')}"
        for m in (optimal.get("observation") or {}).get("metrics", [])
    )
    return f"Optimal trial {optimal['bestTrialName']}: {assignments}\n  {metrics}"
