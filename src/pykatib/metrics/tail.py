"""Follow a file that a running trial writes (``tail -F`` semantics), returning whole lines.

Katib's sidecar reads the metrics file after the training container ends; pykatib follows it
while the trial runs, for early stopping and live progress. The reader must stay cheap and
bounded whatever the trial does: print megabytes without a newline, truncate or recreate its log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Self

# Large reads keep the syscall count low when a trial writes a lot between polls.
_CHUNK_BYTES = 1 << 20


class FileTail:
    """Incrementally read complete lines from ``path``, which may not exist yet.

    A line longer than ``max_line_bytes`` is cut to its first ``max_line_bytes`` bytes, shortened
    further to the last space or tab in them so that no token (a metric value) is cut in half, and
    the rest of it up to the newline is dropped. The buffered partial line therefore never grows
    beyond ``max_line_bytes``. Lines are split on ``\\n`` (a trailing ``\\r`` is removed) and
    decoded as UTF-8 with invalid bytes replaced.
    """

    def __init__(self, path: str | Path, max_line_bytes: int = 1 << 20) -> None:
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be positive, got {max_line_bytes}")
        self.path = Path(path)
        self.max_line_bytes = max_line_bytes
        self._fh: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None  # (st_dev, st_ino) of the file being read
        self._pos = 0  # bytes of that file consumed so far
        self._partial = bytearray()  # start of the current, unterminated line
        self._skipping = False  # inside an over-long line whose head was already returned
        self.more = False  # the last read_lines stopped at its max_bytes with data left to read

    def read_lines(self, max_bytes: int | None = None) -> list[str]:
        """Complete lines written since the previous call; [] while the file does not exist.

        With ``max_bytes``, stop once about that many bytes (whole reads of up to 1 MiB) have been
        consumed and set ``more``: the caller handles the lines and calls again. A trial can write
        hundreds of megabytes between two calls; this keeps what the caller holds bounded.
        """
        lines: list[str] = []
        self.more = False
        self._follow(lines, max_bytes)
        return lines

    def read_rest(self) -> list[str]:
        """Like read_lines, plus the final line even without a newline; for after the writer ended.

        Closes the file; a later call reopens it and continues where this one stopped.
        """
        lines = self.read_lines()
        if self._partial:
            lines.extend(self._decode(bytes(self._partial)))
        self._reset_line_state()
        self.close()
        return lines

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------------

    def _follow(self, lines: list[str], max_bytes: int | None = None) -> None:
        try:
            st = os.stat(self.path)
        except OSError:  # not created yet, or removed: whatever is still open can be finished
            if self._fh is not None:
                self._drain(lines, max_bytes)
            return
        identity = (st.st_dev, st.st_ino)
        if self._fh is not None and identity != self._identity:
            # Recreated (log rotation, a rerun): finish the old file, then start the new one.
            self._drain(lines)
            self.close()
            self._reset_line_state()
        if self._fh is None:
            if not self._open():
                return
        elif st.st_size < self._pos:
            # Truncated in place: its new content starts at 0, and the buffered partial line
            # belonged to content that no longer exists.
            self._fh.seek(0)
            self._pos = 0
            self._reset_line_state()
        self._drain(lines, max_bytes)

    def _open(self) -> bool:
        try:
            fh = open(self.path, "rb", buffering=0)  # noqa: SIM115 - kept open across calls
        except OSError:
            return False
        # Identity from the opened handle, not the earlier stat: the path may have been replaced.
        st = os.fstat(fh.fileno())
        identity = (st.st_dev, st.st_ino)
        if identity == self._identity and st.st_size >= self._pos:
            fh.seek(self._pos)  # reopened after close(): resume instead of re-reading
        else:
            self._pos = 0
            self._reset_line_state()
        self._fh = fh
        self._identity = identity
        return True

    def _drain(self, lines: list[str], max_bytes: int | None = None) -> None:
        fh = self._fh
        if fh is None:
            return
        consumed = 0
        while True:
            if max_bytes is not None and consumed >= max_bytes:
                self.more = True
                return
            chunk = fh.read(_CHUNK_BYTES)
            if not chunk:
                return
            self._pos += len(chunk)
            consumed += len(chunk)
            self._consume(chunk, lines)

    def _consume(self, chunk: bytes, lines: list[str]) -> None:
        start = 0
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return
            self._skipping = False
            start = newline + 1
        last_newline = chunk.rfind(b"\n", start)
        if last_newline < 0:
            # Buffer at most one byte past the limit: enough to know the line is too long.
            room = self.max_line_bytes + 1 - len(self._partial)
            self._partial += chunk[start : start + room]
            if len(self._partial) > self.max_line_bytes:
                lines.extend(self._decode(self._clip(bytes(self._partial))))
                self._partial.clear()
                self._skipping = True
            return
        block = chunk[start:last_newline]
        if self._partial:
            block = bytes(self._partial) + block
            self._partial.clear()
        lines.extend(self._decode(block))
        rest = chunk[last_newline + 1 :]
        if len(rest) > self.max_line_bytes:
            lines.extend(self._decode(self._clip(rest)))
            self._skipping = True
        else:
            self._partial += rest

    def _decode(self, block: bytes) -> list[str]:
        """Newline-separated lines of ``block``, each cut to max_line_bytes."""
        limit = self.max_line_bytes
        if len(block) > limit:
            parts = block.split(b"\n")
            if max(map(len, parts)) > limit:
                text_lines = [self._clip(p).decode("utf-8", "replace") for p in parts]
                return _strip_cr(text_lines)
        # One decode for the whole block: a newline byte never occurs inside a UTF-8 sequence.
        return _strip_cr(block.decode("utf-8", "replace").split("\n"))

    def _clip(self, line: bytes) -> bytes:
        head = line[: self.max_line_bytes]
        if len(line) > self.max_line_bytes:
            cut = max(head.rfind(b" "), head.rfind(b"\t"))
            if cut > 0:
                head = head[:cut]
        return head

    def _reset_line_state(self) -> None:
        self._partial.clear()
        self._skipping = False


def _strip_cr(lines: list[str]) -> list[str]:
    # CRLF output (Windows tools, some loggers): the \r is not part of the line.
    return [line[:-1] if line.endswith("\r") else line for line in lines]
