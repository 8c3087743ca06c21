"""Recovery: write to the metrics JSONL and the analytics store the spans they missed,
from the spool, exactly once by record id.

The sink processor lists what a local sink did not write in ``state/pending/`` (see
``otel_agents.sinks.pending``): a batch that failed (database locked past the retries,
corrupt, disk full) or what was still queued when the exit deadline passed. Recovery:

- one runner at a time per data home (``state/recover.lock``, an ``flock`` the kernel
  releases if the process dies); in the background shortly after a process starts
  (``replay.on_start``), after a sink works again following a failure, and on
  ``otel-agents replay --sinks metrics,analytics``;
- reads the pending files that are complete (written by this process, by a process that
  has exited, or at least a couple of seconds ago: a process writes its exit-time list
  while its last batch may still be landing);
- finds those span ids in the spool (only files of the spans' days or later; lines are
  pre-filtered by their ``spanId`` strings before being parsed), rebuilds the execution
  records from the OTLP-JSON (``records.from_otlp_json``: the same records the live sink
  would have written) and writes them:

  - metrics: only records whose ``record_id`` is not already in the JSONL file they belong
    to (so a batch that landed partly, or landed just after the exit-time list was written,
    is not duplicated);
  - analytics: upserts keyed by record id (idempotent), with the sink's busy retries;

- deletes a pending file once every id in it is written. An id that is not in the spool
  while its writer is gone can never be recovered (the spool itself missed it, e.g. the
  disk was full): it is dropped and counted as ``unrecoverable``; while the writer is alive
  it is kept for a later run.

A runner killed midway leaves the files in place; the next run skips what was written.
``state/recover.json`` keeps the last run's summary and the unrecoverable totals.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from otel_agents import threads
from otel_agents.foundation.files import flocked, iter_lines, write_private
from otel_agents.foundation.records import build_records, from_otlp_json
from otel_agents.foundation.state import load_json, state_dir
from otel_agents.sinks.pending import PendingFile, pending_dir, pending_files, pid_alive, write_pending_spans
from otel_agents.sinks.spool import file_day, spool_files

#: The sinks recovery can write to.
RECOVERABLE = ("metrics", "analytics")
RECOVER_LOCK = "recover.lock"
RECOVER_STATE = "recover.json"
#: A pending file younger than this, from a process still alive, waits for a later run.
MIN_AGE_S = 2.0
#: Records written per chunk (one analytics transaction; one pass of metrics writes).
CHUNK_RECORDS = 2000
#: Busy retries of a recovery write to the analytics store.
ANALYTICS_RETRY_FOR_S = 120.0

_SPAN_ID = re.compile(rb'"spanId":"([0-9a-fA-F]{16})"')
_RECORD_ID = re.compile(rb'^\{"schema_version":[0-9]+,"record_id":"([^"\\]*)"')


@dataclass
class RecoverResult:
    """What one recovery run did, per sink."""

    pending: dict[str, int] = field(default_factory=dict)  # ids listed in the files read
    delivered: dict[str, int] = field(default_factory=dict)  # spans found in the spool and written
    records: dict[str, int] = field(default_factory=dict)  # records written
    already_present: dict[str, int] = field(default_factory=dict)  # metrics records already in the JSONL
    not_found: dict[str, int] = field(default_factory=dict)  # not in the spool (yet); kept
    unrecoverable: dict[str, int] = field(default_factory=dict)  # not in the spool, writer gone: dropped
    failed: dict[str, str] = field(default_factory=dict)  # sink -> error; its files are kept
    files: int = 0
    files_done: int = 0
    files_waiting: int = 0  # too young (their writer may still be finishing)
    corrupt_lines: int = 0
    seconds: float = 0.0
    complete: bool = True
    error: str = ""
    ended: float = field(default_factory=time.time)

    def total(self, what: str) -> int:
        return sum(getattr(self, what).values())


def enabled_sinks(config: Any) -> list[str]:
    """The recoverable sinks the configuration turns on."""
    from otel_agents.sinks.analytics import analytics_enabled

    out = []
    if config.get("metrics.enabled", True):
        out.append("metrics")
    if config.get("analytics.enabled", True) and analytics_enabled(config):
        out.append("analytics")
    return out


def load_state(home: str | Path) -> dict[str, Any]:
    return load_json(home, RECOVER_STATE)


def recover_lock(home: str | Path, *, wait: bool):  # type: ignore[no-untyped-def]
    """The one-runner-at-a-time lock: yields True if held."""
    return flocked(state_dir(home) / RECOVER_LOCK, exclusive=True, deadline=None if wait else time.monotonic())


def recover(
    config: Any,
    sinks: Sequence[str] | None = None,
    *,
    stop: threading.Event | None = None,
    wait: bool = False,
    progress: Callable[[int, int], None] | None = None,
    min_age: float = MIN_AGE_S,
) -> RecoverResult:
    """Write the pending spans of ``sinks`` (default: the enabled ones) from the spool.

    ``wait``: wait for another runner to finish (else return at once, ``complete=False``).
    ``progress(done, total)`` is called after each chunk.
    """
    t0 = time.monotonic()
    names = [s for s in (enabled_sinks(config) if sinks is None else sinks) if s in RECOVERABLE]
    result = RecoverResult()
    home = Path(config.home)
    with recover_lock(home, wait=wait) as got:
        if not got:
            result.complete = False
            result.error = "another recovery is running"
            return result
        try:
            _recover_locked(config, home, names, result, stop, progress, min_age)
        finally:
            result.seconds = time.monotonic() - t0
            result.ended = time.time()
            _save_state(home, result)
    return result


def _eligible(f: PendingFile, now: float, min_age: float) -> bool:
    return f.pid == os.getpid() or f.age(now) >= min_age or not pid_alive(f.pid)


def _recover_locked(
    config: Any,
    home: Path,
    names: list[str],
    result: RecoverResult,
    stop: threading.Event | None,
    progress: Callable[[int, int], None] | None,
    min_age: float,
) -> None:
    now = time.time()
    files: list[PendingFile] = []
    for f in pending_files(home, names):
        if _eligible(f, now, min_age):
            files.append(f)
        else:
            result.files_waiting += 1
    result.files = len(files)
    if not files:
        return
    file_ids: dict[Path, list[str]] = {}
    wanted: dict[str, set[str]] = {}  # span id -> sinks
    per_sink: dict[str, set[str]] = {}
    for f in files:
        ids = f.ids()
        file_ids[f.path] = ids
        per_sink.setdefault(f.sink, set()).update(ids)
        for i in ids:
            wanted.setdefault(i, set()).add(f.sink)
    result.pending = {s: len(ids) for s, ids in per_sink.items()}
    total = sum(len(ids) for ids in per_sink.values())
    targets: dict[str, _Target] = {}
    for s in per_sink:
        try:
            targets[s] = _make_target(s, config, stop)
        except Exception as exc:  # noqa: BLE001 - one sink that cannot open must not stop the other
            result.failed[s] = f"{type(exc).__name__}: {exc}"
    found: dict[str, set[str]] = {s: set() for s in per_sink}
    remaining = {i for i, sinks in wanted.items() if any(s in targets for s in sinks)}
    buffers: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {s: [] for s in targets}
    sizes: dict[str, int] = dict.fromkeys(targets, 0)
    done = 0

    def flush(sink: str) -> None:
        nonlocal done
        batch = buffers[sink]
        if not batch or sink in result.failed:
            batch.clear()
            sizes[sink] = 0
            return
        records = [r for _sid, recs in batch for r in recs]
        try:
            written, present = targets[sink].deliver(records)
        except Exception as exc:  # noqa: BLE001 - the files stay; a later run retries
            result.failed[sink] = f"{type(exc).__name__}: {exc}"
        else:
            found[sink].update(sid for sid, _recs in batch)
            result.delivered[sink] = result.delivered.get(sink, 0) + len(batch)
            result.records[sink] = result.records.get(sink, 0) + written
            if present:
                result.already_present[sink] = result.already_present.get(sink, 0) + present
            done += len(batch)
            if progress is not None:
                progress(done, total)
        batch.clear()
        sizes[sink] = 0

    min_day = time.strftime("%Y%m%d", time.gmtime(min(f.min_end_s for f in files) - 86400))
    stopped = False
    for path in spool_files(config.spans_dir):
        if not remaining or stopped:
            break
        day = file_day(path)
        if day is not None and day < min_day:
            continue
        for _offset, _end, raw in iter_lines(path):
            if stop is not None and stop.is_set():
                stopped = True
                break
            if not remaining:
                break
            if not any(m.decode("ascii").lower() in remaining for m in _SPAN_ID.findall(raw)):
                continue
            try:
                doc = json.loads(raw)
            except ValueError:
                result.corrupt_lines += 1
                continue
            for service, span in _spans_of(doc):
                sid = span.get("spanId")
                if not isinstance(sid, str):
                    continue
                sid = sid.lower()
                if sid not in remaining:
                    continue
                remaining.discard(sid)
                try:
                    recs = build_records(from_otlp_json(span, service))
                except Exception:  # noqa: BLE001 - a malformed span is skipped (and counted)
                    result.corrupt_lines += 1
                    continue
                for sink in wanted[sid]:
                    if sink in targets and sink not in result.failed:
                        buffers[sink].append((sid, recs))
                        sizes[sink] += len(recs)
                        if sizes[sink] >= CHUNK_RECORDS:
                            flush(sink)
    for sink in list(buffers):
        flush(sink)
    for t in targets.values():
        t.close()

    if stopped:
        result.complete = False
        result.error = "stopped"
        return  # the files stay; what was written is skipped next time
    for f in files:
        sink = f.sink
        if sink in result.failed or sink not in targets:
            result.complete = False
            continue
        ids = file_ids[f.path]
        missing = [i for i in ids if i not in found[sink]]
        if missing:
            if pid_alive(f.pid):  # its spool thread may not have written them yet
                result.not_found[sink] = result.not_found.get(sink, 0) + len(missing)
                result.complete = False
                if len(missing) < len(ids):
                    _rewrite(f, missing)
                continue
            result.unrecoverable[sink] = result.unrecoverable.get(sink, 0) + len(set(missing))
        try:
            f.path.unlink()
            result.files_done += 1
        except FileNotFoundError:
            pass
    if result.failed:
        result.error = "; ".join(f"{s}: {e}" for s, e in sorted(result.failed.items()))


def _rewrite(f: PendingFile, ids: list[str]) -> None:
    """Keep only ``ids`` of ``f`` (same name parts, new write time), then drop the old file."""
    new = f.path.with_name(f"{f.sink}.{f.min_end_s}.{f.pid}.{time.time_ns()}.ids")
    write_private(new, "".join(f"{i}\n" for i in ids).encode("ascii"))
    try:
        f.path.unlink()
    except FileNotFoundError:
        pass


def _spans_of(doc: Any) -> Iterable[tuple[str | None, dict[str, Any]]]:
    if not isinstance(doc, dict):
        return
    for rs in doc.get("resourceSpans") or ():
        if not isinstance(rs, dict):
            continue
        service = None
        res = rs.get("resource")
        for kv in (res.get("attributes") or ()) if isinstance(res, dict) else ():
            if isinstance(kv, dict) and kv.get("key") == "service.name":
                v = (kv.get("value") or {}).get("stringValue")
                service = v if isinstance(v, str) else None
        for ss in rs.get("scopeSpans") or ():
            if not isinstance(ss, dict):
                continue
            for span in ss.get("spans") or ():
                if isinstance(span, dict):
                    yield service, span


class _Target:
    def deliver(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        """Write ``records``; returns ``(written, already present)``."""
        raise NotImplementedError

    def close(self) -> None:
        pass


class _MetricsTarget(_Target):
    """Appends to the metrics JSONL only the records whose id is not in their file yet."""

    def __init__(self, config: Any) -> None:
        from otel_agents.sinks.metrics import MetricsWriter

        self.dir = Path(config.metrics_dir)
        self.writer = MetricsWriter(self.dir)
        self._ids: dict[Path, set[str | None]] = {}

    def _present(self, path: Path) -> set[str | None]:
        ids = self._ids.get(path)
        if ids is None:
            ids = self._ids[path] = set()
            for _o, _e, line in iter_lines(path):
                m = _RECORD_ID.match(line)
                if m is not None:
                    ids.add(m.group(1).decode("utf-8", "replace"))
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if isinstance(rec, dict) and isinstance(rec.get("record_id"), str):
                    ids.add(rec["record_id"])
        return ids

    def deliver(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        from otel_agents.sinks.metrics import file_for

        fresh: list[dict[str, Any]] = []
        present = 0
        for rec in records:
            rid = rec.get("record_id")
            ids = self._present(file_for(self.dir, rec.get("end_unix_nano")))
            if rid in ids:
                present += 1
                continue
            ids.add(rid)
            fresh.append(rec)
        written = self.writer.write(fresh) if fresh else 0
        return written, present

    def close(self) -> None:
        self.writer.close()


class _AnalyticsTarget(_Target):
    """Upserts into the analytics store (idempotent), retrying while it is busy."""

    def __init__(self, config: Any, stop: threading.Event | None) -> None:
        from otel_agents.sinks.analytics import AnalyticsSink

        self.sink = AnalyticsSink(config, retry_for=ANALYTICS_RETRY_FOR_S)
        self.stop = stop
        self._watch: threading.Thread | None = None
        if stop is not None:  # stop retrying when the process exits
            self._watch = threading.Thread(target=self._stop_on, name="otel-agents-recover-stop", daemon=True)
            threads.start(self._watch)

    def _stop_on(self) -> None:
        assert self.stop is not None
        self.stop.wait()
        self.sink.begin_shutdown(time.monotonic())

    def deliver(self, records: list[dict[str, Any]]) -> tuple[int, int]:
        stats = self.sink.write_records(records)
        return len(records) - stats.skipped, 0

    def close(self) -> None:
        self.sink.close()


def _make_target(sink: str, config: Any, stop: threading.Event | None) -> _Target:
    if sink == "metrics":
        return _MetricsTarget(config)
    if sink == "analytics":
        return _AnalyticsTarget(config, stop)
    raise ValueError(f"no recovery for sink {sink!r}")


def _save_state(home: Path, result: RecoverResult) -> None:
    try:
        doc = load_state(home)
        saved = doc.get("unrecoverable_total")
        totals: dict[str, Any] = saved if isinstance(saved, dict) else {}
        for s, n in result.unrecoverable.items():
            totals[s] = int(totals.get(s, 0)) + n
        doc["unrecoverable_total"] = totals
        if result.files or result.files_waiting or result.error:
            doc["last"] = asdict(result)
        write_private(state_dir(home) / RECOVER_STATE, json.dumps(doc, indent=1, sort_keys=True).encode())
    except OSError:
        pass  # the disk may be full: the summary is best effort, the pending files are the truth


def has_pending(home: str | Path, sinks: Iterable[str] | None = None) -> bool:
    return bool(pending_files(home, sinks))


def background_recover(config: Any, sinks: Sequence[str], stop: threading.Event, delay: float) -> None:
    """Run a recovery in this (daemon) thread after ``delay`` seconds, unless another runs."""
    if stop.wait(delay):
        return
    try:
        deadline = time.monotonic() + 30.0
        while True:
            files = pending_files(config.home, sinks)
            if not files:
                return
            result = recover(config, sinks, stop=stop)
            # files too young (a process that just exited) are taken on the next round
            if not result.files_waiting or stop.is_set() or time.monotonic() > deadline:
                return
            if stop.wait(MIN_AGE_S / 2):
                return
    except Exception as exc:  # noqa: BLE001 - background work must never surface
        try:
            from otel_agents.safety import report

            report("background recovery", exc)
        except Exception:  # noqa: BLE001
            pass


class SpoolRecovery:
    """The :class:`otel_agents.sink_contract.Recovery` of the local sinks registered with a
    spool: what they miss is listed in ``state/pending/`` and written later from the spool."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.home = config.home

    def covers(self, sink: str) -> bool:
        return sink in RECOVERABLE

    def pend(self, sink: str, spans: Sequence[Any], memo: dict[Any, Any] | None) -> None:
        write_pending_spans(self.home, sink, spans, memo=memo)

    def prepare(self) -> None:
        # imported before any fork (a fork waits for this): the child must not inherit a
        # half-imported module
        from otel_agents.sinks import analytics, metrics  # noqa: F401

    def run(self, sinks: Sequence[str], stop: threading.Event, delay: float) -> None:
        background_recover(self.config, sinks, stop, delay)


__all__ = [
    "RECOVERABLE",
    "RecoverResult",
    "SpoolRecovery",
    "background_recover",
    "enabled_sinks",
    "has_pending",
    "load_state",
    "pending_dir",
    "recover",
    "recover_lock",
]
