"""Rebuilding a missing analytics store from the metrics JSONL, else from the OTLP-JSON spool,
with a progress bar (``otel_agents.analytics.backfill`` does the writing)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from otel_agents.analytics.backfill import BackfillResult, backfill, records_from_metrics, records_from_spool
from otel_agents.analytics.store import AnalyticsStore
from otel_agents.sinks.metrics import ReadStats, metrics_files

_SPOOL_SUFFIXES = (".json", ".jsonl", ".json.gz", ".jsonl.gz")


class ProgressBar:
    """``label [#####.....]  52%  12,345 records`` on one line of ``stream``, redrawn at most
    ten times a second; :meth:`finish` draws 100% and ends the line."""

    WIDTH = 30

    def __init__(self, label: str, total: int, stream: IO[str] | None = None) -> None:
        self.label = label
        self.total = max(total, 1)
        self.stream = stream if stream is not None else sys.stderr
        self._last = 0.0

    def draw(self, done: int, records: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        frac = min(1.0, done / self.total)
        filled = int(round(frac * self.WIDTH))
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {100 * frac:3.0f}%  {records:,} records"
        )
        self.stream.flush()

    def finish(self, records: int) -> None:
        self.draw(self.total, records, force=True)
        self.stream.write("\n")
        self.stream.flush()


def _lines(paths: list[Path]) -> int:
    """Lines in the files (gzip files: their compressed size / 200, a rough guess)."""
    n = 0
    for p in paths:
        try:
            if p.name.endswith(".gz"):
                n += max(1, p.stat().st_size // 200)
                continue
            with open(p, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    n += block.count(b"\n")
        except OSError:
            continue
    return n


def _spool_files(spans_dir: Path) -> list[Path]:
    if not spans_dir.is_dir():
        return []
    return sorted(p for p in spans_dir.rglob("*") if p.is_file() and p.name.endswith(_SPOOL_SUFFIXES))


@dataclass(slots=True)
class Rebuilt:
    """What :func:`rebuild_store` read and wrote."""

    source: str
    files: int
    result: BackfillResult


def rebuild_store(home: Path, store: Path, *, stream: IO[str] | None = None) -> Rebuilt | None:
    """Build ``store`` from ``<home>/metrics`` (else ``<home>/spans``); None when neither has data."""
    metrics = metrics_files(home / "metrics")
    spool = _spool_files(home / "spans")
    stats = ReadStats()
    records: Iterator[dict[str, Any]]
    if metrics:
        source, files = "metrics JSONL", metrics
        records = records_from_metrics(home / "metrics", stats=stats)
    elif spool:
        source, files = "span spool", spool
        records = records_from_spool(home / "spans", stats=stats)
    else:
        return None
    bar = ProgressBar(f"rebuilding {store.name} from the {source}", _lines(files), stream)
    bar.draw(0, 0, force=True)
    st = AnalyticsStore(store)
    try:
        result = backfill(st, records, result=BackfillResult(read=stats), progress=lambda n: bar.draw(stats.lines, n))
    finally:
        st.close()
    bar.finish(result.records)
    return Rebuilt(source, len(files), result)
