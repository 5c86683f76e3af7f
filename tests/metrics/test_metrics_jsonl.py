import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykatib.metrics.jsonl import parse_json_line
from pykatib.metrics.observation import Observation

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)


def test_hypertune_line_with_epoch_timestamp() -> None:
    # What cloudml-hypertune's report_hyperparameter_tuning_metric writes.
    line = '{"loss": "0.23", "global_step": "1", "timestamp": 1700000000.5, "trial": "0"}'
    assert parse_json_line(line, ["loss"], NOW) == [
        Observation("loss", 0.23, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC))
    ]


def test_rfc3339_timestamp_is_converted_to_utc() -> None:
    line = json.dumps({"accuracy": "0.9", "timestamp": "2024-05-01T12:00:00.25+02:00"})
    (obs,) = parse_json_line(line, ["accuracy"], NOW)
    assert obs.timestamp == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert obs.timestamp.utcoffset() is not None


@pytest.mark.parametrize("timestamp", ["yesterday", "", "2024-05-01", None, [1], True, 1e300, float("nan")])
def test_bad_or_missing_timestamp_falls_back_to_now(timestamp: object) -> None:
    obj = {"loss": "1.5"} if timestamp is None else {"loss": "1.5", "timestamp": timestamp}
    assert parse_json_line(json.dumps(obj), ["loss"], NOW) == [Observation("loss", 1.5, NOW)]


def test_default_now_is_current_utc_time() -> None:
    before = datetime.now(UTC)
    (obs,) = parse_json_line('{"loss": "1"}', ["loss"])
    assert before <= obs.timestamp <= datetime.now(UTC)


def test_several_metrics_in_requested_order_and_numbers_accepted() -> None:
    line = '{"accuracy": 0.75, "loss": "0.5", "steps": 10, "timestamp": 0}'
    obs = parse_json_line(line, ["loss", "accuracy", "steps", "missing"], NOW)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    assert obs == [
        Observation("loss", 0.5, epoch),
        Observation("accuracy", 0.75, epoch),
        Observation("steps", 10.0, epoch),
    ]


@pytest.mark.parametrize("value", ["abc", "", "NaN", "inf", True, None, [0.5], {"v": 1}, 10**400, float("inf"), "1_0"])
def test_non_numeric_values_are_skipped(value: object) -> None:
    line = json.dumps({"loss": value, "accuracy": "0.5"})
    assert parse_json_line(line, ["loss", "accuracy"], NOW) == [Observation("accuracy", 0.5, NOW)]


@pytest.mark.parametrize(
    "line",
    [
        "",
        "   ",
        "loss=0.5",
        "{not json",
        '{"loss": "0.5"',  # truncated (a trial killed mid-write)
        '["loss", "0.5"]',
        '"loss"',
        "42",
        "null",
        "\x00\xff\ufffd",
        "[" * 100_000,  # deep nesting
        "{" + '"a":{' * 50_000,
    ],
)
def test_garbage_gives_nothing(line: str) -> None:
    assert parse_json_line(line, ["loss"], NOW) == []


def test_surrounding_whitespace_and_unicode_names() -> None:
    line = "  " + json.dumps({"précision": "0.8"}) + "\r\n"  # ensure_ascii escapes the name
    assert parse_json_line(line, ["précision"], NOW) == [Observation("précision", 0.8, NOW)]


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    for obs in parse_json_line(text, ["loss"], NOW):
        assert obs.metric_name == "loss"
