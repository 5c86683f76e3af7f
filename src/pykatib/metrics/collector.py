"""One trial's metrics collector, chosen by ``metricsCollectorSpec.collector.kind`` (docs/katib-compatibility.md).

StdOut, File (TEXT/JSON), Push and Custom (a sidecar that pushes) stream: ``poll()`` returns what arrived
since the last call, so early stopping sees observations while the trial runs. TensorFlowEvent files are
read once the trial has ended, as Katib's collector does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from pykatib.metrics.jsonl import parse_json_line
from pykatib.metrics.observation import Observation
from pykatib.metrics.pushed import PUSH_METRICS_FILE
from pykatib.metrics.tail import FileTail
from pykatib.metrics.text import TextMetricsParser
from pykatib.metrics.tfevent import read_tfevent_dir

# How much of a followed file is turned into lines at once (see poll()).
READ_BATCH_BYTES = 4 << 20


class CollectorUnavailableError(ValueError):
    """A metrics collector kind that pykatib cannot run (PrometheusMetric): the run is refused."""


class TrialCollector:
    """Reads one trial's observations from its log, its metrics file or its event directory."""

    def __init__(
        self,
        kind: str,
        metric_names: Sequence[str],
        *,
        log_file: Path,
        trial_dir: Path,
        metrics_path: Path | None = None,
        file_format: str | None = None,
        filters: Sequence[str] | None = None,
    ) -> None:
        self.kind = kind
        self.metric_names = list(metric_names)
        self._tfevent_dir: Path | None = None
        self._tail: FileTail | None = None
        self._parse: Callable[[list[str]], list[Observation]] | None = None
        if kind == "StdOut":
            self._follow(log_file, filters)
        elif kind == "File" and file_format == "JSON":
            assert metrics_path is not None
            self._tail = FileTail(metrics_path)
            self._parse = self._parse_json
        elif kind == "File":
            assert metrics_path is not None
            self._follow(metrics_path, filters)
        elif kind == "TensorFlowEvent":
            self._tfevent_dir = metrics_path
        elif kind in ("Push", "None", "Custom"):
            # Custom: the collector's sidecar reports over Katib's gRPC API, which appends to the same file.
            self._tail = FileTail(trial_dir / PUSH_METRICS_FILE)
            self._parse = self._parse_json
        else:
            raise CollectorUnavailableError(f"metrics collector kind {kind} cannot run locally yet")

    def _follow(self, path: Path, filters: Sequence[str] | None) -> None:
        parser = TextMetricsParser(self.metric_names, filters or None)
        self._tail = FileTail(path)
        self._parse = parser.parse_lines

    def _parse_json(self, lines: list[str]) -> list[Observation]:
        found: list[Observation] = []
        for line in lines:
            found.extend(parse_json_line(line, self.metric_names))
        return found

    def poll(self) -> list[Observation]:
        """Observations that arrived since the last call (streaming collectors only).

        The backlog is read and parsed a batch at a time: a trial that prints 100 MB between two polls
        costs the controller one batch of lines at once, not the whole 100 MB.
        """
        if self._tail is None or self._parse is None:
            return []
        found: list[Observation] = []
        while True:
            lines = self._tail.read_lines(max_bytes=READ_BATCH_BYTES)
            if lines:
                found.extend(self._parse(lines))
            if not self._tail.more:
                return found

    def finish(self) -> list[Observation]:
        """Everything not yet returned, once the trial's processes have ended."""
        if self._tfevent_dir is not None:
            return read_tfevent_dir(self._tfevent_dir, self.metric_names) if self._tfevent_dir.is_dir() else []
        if self._tail is None or self._parse is None:
            return []
        found = self.poll()
        lines = self._tail.read_rest()
        self._tail.close()
        return found + self._parse(lines) if lines else found

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()
