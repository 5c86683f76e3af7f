from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykatib.metrics.observation import Observation
from pykatib.metrics.text import DEFAULT_METRICS_FORMAT, TextMetricsParser, validate_filter

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
KATIB_JSONISH_FILTER = r"{metricName: ([\w|-]+), metricValue: ((-?\d+)(\.\d+)?)}"


def pairs(observations: list[Observation]) -> list[tuple[str, float]]:
    return [(o.metric_name, o.value) for o in observations]


def test_default_filter_is_katibs() -> None:
    assert DEFAULT_METRICS_FORMAT == r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("loss=0.1", [("loss", 0.1)]),
        ("loss = -1.5e-3", [("loss", -1.5e-3)]),
        ("epoch 3 loss=0.4123", [("loss", 0.4123)]),
        ("loss=+2E2", [("loss", 200.0)]),
        ("loss=.5", [("loss", 0.5)]),
        ("loss=7", [("loss", 7.0)]),
    ],
)
def test_default_filter_values(line: str, expected: list[tuple[str, float]]) -> None:
    assert pairs(TextMetricsParser(["loss"]).parse_line(line, NOW)) == expected


def test_two_metrics_on_one_line_keep_line_order() -> None:
    parser = TextMetricsParser(["loss", "accuracy"])
    assert pairs(parser.parse_line("accuracy=0.9 loss=0.2", NOW)) == [("accuracy", 0.9), ("loss", 0.2)]


def test_names_may_contain_dash_and_pipe() -> None:
    parser = TextMetricsParser(["val-loss", "top|1"])
    obs = parser.parse_line("val-loss=0.25 top|1=0.75", NOW)
    assert pairs(obs) == [("val-loss", 0.25), ("top|1", 0.75)]


def test_name_must_match_exactly() -> None:
    parser = TextMetricsParser(["loss"])
    assert parser.parse_line("val_loss=0.3", NOW) == []
    assert parser.parse_line("loss_avg=0.3 lossy=1", NOW) == []
    assert pairs(parser.parse_line("val_loss=0.3 loss=0.5", NOW)) == [("loss", 0.5)]


def test_repeated_metric_on_a_line_gives_each_value() -> None:
    assert pairs(TextMetricsParser(["loss"]).parse_line("loss=1 loss=2", NOW)) == [
        ("loss", 1.0),
        ("loss", 2.0),
    ]


def test_rfc3339_first_token_is_the_timestamp() -> None:
    parser = TextMetricsParser(["loss"])
    (obs,) = parser.parse_line("2024-01-02T03:04:05Z loss=0.1", NOW)
    assert obs.timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    (obs,) = parser.parse_line("2024-01-02T03:04:05.123+02:00 epoch 1 loss=0.1", NOW)
    assert obs.timestamp == datetime(2024, 1, 2, 1, 4, 5, 123000, tzinfo=UTC)
    assert obs.timestamp.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "line",
    [
        "loss=0.1",  # no timestamp at all
        "epoch 2024-01-02T03:04:05Z loss=0.1",  # not the first token
        "2024-01-02 loss=0.1",  # a date is not RFC 3339
        "2024-01-02T03:04:05 loss=0.1",  # no offset
        "2024-13-02T03:04:05Z loss=0.1",  # month 13
    ],
)
def test_without_a_leading_rfc3339_token_now_is_used(line: str) -> None:
    (obs,) = TextMetricsParser(["loss"]).parse_line(line, NOW)
    assert obs.timestamp == NOW


def test_default_now_is_current_utc_time() -> None:
    before = datetime.now(UTC)
    (obs,) = TextMetricsParser(["loss"]).parse_line("loss=1")
    assert before <= obs.timestamp <= datetime.now(UTC)
    assert obs.timestamp.tzinfo is not None


def test_custom_katib_filter_with_timestamp() -> None:
    parser = TextMetricsParser(["accuracy", "loss"], filters=[KATIB_JSONISH_FILTER])
    line = (
        "2024-05-01T10:00:00Z INFO     "
        "{metricName: accuracy, metricValue: 0.9812};{metricName: loss, metricValue: 0.0612}"
    )
    when = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert parser.parse_line(line, NOW) == [
        Observation("accuracy", 0.9812, when),
        Observation("loss", 0.0612, when),
    ]
    # The default filter finds nothing in that format: filters replace it, they do not add to it.
    assert TextMetricsParser(["accuracy"]).parse_line(line, NOW) == []


def test_every_filter_is_applied() -> None:
    parser = TextMetricsParser(["loss", "acc"], filters=[r"(loss):\s*(\S+)", r"(acc)\s+is\s+(\S+)"])
    assert pairs(parser.parse_line("loss: 0.5 and acc is 0.75", NOW)) == [("loss", 0.5), ("acc", 0.75)]


def test_non_numeric_values_are_skipped() -> None:
    parser = TextMetricsParser(["loss"], filters=[r"(loss)=(\S*)"])
    for value in ["", "nan", "inf", "-Infinity", "1_000", "١٢", "1e999"]:
        assert parser.parse_line(f"loss={value}", NOW) == [], value
    # Text that is no spelling of a number is kept, as Katib keeps it (test_metrics_text_values.py).
    for value in ["abc", "0x10"]:
        assert [o.value for o in parser.parse_line(f"loss={value}", NOW)] == [value]
    # The default filter's value group can match the empty string ("loss=abc").
    assert TextMetricsParser(["loss"]).parse_line("loss=abc", NOW) == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("", []),
        ("\x00\x01\x02 loss \xff\xfe", []),
        ("loss", []),
        ("loss==", []),
        ("Ünïcödé lößß=1 loss=𝟙 ☃ loss=١", []),  # \d matches non-ASCII digits; they are no value
        ("loss=" + "9" * 5000, []),  # overflows to inf
        ("2024-01-02T03:04:05Z", []),
        ("\ufffd" * 100 + "loss", []),
        ("\x00 loss=1\x00", [("loss", 1.0)]),
        ("Ünïcödé ☃ loss=2", [("loss", 2.0)]),
    ],
)
def test_garbage_never_raises(line: str, expected: list[tuple[str, float]]) -> None:
    assert pairs(TextMetricsParser(["loss"]).parse_line(line, NOW)) == expected


def test_lines_without_a_metric_name_are_skipped_quickly() -> None:
    parser = TextMetricsParser(["loss"])
    # "=" pairs but no requested name anywhere: the substring pre-check rejects the line.
    assert parser.parse_lines(["lr=0.1 epoch=3", "accuracy=0.9", "loss=0.5"], now=NOW) == [
        Observation("loss", 0.5, NOW)
    ]


def test_parse_lines_shares_one_collection_time() -> None:
    parser = TextMetricsParser(["loss", "acc"])
    obs = parser.parse_lines(["loss=1", "noise", "acc=2", "2024-01-02T03:04:05Z loss=3"])
    assert pairs(obs) == [("loss", 1.0), ("acc", 2.0), ("loss", 3.0)]
    assert obs[0].timestamp == obs[1].timestamp
    assert obs[2].timestamp == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_no_metric_names_means_no_observations() -> None:
    assert TextMetricsParser([]).parse_lines(["loss=1", ""]) == []
    assert TextMetricsParser([""]).parse_line("loss=1", NOW) == []


def test_invalid_filter_is_rejected_at_construction() -> None:
    with pytest.raises(ValueError, match="two capture groups"):
        TextMetricsParser(["loss"], filters=[r"(loss)=\d+"])


@pytest.mark.parametrize(
    ("regex", "error_part"),
    [
        (r"([\w|-]+=(\d+)", "invalid"),
        (r"(?P<x", "invalid"),
        (r"([\w|-]+)=\d+", "it has 1"),
        (r"\w+=\d+", "it has 0"),
    ],
)
def test_validate_filter_errors(regex: str, error_part: str) -> None:
    error = validate_filter(regex)
    assert error is not None
    assert error_part in error


@pytest.mark.parametrize("regex", [DEFAULT_METRICS_FORMAT, KATIB_JSONISH_FILTER, r"(\w+):(\S+)"])
def test_validate_filter_ok(regex: str) -> None:
    assert validate_filter(regex) is None


@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    parser = TextMetricsParser(["loss", "a", "-"])
    for obs in parser.parse_lines([text, "loss " + text, text + " loss=1"], now=NOW):
        assert obs.metric_name in {"loss", "a", "-"}
        assert obs.value == obs.value  # finite, never NaN
