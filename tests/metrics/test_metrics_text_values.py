"""Metric values that are not numbers, as Katib keeps them (every value is a string in Katib).

Katib's parseLogsInTextFormat stores whatever group 2 of a filter captured; its trial controller's getMetrics
keeps min and max "unavailable" for a value ParseFloat refuses and makes it the latest; getObjectiveMetricValue
falls back to latest where min or max is unavailable. DARTS' example captures its genotype so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pykatib.metrics.observation import Observation
from pykatib.metrics.strategy import summarize
from pykatib.metrics.text import TextMetricsParser

GENOTYPE = (
    "Genotype(normal=[[('max_pooling_3x3',0),('max_pooling_3x3',1)]],normal_concat=range(2,3),"
    "reduce=[],reduce_concat=range(2,3))"
)
DARTS_FILTER = r"([\w-]+)=(Genotype.*)"  # examples/katib/nas/darts-cpu.yaml's metricsFormat
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_filter_of_the_experiment_keeps_text_values() -> None:
    parser = TextMetricsParser(["Best-Genotype"], [DARTS_FILTER])
    observations = parser.parse_lines(["Final best Prec@1 = 9.0000%", "", f"Best-Genotype={GENOTYPE}"], now=T0)
    assert observations == [Observation("Best-Genotype", GENOTYPE, T0)]


def test_a_custom_filter_still_parses_numbers_as_numbers() -> None:
    parser = TextMetricsParser(["accuracy"], [r"(\w+)=(\S+)"])
    assert parser.parse_line("accuracy=0.93", now=T0) == [Observation("accuracy", 0.93, T0)]
    assert parser.parse_line("accuracy=high", now=T0) == [Observation("accuracy", "high", T0)]


def test_the_default_filter_keeps_numbers_only() -> None:
    # Katib's default filter captures numbers; what else it matches (an empty value) is not a report.
    parser = TextMetricsParser(["loss"])
    assert parser.parse_line("loss=abc", now=T0) == []
    assert parser.parse_line("loss=0.5", now=T0) == [Observation("loss", 0.5, T0)]


def test_text_counts_for_latest_only_as_in_katibs_trial_controller() -> None:
    summary = summarize([Observation("m", GENOTYPE, T0)])["m"]
    assert (summary.min, summary.max, summary.latest) == (None, None, GENOTYPE)
    # min or max unavailable: the strategy's value is latest (getObjectiveMetricValue), never a number.
    assert summary.value("max") == summary.value("min") == summary.value("latest") == GENOTYPE
    assert summary.number("max") is None


def test_numbers_and_text_mix_as_in_katib() -> None:
    later = T0 + timedelta(seconds=1)
    summary = summarize([Observation("m", 0.5, T0), Observation("m", "text", later), Observation("m", 0.7, T0)])["m"]
    assert (summary.min, summary.max, summary.latest) == (0.5, 0.7, "text")
    assert summary.value("max") == 0.7
    assert summary.value("latest") == "text"
    assert summary.number("latest") is None
