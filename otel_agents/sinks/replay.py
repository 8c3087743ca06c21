"""Replay: send every spooled span the delivery ledger does not list, exactly once by span id.

- One replay at a time per data home (``state/replay.lock``, an ``flock``: released by the
  kernel if the process dies).
- For each batch: take the senders' lock exclusively, re-read the ledger (a live sink or an
  earlier replay may have delivered some spans meanwhile), send, then append the batch's
  ids to the ledger before the next batch. A replay killed midway and started again
  resends nothing that was acknowledged and recorded.
- A watermark per spool file (``state/replay.json``) remembers up to where every span is
  delivered, so the next replay reads only newer lines; the same file keeps the last run's
  summary and the totals every replay delivered (``otel-agents doctor`` shows them).
- Spool lines are OTLP-JSON (hex ids); ``otlp_json.to_request`` turns them back into
  protobuf (checked against ``google.protobuf.json_format`` in the tests).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from otel_agents.foundation.files import flocked, write_private
from otel_agents.foundation.state import load_json, state_dir
from otel_agents.sinks.ledger import Ledger, LedgerTail
from otel_agents.sinks.spool import iter_records, iter_spans, spool_files
from otel_agents.sinks.transport import SendError, make_sender, resolve_target

BATCH_SPANS = 512
BATCH_BYTES = 2 * 1024 * 1024
KEEP_PARSED_BYTES = 64 * 1024 * 1024
REPLAY_STATE = "replay.json"
REPLAY_LOCK = "replay.lock"


@dataclass
class ReplayResult:
    """What one replay did."""

    pending: int = 0  # undelivered spans found
    sent: int = 0
    already_delivered: int = 0
    failed: int = 0
    rejected: int = 0
    corrupt_lines: int = 0
    batches: int = 0
    seconds: float = 0.0
    complete: bool = True
    error: str = ""
    endpoint: str = ""
    ended: float = field(default_factory=time.time)


@dataclass
class _Line:
    offset: int
    end: int
    remaining: int  # undelivered spans of this line not yet acknowledged


def filter_request(
    request: dict[str, Any], keep: Callable[[dict[str, Any]], bool]
) -> tuple[list[dict[str, Any]], list[str]]:
    """``resourceSpans`` of ``request`` holding only the spans ``keep`` accepts, and those
    spans' hex ids."""
    out: list[dict[str, Any]] = []
    ids: list[str] = []
    for rs in request.get("resourceSpans") or ():
        scopes = []
        for ss in rs.get("scopeSpans") or ():
            spans = []
            for sp in ss.get("spans") or ():
                if keep(sp):
                    spans.append(sp)
                    ids.append(sp.get("spanId", ""))
            if spans:
                scopes.append({**ss, "spans": spans})
        if scopes:
            out.append({**rs, "scopeSpans": scopes})
    return out, ids


def to_protobuf(resource_spans: list[dict[str, Any]]) -> bytes:
    """Serialized ExportTraceServiceRequest for OTLP/JSON ``resourceSpans``."""
    from otel_agents.sinks.otlp_json import to_request

    payload: bytes = to_request(resource_spans).SerializeToString()
    return payload


class Progress:
    """A plain-text progress bar on stderr: redrawn in place on a terminal, else a line per 10%."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30, label: str = "replay") -> None:
        self.total = total
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.t0 = time.monotonic()
        self._last_draw = 0.0
        self._last_decile = -1

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.tty:
            if now - self._last_draw >= 0.1 or done >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
        else:
            decile = (10 * done // self.total) if self.total else 10
            if decile != self._last_decile:
                self._last_decile = decile
                self.stream.write(self.line() + "\n")
                self.stream.flush()

    def line(self) -> str:
        frac = (self.done / self.total) if self.total else 1.0
        filled = int(round(frac * self.width))
        rate = self.done / max(1e-9, time.monotonic() - self.t0)
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total} spans "
            f"{frac * 100:3.0f}%  {rate:,.0f} spans/s"
        )

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()


def _load_state(home: Path) -> dict[str, Any]:
    return load_json(home, REPLAY_STATE)


def load_state(home: str | Path) -> dict[str, Any]:
    """The replay state: per-file watermarks and the last run's summary."""
    return _load_state(Path(home))


def pending_lines(
    home: Path, spans_dir: Path, delivered: set[str], watermarks: dict[str, int], result: ReplayResult
) -> Iterator[tuple[Path, int, int, dict[str, Any] | None, int]]:
    """``(file, offset, end, request, undelivered)`` for each spool line past the watermarks."""
    for path in spool_files(spans_dir):
        start = int(watermarks.get(path.name, 0))
        try:
            if path.stat().st_size < start:
                start = 0  # not the file we knew
        except FileNotFoundError:
            continue
        for offset, end, doc in iter_records(path, start):
            if doc is None:
                result.corrupt_lines += 1
                yield path, offset, end, None, 0
                continue
            n = sum(1 for s in iter_spans(doc) if s.get("spanId") not in delivered)
            yield path, offset, end, doc, n


def count_pending(config: Any) -> tuple[int, int]:
    """``(undelivered spans, corrupt lines)`` past the watermarks: what a replay would send."""
    home = Path(config.home)
    delivered = Ledger(home).load()
    watermarks = _load_state(home).get("watermarks", {})
    res = ReplayResult()
    seen: set[str | None] = set()
    total = 0
    for _p, _o, _e, doc, n in pending_lines(home, Path(config.spans_dir), delivered, watermarks, res):
        if doc is not None and n:
            for s in iter_spans(doc):
                sid = s.get("spanId")
                if sid not in delivered and sid not in seen:
                    seen.add(sid)
                    total += 1
    return total, res.corrupt_lines


def replay(
    config: Any,
    *,
    stop: threading.Event | None = None,
    progress: Progress | None | bool = None,
    batch_spans: int = BATCH_SPANS,
    dry_run: bool = False,
) -> ReplayResult:
    """Send undelivered spooled spans; the caller holds ``replay_lock``. ``progress=True``
    draws a bar on stderr. ``dry_run`` only counts what would be sent."""
    t0 = time.monotonic()
    home = Path(config.home)
    spans_dir = Path(config.spans_dir)
    target = resolve_target(config)
    result = ReplayResult(endpoint=target.describe())
    ledger = Ledger(home)
    # the tail first: ids another sender appends while the ledger is loaded are then seen by
    # the tail (or both), never by neither (which would send them a second time)
    tail = LedgerTail(ledger)
    delivered = ledger.load()
    state = _load_state(home)
    watermarks: dict[str, int] = dict(state.get("watermarks", {}))
    lines: dict[str, list[_Line]] = {}
    ends: dict[str, int] = {}

    # pass 1: how many spans are pending (for the progress bar); the parsed lines are kept
    # for pass 2 unless they are many (then pass 2 reads them again)
    pending_ids: set[str | None] = set()
    kept: list[tuple[Path, int, int, dict[str, Any] | None, int]] | None = []
    kept_bytes = 0
    for path, offset, end, doc, n in pending_lines(home, spans_dir, delivered, watermarks, result):
        if kept is not None:
            kept_bytes += end - offset
            kept.append((path, offset, end, doc, n))
            if kept_bytes > KEEP_PARSED_BYTES:
                kept = None
        if doc is not None and n:
            for s in iter_spans(doc):
                sid = s.get("spanId")
                if sid not in delivered:
                    pending_ids.add(sid)
    result.pending = len(pending_ids)
    corrupt = result.corrupt_lines
    if dry_run or not pending_ids:
        if not dry_run:
            _advance(home, spans_dir, watermarks, result, state)
        result.seconds = time.monotonic() - t0
        return result
    result.corrupt_lines = 0  # pass 2 counts them again

    bar = Progress(result.pending) if progress is True else (progress or None)
    if bar is not None:
        bar.update(0)
    sender = make_sender(target)
    sent_ids: set[str] = set()
    batch = _Batch()

    def flush() -> bool:
        if not batch.ids:
            return True
        ok = _send_batch(ledger, tail, sender, batch, result, target.timeout)
        if ok:
            for line, n in batch.lines:
                line.remaining -= n
            sent_ids.update(batch.ids)
            if bar is not None:
                bar.update(result.sent + result.already_delivered + result.rejected)
        batch.clear()
        return ok

    def take(chunk: set[str]) -> Callable[[dict[str, Any]], bool]:
        def keep(sp: dict[str, Any]) -> bool:
            sid = sp.get("spanId")
            if sid in chunk:
                chunk.discard(sid)  # once, even if a line holds the same id twice
                return True
            return False

        return keep

    try:
        stopped = False
        lines_again = kept if kept is not None else pending_lines(home, spans_dir, delivered, watermarks, result)
        if kept is not None:
            result.corrupt_lines = corrupt
        for path, offset, end, doc, n in lines_again:
            if stopped or (stop is not None and stop.is_set()):
                result.error = result.error or "stopped"
                break
            line = _Line(offset, end, 0)
            lines.setdefault(path.name, []).append(line)
            ends[path.name] = end
            if doc is None or not n:
                continue
            todo: list[str] = []
            in_line: set[str] = set()
            for sp in iter_spans(doc):
                sid = sp.get("spanId")
                if (
                    sid
                    and sid not in delivered
                    and sid not in sent_ids
                    and sid not in batch.id_set
                    and sid not in in_line
                ):
                    in_line.add(sid)
                    todo.append(sid)
            line.remaining = len(todo)  # until acknowledged: a stop or failure keeps the watermark here
            per_span = (end - offset) / max(1, n)
            i = 0
            while i < len(todo):
                room = batch_spans - len(batch.ids)
                if room <= 0 or batch.bytes >= BATCH_BYTES:
                    if not flush() or (stop is not None and stop.is_set()):
                        stopped = True
                        break
                    continue
                chunk = todo[i : i + room]
                rs, ids = filter_request(doc, take(set(chunk)))
                batch.add(rs, ids, line, int(per_span * len(ids)))
                i += len(chunk)
            if stopped:
                result.error = result.error or "stopped"
                break
        else:
            flush()
    finally:
        result.complete = result.sent + result.already_delivered + result.rejected >= result.pending
        sender.close()
        ledger.close()
        if bar is not None:
            bar.finish()
        for name, file_lines in lines.items():
            wm = ends[name]
            for line in file_lines:
                if line.remaining > 0:
                    wm = line.offset
                    break
            watermarks[name] = wm
        result.corrupt_lines = max(result.corrupt_lines, corrupt)
        result.seconds = time.monotonic() - t0
        _save_state(home, spans_dir, watermarks, result, state)
    return result


class _Batch:
    """Spans gathered for one request, with the lines they came from."""

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.resource_spans: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.id_set: set[str] = set()
        self.lines: list[tuple[_Line, int]] = []
        self.bytes = 0

    def add(self, resource_spans: list[dict[str, Any]], ids: list[str], line: _Line, size: int) -> None:
        self.resource_spans.extend(resource_spans)
        self.ids.extend(ids)
        self.id_set.update(ids)
        self.lines.append((line, len(ids)))
        self.bytes += size


def _send_batch(
    ledger: Ledger, tail: LedgerTail, sender: Any, batch: _Batch, result: ReplayResult, timeout: float
) -> bool:
    """Send one batch under the exclusive senders' lock; record it in the ledger at once."""
    deadline = time.monotonic() + timeout
    with ledger.send_lock(exclusive=True, deadline=deadline) as got:
        if not got:
            result.error = "the senders' lock stayed busy"
            return False
        resource_spans, ids = batch.resource_spans, batch.ids
        seen = tail.refresh()
        if not seen.isdisjoint(ids):  # a live sink delivered some meanwhile
            result.already_delivered += sum(1 for i in ids if i in seen)
            drop = {i for i in ids if i in seen}
            ids = [i for i in ids if i not in seen]
            resource_spans = [
                {
                    **rs,
                    "scopeSpans": [
                        {**ss, "spans": [sp for sp in ss["spans"] if sp.get("spanId") not in drop]}
                        for ss in rs["scopeSpans"]
                    ],
                }
                for rs in resource_spans
            ]
            if not ids:
                return True
        body = to_protobuf(resource_spans)
        try:
            rejected = sender.send(body, time.monotonic() + timeout)
        except SendError as exc:
            result.error = str(exc)
            result.failed += len(ids)
            return False
        ledger.append(ids)
        result.sent += len(ids) - rejected
        result.rejected += rejected
        result.batches += 1
        return True


def _advance(
    home: Path, spans_dir: Path, watermarks: dict[str, int], result: ReplayResult, state: dict[str, Any]
) -> None:
    """Nothing pending: move every watermark to the end of the complete lines read."""
    for path in spool_files(spans_dir):
        end = int(watermarks.get(path.name, 0))
        for _o, e, _doc in iter_records(path, end):
            end = e
        watermarks[path.name] = end
    _save_state(home, spans_dir, watermarks, result, state)


def _save_state(
    home: Path, spans_dir: Path, watermarks: dict[str, int], result: ReplayResult, state: dict[str, Any]
) -> None:
    names = {p.name for p in spool_files(spans_dir)}
    state["watermarks"] = {k: v for k, v in watermarks.items() if k in names}
    state["last"] = asdict(result)
    if result.sent:  # what every replay (command or background) delivered, for doctor
        saved = state.get("totals")
        totals: dict[str, Any] = saved if isinstance(saved, dict) else {}
        state["totals"] = {
            "sent": int(totals.get("sent") or 0) + result.sent,
            "batches": int(totals.get("batches") or 0) + result.batches,
            "last_sent": time.time(),
        }
    write_private(state_dir(home) / REPLAY_STATE, json.dumps(state, indent=1, sort_keys=True).encode())


def replay_lock(home: str | Path, *, wait: bool):  # type: ignore[no-untyped-def]
    """The one-replay-at-a-time lock: yields True if held (with ``wait=False``, at once or never)."""
    return flocked(state_dir(home) / REPLAY_LOCK, exclusive=True, deadline=None if wait else time.monotonic())


def background_replay(config: Any, stop: threading.Event, delay: float) -> None:
    """Run a replay in this (daemon) thread after ``delay`` seconds, unless another runs."""
    if stop.wait(delay):
        return
    try:
        with replay_lock(config.home, wait=False) as got:
            if got and not stop.is_set():
                replay(config, stop=stop)
    except Exception as exc:  # noqa: BLE001 - background work must never surface
        try:
            from otel_agents.safety import report

            report("background replay", exc)
        except Exception:  # noqa: BLE001
            pass
