"""What ``pykatib run`` shows: a live progress line while trials run, a table of trials at the end."""

from __future__ import annotations

import re
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
from pykatib.suggest.enas_space import describe_assignment

# A table cell longer than this (a NAS trial's search space or settings, a genotype) is cut with "…".
CELL_WIDTH = 32
# DARTS' genotype as Katib's darts-cnn-cifar10 prints it (spaces removed): one (operation, input) list per node.
_GENOTYPE = re.compile(
    r"Genotype\(normal=(?P<normal>\[.*\]),normal_concat=(?P<nc>range\(\d+,\d+\)|\[[\d,]*\]),"
    r"reduce=(?P<reduce>\[.*\]),reduce_concat=(?P<rc>range\(\d+,\d+\)|\[[\d,]*\])\)"
)
_EDGE = re.compile(r"\('(?P<op>[^']+)',(?P<input>\d+)\)")


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
            text.append(f"  best {self.objective}={_cut(best)}", style="green")
        text.append(f"  {time.monotonic() - self.started:.1f}s", style="dim")
        return text


def optimal_value(status: dict[str, Any], metric: str) -> str | None:
    optimal = status.get("currentOptimalTrial") or {}
    for entry in (optimal.get("observation") or {}).get("metrics") or []:
        if entry.get("name") == metric:
            return str(entry.get("latest") if entry.get("latest") else entry.get("max"))
    return None


def _cut(value: str) -> str:
    return value if len(value) <= CELL_WIDTH else value[: CELL_WIDTH - 1] + "…"


def trials_table(
    trials: Sequence[TrialRecord], objective: str, best: str | None, best_value: str | None = None
) -> Table:
    """The trials, their assignments and objective; ``best_value``: the optimal trial's objective as its status
    shows it, for one that is text (a DARTS genotype: the trial rows hold numbers only)."""
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
        if not value and trial.name == best and best_value is not None:
            value = _cut(best_value)
        row: list[str | Text] = [trial.name, Text(str(trial.phase), style=style.get(trial.phase, ""))]
        row += [_cut(trial.parameter_assignments.get(n, "")) for n in names]
        row.append(Text(value, style="bold green" if trial.name == best else ""))
        table.add_row(*row)
    return table


def optimal_summary(status: dict[str, Any], algorithm: str | None = None) -> str:
    """The optimal trial's assignments and metrics; under them, a DARTS genotype (a metric's latest value) one
    line per cell, and for an ``enas`` experiment (``algorithm``) the trial's architecture one line per layer."""
    optimal = status.get("currentOptimalTrial")
    if not optimal:
        return "No optimal trial: no trial reported the objective metric."
    assignments = ", ".join(f"{a['name']}={a['value']}" for a in optimal.get("parameterAssignments", []))
    metrics = "; ".join(
        f"{m['name']}: min {m.get('min')}, max {m.get('max')}, latest {m.get('latest')}"
        for m in (optimal.get("observation") or {}).get("metrics", [])
    )
    lines = [f"Optimal trial {optimal['bestTrialName']}: {assignments}", f"  {metrics}"]
    for m in (optimal.get("observation") or {}).get("metrics", []):
        lines += [f"  {line}" for line in genotype_lines(str(m.get("latest", "")))]
    if algorithm == "enas":
        given = {str(a.get("name")): str(a.get("value")) for a in optimal.get("parameterAssignments", [])}
        lines += [f"  {line}" for line in describe_assignment(given) or []]
    return "\n".join(lines)


def genotype_lines(text: str) -> list[str]:
    """A DARTS genotype (``Best-Genotype``) as one line per cell; [] for any other value.

    In each cell, node ``i`` (from 2: nodes 0 and 1 are the two previous cells' outputs) takes the operations
    listed for it, each applied to the node numbered after it; the cell's output concatenates the concat nodes.
    """
    match = _GENOTYPE.fullmatch(text.replace(" ", ""))
    if match is None:
        return []
    lines = []
    for label, gene, concat in (("normal cell", "normal", "nc"), ("reduction cell", "reduce", "rc")):
        nodes = re.findall(r"\[((?:\('[^']+',\d+\),?)*)\]", match.group(gene)[1:-1])
        if not nodes:
            lines.append(f"{label}: none")
            continue
        parts = [
            f"node {i + 2} = " + " + ".join(f"{e['op']}(node {e['input']})" for e in _EDGE.finditer(node))
            for i, node in enumerate(nodes)
        ]
        lines.append(f"{label}: {'; '.join(parts)}; output = nodes {_concat_nodes(match.group(concat))} concatenated")
    return lines


def _concat_nodes(text: str) -> str:
    """``range(2,4)`` or ``[2,3]`` -> ``2, 3``."""
    numbers = [int(n) for n in re.findall(r"\d+", text)]
    nodes = range(numbers[0], numbers[1]) if text.startswith("range") else numbers
    return ", ".join(str(n) for n in nodes)
