from datetime import UTC, datetime, timedelta

import pytest

from pykatib.metrics.observation import Observation
from pykatib.metrics.strategy import MetricStrategy, MetricSummary, summarize

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_min_max_latest() -> None:
    obs = [Observation("loss", v, at(i)) for i, v in enumerate([0.9, 0.2, 0.5, 0.4])]
    summary = summarize(obs)["loss"]
    assert (summary.min, summary.max, summary.latest) == (0.2, 0.9, 0.4)
    assert summary.latest_time == at(3)
    assert summary.value(MetricStrategy.MIN) == 0.2
    assert summary.value(MetricStrategy.MAX) == 0.9
    assert summary.value(MetricStrategy.LATEST) == 0.4
    assert summary.value("latest") == 0.4


def test_latest_is_by_timestamp_not_input_order() -> None:
    obs = [
        Observation("loss", 1.0, at(10)),
        Observation("loss", 2.0, at(30)),
        Observation("loss", 3.0, at(20)),  # reported last, but older
    ]
    assert summarize(obs)["loss"].latest == 2.0


def test_on_equal_timestamps_the_later_observation_wins() -> None:
    obs = [Observation("loss", 1.0, at(5)), Observation("loss", 2.0, at(5)), Observation("loss", 0.5, at(1))]
    summary = summarize(obs)["loss"]
    assert summary.latest == 2.0
    assert summary.latest_time == at(5)


def test_summaries_are_per_metric_in_first_seen_order() -> None:
    obs = [
        Observation("acc", 0.5, at(0)),
        Observation("loss", 3.0, at(0)),
        Observation("acc", 0.7, at(1)),
    ]
    result = summarize(obs)
    assert list(result) == ["acc", "loss"]
    assert result["acc"] == MetricSummary("acc", 0.5, 0.7, 0.7, at(1))
    assert result["loss"] == MetricSummary("loss", 3.0, 3.0, 3.0, at(0))


def test_incremental_folding_equals_one_pass() -> None:
    obs = [Observation("loss", float(v), at(v % 3)) for v in [5, 1, 7, 3, 3, 8, 2]]
    streamed = summarize(obs[:3])
    summarize(obs[3:5], into=streamed)
    summarize(obs[5:], into=streamed)
    assert streamed == summarize(obs)

    summary = MetricSummary.from_observation(obs[0])
    for o in obs[1:]:
        summary.merge(o)
    assert summary == summarize(obs)["loss"]
    # Timestamps 2,1,1,0,0,2,2: the last of the three at t=2 is the value 2.
    assert (summary.min, summary.max, summary.latest) == (1.0, 8.0, 2.0)


def test_merge_rejects_another_metric() -> None:
    summary = MetricSummary.from_observation(Observation("loss", 1.0, T0))
    with pytest.raises(ValueError, match="accuracy"):
        summary.merge(Observation("accuracy", 1.0, T0))


def test_empty_input_and_unknown_strategy() -> None:
    assert summarize([]) == {}
    with pytest.raises(ValueError):
        MetricSummary.from_observation(Observation("loss", 1.0, T0)).value("median")


def test_strategy_values_match_katib_yaml() -> None:
    assert [s.value for s in MetricStrategy] == ["min", "max", "latest"]
    assert MetricStrategy("max") is MetricStrategy.MAX


def test_observation_requires_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Observation("loss", 1.0, datetime(2024, 1, 1))
