"""The delivery ledger: the span ids (16 hex digits, one a line) that reached OTLP.

Files ``<home>/spans/delivered-YYYYMMDD.ids``, appended with one ``os.write`` per delivered
batch, right after the receiver acknowledged it. ``replay`` sends only spooled spans whose
id is not here. Senders coordinate through ``send_lock``: live OTLP sinks hold it shared
while they check the ledger, send and record; replay holds it exclusive for each batch.
So a span is never sent by both. The one window left: a receiver acknowledged a batch and
the process died (or the disk was full) before the ledger line was written; that batch is
sent again by the next replay.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from otel_agents.foundation.files import AppendFile, flocked, iter_lines

_NAME = re.compile(r"^delivered-(\d{8})\.ids$")


class Ledger:
    """Read and append the delivery ledger of one data home."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.dir = self.home / "spans"
        self.lock_path = self.home / "state" / "ledger.lock"
        self._file: AppendFile | None = None
        self._day = ""

    def files(self) -> list[Path]:
        try:
            names = sorted(n for n in os.listdir(self.dir) if _NAME.match(n))
        except FileNotFoundError:
            return []
        return [self.dir / n for n in names]

    def append(self, span_ids: Iterable[str]) -> None:
        """Record ``span_ids`` as delivered: one write."""
        data = "".join(f"{i}\n" for i in span_ids).encode("ascii")
        if not data:
            return
        day = time.strftime("%Y%m%d", time.gmtime())
        if self._file is None or day != self._day:
            if self._file is not None:
                self._file.close()
            self._day = day
            self._file = AppendFile(self.dir / f"delivered-{day}.ids")
        self._file.append(data)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def load(self) -> set[str]:
        """Every delivered span id."""
        out: set[str] = set()
        for p in self.files():
            for _o, _e, line in iter_lines(p):
                out.add(line.strip().decode("ascii", "replace"))
        return out

    def prune(self, before_day: str | None) -> list[Path]:
        """Delete ledger files of days before ``before_day`` (the oldest spool file's day;
        ``None``: no spool file left). Today's and yesterday's files always stay: a span may
        be acknowledged before its spool line is written."""
        keep_from = time.strftime("%Y%m%d", time.gmtime(time.time() - 86400))
        if before_day is not None:
            keep_from = min(keep_from, before_day)
        deleted = []
        for p in self.files():
            m = _NAME.match(p.name)
            if m and m.group(1) < keep_from:
                try:
                    p.unlink()
                    deleted.append(p)
                except FileNotFoundError:
                    pass
        return deleted

    def send_lock(self, *, exclusive: bool, deadline: float | None = None):  # type: ignore[no-untyped-def]
        """Shared (live sinks) or exclusive (replay) hold on the senders' lock."""
        return flocked(self.lock_path, exclusive=exclusive, deadline=deadline)


class LedgerTail:
    """The ids other processes add to the ledger after this one started (read incrementally)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.seen: set[str] = set()
        self._offsets: dict[Path, int] = {}
        for p in ledger.files():
            try:
                self._offsets[p] = p.stat().st_size
            except FileNotFoundError:
                pass

    def refresh(self) -> set[str]:
        """Read what was appended since the last call; returns all ids seen so far."""
        for p in self.ledger.files():
            start = self._offsets.get(p, 0)
            try:
                if p.stat().st_size <= start:
                    continue
            except FileNotFoundError:
                continue
            end = start
            for _o, e, line in iter_lines(p, start):
                self.seen.add(line.strip().decode("ascii", "replace"))
                end = e
            self._offsets[p] = end
        return self.seen
