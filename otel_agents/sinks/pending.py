"""Spans a local sink (metrics, analytics) did not write, by span id, for recovery from the spool.

When such a sink's batch fails (a locked or corrupt database, a full disk), or the process
exits before the sink has drained its queue, the sink processor writes the span ids to
``<home>/state/pending/``: one file per event, written whole (a temporary file renamed
into place, mode 0600), never appended afterwards. Cheap: ids only, ~17 bytes a span.
``otel_agents.sinks.recover`` later finds those spans in the spool and writes them to the
sink, exactly once by record id; it deletes a file once every id in it is delivered.

File name: ``<sink>.<min_end_unix_s>.<pid>.<time_ns>.ids``. ``min_end_unix_s`` is the
earliest end time of the spans listed, so recovery skips spool files of earlier days;
``pid`` tells recovery whether the writer is still alive.
"""

from __future__ import annotations

import operator
import os
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from otel_agents.foundation.files import iter_lines, private_dir, write_private

PENDING_DIR = "pending"
_NAME = re.compile(r"^([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.(\d+)\.ids$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def pending_dir(home: str | os.PathLike[str]) -> Path:
    return Path(home) / "state" / PENDING_DIR


@dataclass(frozen=True)
class PendingFile:
    """One pending file: whose it is and what it names."""

    path: Path
    sink: str
    min_end_s: int
    pid: int
    written_ns: int

    def ids(self) -> list[str]:
        """The span ids listed (a trailing partial line, if any, is ignored)."""
        return [line.strip().decode("ascii", "replace") for _o, _e, line in iter_lines(self.path)]

    def age(self, now: float | None = None) -> float:
        try:
            return (now or time.time()) - self.path.stat().st_mtime
        except FileNotFoundError:
            return 0.0


_SPAN_ID = operator.attrgetter("_context.span_id")  # the SDK's fields: read in C, no properties
_END = operator.attrgetter("_end_time")


def span_ids_of(spans: Sequence[Any]) -> tuple[list[str], int]:
    """``(hex span ids, earliest end time in unix seconds)`` of ``ReadableSpan`` objects."""
    text, min_end = _ids_text(spans)
    return text.split(), min_end


def _ids_text(spans: Sequence[Any]) -> tuple[str, int]:
    """The pending file's text for ``spans`` (``"<16 hex>\\n"`` each) and their earliest end
    time (unix seconds). Fast: at exit this runs for tens of thousands of spans within the
    exit deadline, so the ids are read and formatted by C code (``attrgetter``, one
    ``%`` format for the whole list); spans of another shape take the slow path."""
    try:
        ints = tuple(map(_SPAN_ID, spans))
        ends = [e for e in map(_END, spans) if e]
    except AttributeError:
        ints_list: list[int] = []
        ends = []
        for s in spans:
            ctx = getattr(s, "context", None)
            if ctx is None:
                continue
            ints_list.append(ctx.span_id)
            end = getattr(s, "end_time", None)
            if end:
                ends.append(end)
        ints = tuple(ints_list)
    text = ("%016x\n" * len(ints)) % ints
    min_end = min(ends) // 1_000_000_000 if ends else int(time.time())
    return text, min_end


def write_pending_spans(
    home: str | os.PathLike[str], sink: str, spans: Sequence[Any], memo: dict[Any, Any] | None = None
) -> Path | None:
    """List ``spans`` (``ReadableSpan`` objects) as pending for ``sink``. Raises ``OSError``.
    ``memo``: shared by the calls of one exit, so the same leftovers are formatted once."""
    if not spans:
        return None
    key = (len(spans), id(spans[0]), id(spans[-1]))
    hit = memo.get(key) if memo is not None else None
    if hit is not None and hit[0] is spans[0] and hit[1] is spans[-1]:
        text, min_end = hit[2], hit[3]
    else:
        text, min_end = _ids_text(spans)
        if memo is not None:
            memo[key] = (spans[0], spans[-1], text, min_end)
    return _write(home, sink, text, min_end)


def write_pending(home: str | os.PathLike[str], sink: str, span_ids: Sequence[str], min_end_s: int) -> Path | None:
    """List ``span_ids`` as pending for ``sink`` (one new file). Raises ``OSError``."""
    if not span_ids:
        return None
    return _write(home, sink, "".join(f"{i}\n" for i in span_ids), min_end_s)


def _write(home: str | os.PathLike[str], sink: str, text: str, min_end_s: int) -> Path:
    d = private_dir(pending_dir(home))
    name = f"{_UNSAFE.sub('_', sink) or 'sink'}.{max(0, int(min_end_s))}.{os.getpid()}.{time.time_ns()}.ids"
    path = d / name
    write_private(path, text.encode("ascii", "replace"))
    return path


def pending_files(home: str | os.PathLike[str], sinks: Iterable[str] | None = None) -> list[PendingFile]:
    """The pending files (of ``sinks`` only, if given), oldest first."""
    wanted = None if sinks is None else {_UNSAFE.sub("_", s) for s in sinks}
    try:
        names = os.listdir(pending_dir(home))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for n in names:
        m = _NAME.match(n)
        if not m or (wanted is not None and m.group(1) not in wanted):
            continue
        out.append(PendingFile(pending_dir(home) / n, m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    out.sort(key=lambda f: (f.written_ns, f.path.name))
    return out


def count_pending(home: str | os.PathLike[str]) -> dict[str, dict[str, int]]:
    """``{sink: {"files": n, "spans": unique ids}}`` over the pending files."""
    ids: dict[str, set[str]] = {}
    files: dict[str, int] = {}
    for f in pending_files(home):
        files[f.sink] = files.get(f.sink, 0) + 1
        ids.setdefault(f.sink, set()).update(f.ids())
    return {s: {"files": files[s], "spans": len(ids[s])} for s in sorted(files)}


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
