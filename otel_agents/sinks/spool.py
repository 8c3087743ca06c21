"""The spool: every finished span, appended durably to ``<home>/spans/`` as OTLP-JSON lines.

Each line is one ``ExportTraceServiceRequest`` in the OTLP/JSON encoding (hex ids,
camelCase keys, 64-bit integers as strings), which is what the Collector's ``file``
exporter writes and its ``otlpjsonfile`` receiver reads. The text is produced by
``spool_encoder``: byte-identical to the official ``opentelemetry-exporter-otlp-json-common``
encoder (the tests compare them) and about ten times faster, so the spool keeps up with
bursts and drains tens of thousands of queued spans within the exit deadline. One line
per exported batch, written with ONE ``os.write`` on an ``O_APPEND`` descriptor, so any
number of processes can share a file.

Files: ``spans-YYYYMMDD-NNNN.jsonl`` (UTC day, then a sequence number). A writer moves to
the next number once the file passes ``spool.max_file_bytes``; every writer sees the same
size, so they all move. Files are 0600, the directory 0700. Retention (at most once an
hour, across processes) deletes files older than ``spool.retention_days`` whose spans the
delivery ledger shows as delivered (all of them, when OTLP is off); undelivered old files
stay, and ``doctor`` reports them.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from otel_agents import threads
from otel_agents.foundation.files import AppendFile, iter_lines, private_dir
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.spool_encoder import encode_line as _fast_encode_line

SPOOL_GLOB = "spans-*.jsonl"
_NAME = re.compile(r"^spans-(\d{8})-(\d{4,})\.jsonl$")
RETENTION_CHECK_S = 3600.0


def spool_files(spans_dir: str | os.PathLike[str]) -> list[Path]:
    """The spool files, oldest first (by day, then sequence number)."""
    d = Path(spans_dir)
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return []
    found = []
    for n in names:
        m = _NAME.match(n)
        if m:
            found.append((m.group(1), int(m.group(2)), d / n))
    found.sort()
    return [p for _day, _seq, p in found]


def file_day(path: Path) -> str | None:
    m = _NAME.match(path.name)
    return m.group(1) if m else None


def iter_records(path: str | os.PathLike[str], start: int = 0) -> Iterator[tuple[int, int, dict[str, Any] | None]]:
    """``(offset, end, request)`` for each complete line from ``start``; ``request`` is
    ``None`` for a line that does not parse (counted as corrupt by callers)."""
    for offset, end, line in iter_lines(path, start):
        try:
            doc = json.loads(line)
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            doc = None
        yield offset, end, doc


def iter_spans(request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every span dict in one OTLP-JSON request."""
    for rs in request.get("resourceSpans") or ():
        for ss in rs.get("scopeSpans") or ():
            yield from ss.get("spans") or ()


def encode_line(spans: Sequence[Any]) -> bytes:
    """One OTLP-JSON line (with ``\\n``) for ``spans``: the official encoding, by the fast encoder."""
    return _fast_encode_line(spans)


class SpoolSink:
    """Append every finished span to the spool. Durable: drained first at exit."""

    name = "spool"
    durable = True
    max_batch = 256

    def __init__(self, config: Any) -> None:
        self.config = config
        self.home = Path(config.home)
        self.dir = Path(config.spans_dir)
        self.max_file_bytes = max(4096, int(config["spool.max_file_bytes"]))
        self.retention_days = int(config["spool.retention_days"])
        #: Seconds a span may wait for others before they are written together (``spool.linger``).
        #: Waking the sink's thread for every span costs the workflow's thread a cross-CPU
        #: wake-up each time (tens of us on a VM); at exit nothing waits.
        self.linger = max(0.0, float(config["spool.linger"]))
        self.otlp_enabled = bool(config["otlp.enabled"])
        self._file: AppendFile | None = None
        self._day = ""
        self._seq = 0
        self._written = 0
        self._paths: set[Path] = set()  # the files this process appended to
        self._next_retention = 0.0

    # --- sink interface -------------------------------------------------------------------
    def start(self) -> None:
        """On the sink's thread (nothing to import: the encoder is ours)."""

    def export(self, spans: Sequence[Any]) -> None:
        line = encode_line(spans)
        try:
            f = self._current()
            size = f.append(line)
            self._paths.add(f.path)
        except OSError as exc:
            raise DeliveryError(f"cannot write spool {self.dir}: {exc}") from exc
        self._written += len(spans)
        if size >= self.max_file_bytes:
            self._roll(self._seq + 1)
        now = time.monotonic()
        if now >= self._next_retention:
            self._next_retention = now + RETENTION_CHECK_S
            # on its own thread: reading old files must never hold up the spool's writes
            threads.start_daemon(self._retention_quietly, "otel-agents-retention")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def after_fork(self) -> None:
        self._file = None  # the child opens its own descriptor
        self._written = 0
        self._paths = set()

    def describe(self) -> str:
        files = spool_files(self.dir)
        total = sum(_size(p) for p in files)
        where = ", ".join(map(str, sorted(self._paths))) or f"{self.dir}/"
        return (
            f"{self._written} spans appended as OTLP-JSON lines to {where} "
            f"({len(files)} file(s), {total} bytes in the spool)"
        )

    # --- files ----------------------------------------------------------------------------
    def _current(self) -> AppendFile:
        day = time.strftime("%Y%m%d", time.gmtime())
        if self._file is None or day != self._day:
            self._day = day
            seq = 1
            for p in spool_files(self.dir):
                if file_day(p) == day:
                    seq = max(seq, int(_NAME.match(p.name).group(2)))  # type: ignore[union-attr]
            self._roll(seq)
        assert self._file is not None
        return self._file

    def _roll(self, seq: int) -> None:
        if self._file is not None:
            self._file.close()
        # another writer may have moved further already
        for p in spool_files(self.dir):
            m = _NAME.match(p.name)
            if m and m.group(1) == self._day:
                seq = max(seq, int(m.group(2)))
        while True:
            path = self.dir / f"spans-{self._day}-{seq:04d}.jsonl"
            if _size(path) < self.max_file_bytes:
                break
            seq += 1
        self._seq = seq
        private_dir(self.dir)
        self._file = AppendFile(path)

    # --- retention ------------------------------------------------------------------------
    def _retention_quietly(self) -> None:
        try:
            self.retention()
        except Exception as exc:  # noqa: BLE001 - housekeeping must never surface
            try:
                from otel_agents.safety import report

                report("spool retention", exc)
            except Exception:  # noqa: BLE001
                pass

    def retention(self) -> list[Path]:
        """Delete old spool files (see module doc), at most once an hour across processes."""
        from otel_agents.foundation.state import state_dir

        if self.retention_days <= 0:
            return []
        stamp = state_dir(self.home) / "retention.stamp"
        try:
            if time.time() - stamp.stat().st_mtime < RETENTION_CHECK_S:
                return []
        except FileNotFoundError:
            pass
        private_dir(stamp.parent)
        stamp.touch(mode=0o600)
        return apply_retention(self.home, self.dir, self.retention_days, require_delivered=self.otlp_enabled)


def apply_retention(
    home: Path, spans_dir: Path, days: int, *, require_delivered: bool, now: float | None = None
) -> list[Path]:
    """Delete spool files older than ``days`` (delivered ones only if ``require_delivered``),
    then ledger files no remaining spool file can need. Returns what was deleted."""
    from otel_agents.sinks.ledger import Ledger

    cutoff = (now or time.time()) - days * 86400
    old = [p for p in spool_files(spans_dir) if _mtime(p) < cutoff]
    if not old:
        return []
    ledger = Ledger(home)
    delivered = ledger.load() if require_delivered else set()
    deleted: list[Path] = []
    for p in old:
        if require_delivered:
            pending = any(
                doc is not None and any(s.get("spanId") not in delivered for s in iter_spans(doc))
                for _o, _e, doc in iter_records(p)
            )
            if pending:
                continue
        try:
            p.unlink()
            deleted.append(p)
        except FileNotFoundError:
            pass
    remaining_days = [d for d in (file_day(p) for p in spool_files(spans_dir)) if d]
    oldest = min(remaining_days) if remaining_days else None
    deleted += ledger.prune(before_day=oldest)
    return deleted


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(p: Path) -> float:
    try:
        return p.stat().st_mtime
    except FileNotFoundError:
        return float("inf")
