"""``otel-agents run --spans-file FILE``: every finished span as one JSON line, for a quick look.

Each line is ``span_record(span)``: name, kind, ids (hex), parent id, status, times,
attributes and events. One ``os.write`` per line on an ``O_APPEND`` descriptor, so several
processes can share the file. Tests compare runs with it.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

SPANS_FILE_ENV = "OTEL_AGENTS_RUN_SPANS_FILE"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as plain JSON-able data."""
    ctx = span.context
    parent = span.parent
    return {
        "name": span.name,
        "kind": span.kind.name,
        "trace_id": f"{ctx.trace_id:032x}",
        "span_id": f"{ctx.span_id:016x}",
        "parent_span_id": f"{parent.span_id:016x}" if parent is not None else None,
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "attributes": {k: _jsonable(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {"name": e.name, "attributes": {k: _jsonable(v) for k, v in (e.attributes or {}).items()}}
            for e in span.events
        ],
    }


class JsonLinesSpanExporter(SpanExporter):
    """Appends each span as a JSON line to ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        self._fd: int | None = None

    def _open(self) -> int:
        if self._fd is None:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        return self._fd

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = b"".join((json.dumps(span_record(s), default=str, separators=(",", ":")) + "\n").encode() for s in spans)
        try:
            with self._lock:
                fd = self._open()
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
        except OSError:
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def read_records(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a spans file, skipping a trailing partial line."""
    out: list[dict[str, Any]] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                out.append(json.loads(line))
    return out


def attach(path: str) -> Any:
    """A callback for ``calls.on_runtime``: add a synchronous processor writing to ``path``."""

    def callback(rt: Any) -> None:
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        proc = SimpleSpanProcessor(JsonLinesSpanExporter(path))
        rt.provider.add_span_processor(proc)
        rt.processors.append(proc)

    return callback
