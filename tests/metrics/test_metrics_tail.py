import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import pytest

from pykatib.metrics.tail import FileTail

# A trial that writes its log step by step; after each step it says "ok" and waits for the
# test to answer, so the test can look at the file at exactly that moment.
STEPWISE_WRITER = textwrap.dedent(
    """
    import sys, time

    def step():
        print("ok", flush=True)
        sys.stdin.readline()

    step()  # the log does not exist yet
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        f.write("epoch 1 loss=0.5\\n"); f.flush(); step()
        f.write("epoch 2 lo"); f.flush(); step()
        f.write("ss=0.25\\nepoch 3 "); f.flush(); step()
        for i in range(40):  # slow, flushed writes, polled concurrently
            f.write(f"line {i}\\n"); f.flush(); time.sleep(0.002)
        f.write("done, no newline"); f.flush()
    """
)


class Child:
    def __init__(self, code: str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def wait_step(self) -> None:
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "ok\n"

    def resume(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()


def test_follows_a_writing_process(tmp_path: Path) -> None:
    log = tmp_path / "metrics.log"
    tail = FileTail(log)
    child = Child(STEPWISE_WRITER, str(log))
    try:
        child.wait_step()
        assert tail.read_lines() == []  # created late: nothing yet, no error
        child.resume()
        child.wait_step()
        assert tail.read_lines() == ["epoch 1 loss=0.5"]
        child.resume()
        child.wait_step()
        assert tail.read_lines() == []  # "epoch 2 lo" is incomplete and stays buffered
        child.resume()
        child.wait_step()
        assert tail.read_lines() == ["epoch 2 loss=0.25"]  # "epoch 3 " still buffered
        child.resume()
        seen: list[str] = []
        while child.proc.poll() is None:
            seen += tail.read_lines()
            time.sleep(0.001)
        assert child.proc.wait(timeout=30) == 0
    finally:
        child.proc.kill()
        child.proc.wait()
    seen += tail.read_lines()
    assert seen == ["epoch 3 line 0"] + [f"line {i}" for i in range(1, 40)]
    assert tail.read_rest() == ["done, no newline"]
    assert tail.read_rest() == []  # nothing is returned twice
    assert tail.read_lines() == []


def test_huge_line_without_newline_stays_bounded(tmp_path: Path) -> None:
    log = tmp_path / "metrics.log"
    token = "loss=0.123456789 "
    writer = textwrap.dedent(
        f"""
        import sys
        with open(sys.argv[1], "w") as f:
            for _ in range(30):  # about 3 MB on one line, flushed in pieces
                f.write({token!r} * 6000); f.flush()
            f.write("\\nloss=2\\n" + {token!r} * 200000)  # and another 3 MB, never terminated
        """
    )
    subprocess.run([sys.executable, "-c", writer, str(log)], check=True, timeout=60)
    assert log.stat().st_size > 6_000_000

    tail = FileTail(log, max_line_bytes=1000)
    tracemalloc.start()
    try:
        lines = tail.read_lines() + tail.read_rest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Far below the 3 MB lines: one 1 MiB read chunk plus the bounded line buffer.
    assert peak < 2_500_000
    assert len(lines) == 3
    head, middle, last = lines
    assert middle == "loss=2"
    for cut in (head, last):
        assert 0 < len(cut.encode()) <= 1000
        assert set(cut.split()) == {"loss=0.123456789"}  # cut at a space: no truncated value


def test_long_line_in_the_middle_of_a_chunk_is_cut(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_bytes(b"a\n" + b"x" * 50 + b" " + b"y" * 50 + b"\nb\n")
    assert FileTail(log, max_line_bytes=80).read_lines() == ["a", "x" * 50, "b"]


def test_truncated_file_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("one\ntwo\npartial")
    tail = FileTail(log)
    assert tail.read_lines() == ["one", "two"]
    log.write_text("new\n")  # same inode, shorter: truncated in place, like `> log`
    assert tail.read_lines() == ["new"]  # "partial" belonged to the old content
    with log.open("a") as f:
        f.write("more\n")
    assert tail.read_lines() == ["more"]


def test_recreated_file_finishes_the_old_one_first(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("old 1\n")
    tail = FileTail(log)
    assert tail.read_lines() == ["old 1"]
    with log.open("a") as f:
        f.write("old 2\n")
    log.rename(tmp_path / "log.1")  # rotation: the old file lives on under another name
    assert tail.read_lines() == ["old 2"]  # drained through the open handle
    log.write_text("new 1\nnew 2\n")
    assert tail.read_lines() == ["new 1", "new 2"]


def test_deleted_file_then_recreated(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("a\n")
    tail = FileTail(log)
    assert tail.read_lines() == ["a"]
    os.remove(log)
    assert tail.read_lines() == []
    log.write_text("b\n")
    assert tail.read_lines() == ["b"]


def test_utf8_split_across_writes_invalid_bytes_and_crlf(tmp_path: Path) -> None:
    log = tmp_path / "log"
    with log.open("wb", buffering=0) as f:
        tail = FileTail(log)
        encoded = "café loss=1".encode()
        f.write(encoded[:4])  # ends between the two bytes of "é"
        assert tail.read_lines() == []
        f.write(encoded[4:] + b"\r\n")
        f.write(b"bad \xff\xfe bytes\n")
        assert tail.read_lines() == ["café loss=1", "bad \ufffd\ufffd bytes"]


def test_read_rest_then_reopen_resumes(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("a\nb\n")
    with FileTail(log) as tail:
        assert tail.read_rest() == ["a", "b"]  # closes the file
        with log.open("a") as f:
            f.write("c\n")
        assert tail.read_lines() == ["c"]  # reopened at the old offset: a and b are not repeated


def test_missing_file_and_bad_limit(tmp_path: Path) -> None:
    tail = FileTail(tmp_path / "nope" / "log")
    assert tail.read_lines() == []
    assert tail.read_rest() == []
    with pytest.raises(ValueError):
        FileTail(tmp_path / "log", max_line_bytes=0)
