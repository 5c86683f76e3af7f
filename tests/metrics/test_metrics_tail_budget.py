"""FileTail.read_lines(max_bytes=...) and the collector's batched polling: bounded work per call, nothing lost."""

from __future__ import annotations

from pathlib import Path

from pykatib.metrics.collector import READ_BATCH_BYTES, TrialCollector
from pykatib.metrics.tail import FileTail


def test_read_lines_with_a_budget_stops_early_and_resumes(tmp_path: Path) -> None:
    log = tmp_path / "trial.log"
    lines = [f"line {i} " + "x" * 1000 for i in range(5000)]  # ~5 MB
    log.write_text("".join(line + "\n" for line in lines) + "partial")
    with FileTail(log) as tail:
        seen: list[str] = []
        calls = 0
        while True:
            batch = tail.read_lines(max_bytes=1 << 20)
            calls += 1
            assert sum(map(len, batch)) <= 2 << 20  # one 1 MiB read plus the line it completed
            seen += batch
            if not tail.more:
                break
        assert calls >= 5
        assert seen == lines
        assert tail.read_rest() == ["partial"]


def test_collector_parses_a_large_backlog_in_batches_without_losing_lines(tmp_path: Path) -> None:
    log = tmp_path / "trial.log"
    noise = ("noise " * 170 + "\n") * 1024
    with log.open("w") as out:
        for i in range(3 * READ_BATCH_BYTES // len(noise) + 1):
            out.write(noise)
            out.write(f"loss={i}\n")
        out.write("loss=-1")  # no newline: only finish() reads it
    collector = TrialCollector("StdOut", ["loss"], log_file=log, trial_dir=tmp_path)
    polled = collector.poll()
    rest = collector.finish()
    values = [o.value for o in polled + rest]
    assert values == [*map(float, range(len(values) - 1)), -1.0]
    assert [o.value for o in rest] == [-1.0]
