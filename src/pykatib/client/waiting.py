"""The verbs that change or wait on a running experiment: ``wait``, ``stop`` and ``edit-budget``.

``wait`` polls the experiment every half second rather than watching it: one GET per poll survives a server
restart or a dropped connection between polls, and half a second is well under a trial's length.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

import click

from pykatib.client.connection import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    MERGE_PATCH,
    ClientError,
    Connection,
    KubeApiError,
    ServerOptions,
    connect,
    guarded,
)
from pykatib.client.resources import (
    DEFAULT_NAMESPACE,
    EXPERIMENTS,
    conditions_of,
    invalid_error,
    is_true,
)
from pykatib.server.names import STOP_ANNOTATION

POLL_S = 0.5
ENDED = ("Succeeded", "Failed")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
BUDGET_FIELDS = ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount")


def parse_timeout(text: str) -> float:
    """kubectl's ``--timeout``: a Go duration (``300s``, ``5m``, ``1h30m``, ``500ms``) or plain seconds; 0 checks
    once; a negative one waits without end."""
    text = text.strip()
    negative = text.startswith("-")
    body = text.removeprefix("-")
    try:
        seconds = float(body)
    except ValueError:
        parts = _DURATION.findall(body)
        if not parts or "".join(n + u for n, u in parts) != body:
            raise ValueError(f"--timeout {text!r}: expected a duration such as 30s, 5m or 1h30m") from None
        seconds = sum(float(n) * _UNIT_S[u] for n, u in parts)
    if not math.isfinite(seconds):
        raise ValueError(f"--timeout {text!r}: expected a duration such as 30s, 5m or 1h30m")
    return math.inf if negative and seconds > 0 else seconds


def parse_condition(text: str) -> tuple[str, str]:
    """``--for``: ``condition=Succeeded``, ``condition=Running=False``, ``Succeeded`` or ``delete``: the
    condition type and the status awaited (``True`` unless given); ``("delete", "")`` for ``delete``."""
    if text == "delete":
        return "delete", ""
    rest = text.removeprefix("condition=")
    kind, _, status = rest.partition("=")
    if not kind or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", kind) or "=" in status:
        raise ValueError(f"--for {text!r}: expected condition=TYPE[=STATUS] (e.g. condition=Succeeded) or delete")
    return kind, status or "True"


def wait(options: ServerOptions, name: str, condition: str, timeout: str = "30s", namespace: str | None = None) -> int:
    def run() -> int:
        try:
            kind, status = parse_condition(condition)
            seconds = parse_timeout(timeout)
        except ValueError as exc:
            raise ClientError(str(exc), EXIT_USAGE) from exc
        with connect(options) as connection:
            wait_for(connection, namespace or DEFAULT_NAMESPACE, name, kind, status, seconds)
        click.echo(f"{EXPERIMENTS.qualified}/{name} condition met")
        return EXIT_OK

    return guarded(run)


def wait_for(connection: Connection, namespace: str, name: str, kind: str, status: str, seconds: float) -> None:
    """Return once the experiment's condition ``kind`` has ``status`` (or, for ``delete``, once it is gone);
    a ClientError on timeout, or when it ended the other way (Failed while Succeeded is awaited)."""
    path = EXPERIMENTS.path(namespace, name)
    deadline = time.monotonic() + seconds
    seen = False
    while True:
        try:
            obj = connection.get(path)
        except KubeApiError as exc:
            if exc.code != 404:
                raise
            if kind == "delete":
                return
            if seen:
                raise ClientError(f"experiment {name} was deleted while waiting for condition {kind}") from exc
            raise
        seen = True
        if kind != "delete":
            conditions = conditions_of(obj)
            current = conditions.get(kind)
            if current is not None and str(current.get("status")).lower() == status.lower():
                return
            if kind in ENDED and status.lower() == "true":
                other = ENDED[1 - ENDED.index(kind)]
                if is_true(conditions.get(other)):
                    raise ClientError(f"experiment {name} {_ended(conditions[other])}: condition {kind} cannot be met")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ClientError(f"timed out waiting for the condition on {EXPERIMENTS.plural}/{name}")
        time.sleep(min(POLL_S, remaining))


def _ended(condition: dict[str, Any]) -> str:
    why = ": ".join(str(x) for x in (condition.get("reason"), condition.get("message")) if x)
    return f"ended {condition.get('type')}" + (f" ({why})" if why else "")


def stop(options: ServerOptions, name: str, namespace: str | None = None, *, wait_s: float | None = None) -> int:
    """Ask the server to end the experiment (running trials killed, results kept); with ``wait_s``, wait
    until it has ended."""

    def run() -> int:
        ns = namespace or DEFAULT_NAMESPACE
        patch = {"metadata": {"annotations": {STOP_ANNOTATION: "true"}}}
        with connect(options) as connection:
            connection.request("PATCH", EXPERIMENTS.path(ns, name), body=patch, content_type=MERGE_PATCH)
            click.echo(f"{EXPERIMENTS.qualified}/{name} stopping")
            if wait_s is None:
                return EXIT_OK
            path = EXPERIMENTS.path(ns, name)
            deadline = time.monotonic() + wait_s
            while True:
                conditions = conditions_of(connection.get(path))
                ended = next((conditions[k] for k in ENDED if is_true(conditions.get(k))), None)
                if ended is not None:
                    click.echo(f"{EXPERIMENTS.qualified}/{name} {_ended(ended)}")
                    return EXIT_OK
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ClientError(f"timed out waiting for experiments/{name} to stop", EXIT_FAILED)
                time.sleep(min(POLL_S, remaining))

    return guarded(run)


def edit_budget(options: ServerOptions, name: str, namespace: str | None = None, *, max_trial_count: int | None = None,
                parallel_trial_count: int | None = None, max_failed_trial_count: int | None = None) -> int:  # fmt: skip
    """A merge patch of the experiment's budget; prints the budget the server kept."""

    def run() -> int:
        values = (max_trial_count, parallel_trial_count, max_failed_trial_count)
        spec = {field: value for field, value in zip(BUDGET_FIELDS, values, strict=True) if value is not None}
        if not spec:
            raise ClientError(
                "nothing to change: pass --max-trial-count, --parallel-trial-count or --max-failed-trial-count",
                EXIT_USAGE,
            )
        with connect(options) as connection:
            try:
                updated = connection.request("PATCH", EXPERIMENTS.path(namespace or DEFAULT_NAMESPACE, name),
                                             body={"spec": spec}, content_type=MERGE_PATCH)  # fmt: skip
            except KubeApiError as exc:
                raise (invalid_error(EXPERIMENTS.kind, name, exc) if exc.code == 422 else exc) from exc
        kept = updated.get("spec") if isinstance(updated, dict) else None
        kept = kept if isinstance(kept, dict) else {}
        budget = ", ".join(f"{field}={kept.get(field, '<none>')}" for field in BUDGET_FIELDS)
        click.echo(f"{EXPERIMENTS.qualified}/{name} patched: {budget}")
        return EXIT_OK

    return guarded(run)
