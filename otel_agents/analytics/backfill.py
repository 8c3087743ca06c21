"""Backfilling the analytics store from the metrics JSONL or the OTLP-JSON spool.

Used by ``otel-agents reconcile`` after an analytics outage, and by anything that rebuilds
the store from scratch (``report`` when the database is missing). Writes are the store's
idempotent upserts, so a backfill over records already stored adds nothing.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_agents.analytics.store import TABLE_FOR_KIND, AnalyticsStore
from otel_agents.foundation.records import build_records, iter_otlp_json
from otel_agents.sinks.metrics import ReadStats, iter_records, json_lines

DEFAULT_BATCH_SIZE = 1000


@dataclass(slots=True)
class BackfillResult:
    """What a backfill read and wrote."""

    read: ReadStats = field(default_factory=ReadStats)
    records: int = 0
    batches: int = 0
    #: rows written per table (inserted; with ``overwrite``, also rewritten)
    new_rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLE_FOR_KIND.values(), 0))
    #: records whose row was already stored (or that repeat in the input)
    already_present: int = 0
    #: records of no known kind, or without an id
    skipped: int = 0
    workflows_refreshed: int = 0


def records_from_metrics(
    metrics_dir: Path, *, since: str | None = None, until: str | None = None, stats: ReadStats | None = None
) -> Iterator[dict[str, Any]]:
    """Records from ``metrics/executions_*.jsonl`` (see ``otel_agents.sinks.metrics.iter_records``)."""
    return iter_records(metrics_dir, since=since, until=until, stats=stats)


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def records_from_spool(spans_dir: Path, *, stats: ReadStats | None = None) -> Iterator[dict[str, Any]]:
    """Records rebuilt from the spool's OTLP-JSON lines.

    Reads the spool's own files (``spans-YYYYMMDD-NNNN.jsonl``, oldest first); if there are
    none, every ``.json``/``.jsonl`` (optionally ``.gz``) file under ``spans_dir``, e.g. the
    output of a Collector ``file`` exporter. Lines that are not an OTLP-JSON
    ``ExportTraceServiceRequest`` and partial trailing lines are skipped and counted.
    """
    st = stats if stats is not None else ReadStats()
    root = Path(spans_dir)
    if not root.is_dir():
        return
    from otel_agents.sinks.spool import spool_files

    paths = spool_files(root) or sorted(
        p for p in root.rglob("*") if p.is_file() and p.name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))
    )
    for path in paths:
        st.files += 1
        try:
            f = _open(path)
        except OSError as exc:
            st.problems.append(f"{path}: {exc}")
            continue
        with f:
            try:
                for _, request in json_lines(f, st):
                    if not isinstance(request, dict) or "resourceSpans" not in request:
                        st.corrupt += 1
                        continue
                    try:
                        recs = [rec for span in iter_otlp_json(request) for rec in build_records(span)]
                    except Exception:  # noqa: BLE001 - a malformed line is skipped, not fatal
                        st.corrupt += 1
                        continue
                    st.records += len(recs)
                    yield from recs
            except (OSError, EOFError) as exc:  # truncated gzip, I/O error: keep what was read
                st.problems.append(f"{path}: {exc}")


def backfill(
    store: AnalyticsStore,
    records: Iterable[dict[str, Any]],
    *,
    result: BackfillResult | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> BackfillResult:
    """Write ``records`` into ``store`` in transactions of ``batch_size``.

    By default only missing rows are inserted (``overwrite=False``); ``overwrite=True``
    upserts every record, rewriting rows from the records.
    """
    res = result if result is not None else BackfillResult()
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        stats = store.write(batch, overwrite=overwrite)
        res.batches += 1
        res.records += len(batch)
        res.skipped += stats.skipped
        res.already_present += stats.present
        res.workflows_refreshed += stats.workflows_refreshed
        for table, n in stats.rows.items():
            res.new_rows[table] = res.new_rows.get(table, 0) + n
        batch.clear()
        if progress is not None:
            progress(res.records)

    for rec in records:
        batch.append(rec)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    return res
