"""Metrics collection: Katib's collectors (StdOut/File text, File JSON, TensorFlowEvent) locally."""

from pykatib.metrics.jsonl import parse_json_line
from pykatib.metrics.observation import Observation
from pykatib.metrics.strategy import MetricStrategy, MetricSummary, summarize
from pykatib.metrics.tail import FileTail
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser, validate_filter
from pykatib.metrics.tfevent import read_tfevent_dir

__all__ = [
    "DEFAULT_METRICS_FORMAT",
    "FileTail",
    "MetricStrategy",
    "MetricSummary",
    "Observation",
    "TextMetricsParser",
    "parse_json_line",
    "read_tfevent_dir",
    "summarize",
    "validate_filter",
]
