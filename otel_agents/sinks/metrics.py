"""The execution-metrics sink: one JSON line per execution record, appended durably.

Files: ``<home>/metrics/executions_YYYY-MM-DD.jsonl`` (the UTC date of the record's end),
mode 0600, in a 0700 directory. Each record is serialised whole, then written, with the
other whole records of its batch (up to 1 MiB), in ONE ``os.write`` on an ``O_APPEND``
descriptor, so concurrent processes never interleave or split lines (REFERENCE.md §5). Readers (:func:`iter_records`) skip a trailing partial line
and count corrupt ones instead of failing. ``docs/metrics.md`` documents every field.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otel_agents import forksafe
from otel_agents.foundation.files import AppendFile
from otel_agents.foundation.records import normalize_record, records_from_spans
from otel_agents.safety import report
from otel_agents.sink_contract import DeliveryError, Stop, never

if TYPE_CHECKING:
    from otel_agents.config import Config

FILE_PREFIX = "executions_"
FILE_SUFFIX = ".jsonl"
_FILE_RE = re.compile(r"^executions_(\d{4}-\d{2}-\d{2})\.jsonl$")


#: ASCII output (non-ASCII text as ``\\uXXXX`` escapes): the C encoder's fast path, about a
#: quarter quicker than ``ensure_ascii=False``, whose strings go through a Python function.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), allow_nan=False, default=str)


def encode_record(record: dict[str, Any]) -> bytes:
    """One record as one JSON line (ASCII, hence UTF-8; compact; newline-terminated)."""
    return (_ENCODER.encode(record) + "\n").encode("ascii")


_DAY_NAMES: dict[int, str] = {}


def file_name(end_unix_nano: int | None) -> str:
    """The name of the file a record ending at ``end_unix_nano`` belongs in (UTC date; now
    if unknown). Names are cached per day: this runs once per record."""
    secs = end_unix_nano // 1_000_000_000 if end_unix_nano else int(time.time())
    day = secs // 86400
    name = _DAY_NAMES.get(day)
    if name is None:
        if len(_DAY_NAMES) > 64:
            _DAY_NAMES.clear()
        name = _DAY_NAMES[day] = f"{FILE_PREFIX}{time.strftime('%Y-%m-%d', time.gmtime(day * 86400))}{FILE_SUFFIX}"
    return name


def file_for(metrics_dir: Path, end_unix_nano: int | None) -> Path:
    """The file a record ending at ``end_unix_nano`` belongs in (UTC date; now if unknown)."""
    return metrics_dir / file_name(end_unix_nano)


#: At most this many bytes of records in one write (one record may be larger).
CHUNK_BYTES = 1 << 20


class MetricsWriter:
    """Appends records to the dated JSONL files. Thread-safe; whole lines per ``os.write``."""

    #: Files kept open at most (today's and yesterday's, around midnight).
    MAX_OPEN = 4

    def __init__(self, metrics_dir: Path) -> None:
        self.dir = Path(metrics_dir)
        self._files: dict[str, AppendFile] = {}
        self._lock = forksafe.Lock()  # new in a forked child; the O_APPEND descriptors stay shared (safe)
        #: The names of the files this writer appended to.
        self.names: set[str] = set()

    def _file(self, name: str) -> AppendFile:
        f = self._files.get(name)
        if f is None:
            while len(self._files) >= self.MAX_OPEN:
                _old, old = self._files.popitem()
                old.close()
            f = self._files[name] = AppendFile(self.dir / name)
            self.names.add(name)
        return f

    def write(self, records: Iterable[dict[str, Any]]) -> int:
        """Append ``records``; returns how many were written. Raises ``OSError`` on I/O failure.

        Consecutive records for the same file go out in one ``os.write`` (up to
        ``CHUNK_BYTES``): whole lines only, so concurrent writers still never interleave.
        """
        n = 0
        with self._lock:
            name = ""
            chunk: list[bytes] = []
            size = 0
            for record in records:
                try:
                    data = encode_record(record)
                except (TypeError, ValueError) as exc:  # one unencodable record: skip it
                    report("metrics record encoding", exc)
                    continue
                where = file_name(record.get("end_unix_nano"))
                if chunk and (where != name or size + len(data) > CHUNK_BYTES):
                    self._file(name).append(b"".join(chunk))
                    n += len(chunk)
                    chunk, size = [], 0
                name = where
                chunk.append(data)
                size += len(data)
            if chunk:
                self._file(name).append(b"".join(chunk))
                n += len(chunk)
        return n

    def close(self) -> None:
        with self._lock:
            for f in self._files.values():
                f.close()
            self._files.clear()


class MetricsSink:
    """Sink: execution records to ``<home>/metrics/executions_YYYY-MM-DD.jsonl``.

    :param config: the effective configuration (``home``; ``metrics.enabled``).
    """

    name = "metrics"
    #: What it misses (a failed append, what is still queued at the exit deadline) is
    #: listed in ``state/pending/`` and appended later from the spool, once per record id
    #: (``otel_agents.sinks.recover``), when the sink is registered with a spool. The spool
    #: alone is drained first at exit.
    spool_recoverable = True
    #: Given by whoever registers the sink (``otel_agents.sink_contract.Recovery``).
    recovery: Any = None
    #: Wait up to this long for a fuller batch: one wake-up and one write per batch instead of
    #: per span (what it still holds at a crash is written again from the spool).
    linger = 0.05

    def __init__(self, config: Config) -> None:
        self.enabled = bool(config.get("metrics.enabled", True))
        self.dir = config.metrics_dir
        self._writer = MetricsWriter(self.dir)
        self.records_written = 0

    def export(self, spans: Sequence[Any], stop: Stop = never) -> None:
        """Convert ``spans`` to records and append them. Raises ``DeliveryError`` if the disk
        fails, ``Interrupted`` if ``stop`` is set before anything is written."""
        if not self.enabled:
            return
        records = records_from_spans(spans, stop)
        if records:
            try:
                self.records_written += self._writer.write(records)
            except OSError as exc:  # disk full, read-only, permissions: an operational failure
                raise DeliveryError(f"cannot append to {self.dir}: {exc}") from exc

    def close(self) -> None:
        self._writer.close()

    def describe(self) -> str:
        if not self.enabled:
            return "off (metrics.enabled = false)"
        names = sorted(self._writer.names)
        if not names:
            return f"no execution records written (files: {self.dir / (FILE_PREFIX + 'YYYY-MM-DD' + FILE_SUFFIX)})"
        return f"{self.records_written} execution records appended to " + ", ".join(str(self.dir / n) for n in names)


# --- reading -------------------------------------------------------------------------------------


@dataclass(slots=True)
class ReadStats:
    """What :func:`iter_records` saw."""

    files: int = 0
    lines: int = 0
    records: int = 0
    corrupt: int = 0
    partial_tail: int = 0
    problems: list[str] = field(default_factory=list)


def json_lines(f: Iterable[bytes], st: ReadStats) -> Iterator[tuple[int, Any]]:
    """Each complete line of ``f``: its 1-based number and its JSON value (``None`` if not JSON).

    Every line counts in ``st.lines``; a line without its newline (a write in progress) is
    skipped and counted in ``st.partial_tail``; a blank line is skipped.
    """
    for lineno, raw in enumerate(f, start=1):
        st.lines += 1
        if not raw.endswith(b"\n"):
            st.partial_tail += 1
            continue
        if raw.isspace():  # a fresh line started after a torn one (foundation.files.AppendFile)
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        yield lineno, value


def metrics_files(metrics_dir: Path, *, since: str | None = None, until: str | None = None) -> list[Path]:
    """The JSONL files in ``metrics_dir``, oldest first; ``since``/``until`` are YYYY-MM-DD."""
    out = []
    try:
        entries = sorted(Path(metrics_dir).iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        m = _FILE_RE.match(path.name)
        if not m:
            continue
        day = m.group(1)
        if (since and day < since) or (until and day > until):
            continue
        out.append(path)
    return out


def iter_records(
    metrics_dir: Path, *, since: str | None = None, until: str | None = None, stats: ReadStats | None = None
) -> Iterator[dict[str, Any]]:
    """Every record in the metrics JSONL files, oldest file first.

    A line without its newline at the very end of a file is a write in progress (or a
    crash mid-write): it is skipped and counted in ``partial_tail``. A line that is not a
    JSON object with a ``record_id`` and ``kind`` is skipped and counted in ``corrupt``.
    Records come back normalised (``records.normalize_record``): every field present, of
    its documented type, or ``None``.
    """
    st = stats if stats is not None else ReadStats()
    for path in metrics_files(metrics_dir, since=since, until=until):
        st.files += 1
        try:
            f = open(path, "rb")
        except OSError as exc:
            st.problems.append(f"{path}: {exc}")
            continue
        with f:
            for lineno, rec in json_lines(f, st):
                if not isinstance(rec, dict) or not rec.get("record_id") or not rec.get("kind"):
                    st.corrupt += 1
                    if len(st.problems) < 20:
                        st.problems.append(f"{path.name}:{lineno}: not a record")
                    continue
                st.records += 1
                yield normalize_record(rec)
