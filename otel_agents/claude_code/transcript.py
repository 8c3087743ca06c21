"""Incremental reading of Claude Code transcripts: one ``Response`` per distinct API response.

A transcript (``transcript_path``, and one file per subagent) is JSONL that Claude Code only
appends to. Assistant entries carry ``timestamp``, ``requestId``, ``message.id``,
``message.model`` and ``message.usage`` (Anthropic's meaning: ``input_tokens`` excludes the
cache). One API response is written as several entries, one per content block, so entries
are grouped by ``message.id`` + ``requestId``; the same response is counted once.

The reader remembers, per file, the byte offset it has consumed (only whole lines), the
timestamp of the last entry (a response's start is the entry before it: the request), and
the response still being written (its blocks may continue in the next read). It never
re-reads what it consumed; a file that shrank (replaced) is read again from the start and
the caller's dedupe set drops what was already counted. The transcript is only ever read.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, BinaryIO

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_US = timedelta(microseconds=1)
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
#: The flat key a response's 1-hour cache writes (``usage.cache_creation.ephemeral_1h_input_tokens``) are kept under.
CACHE_WRITE_1H = "ephemeral_1h_input_tokens"
#: Read at most this much of one file per drain; the rest waits for the next drain.
MAX_READ_BYTES = 64 * 1024 * 1024


def iso_to_ns(value: Any) -> int | None:
    """``2026-11-20T10:00:03.100Z`` as ns since the epoch, or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return ((dt - _EPOCH) // _US) * 1000


@dataclass(slots=True)
class Response:
    """One distinct API response, possibly still being written.

    :param key: ``message.id|requestId``, the dedupe key.
    :param usage: Anthropic usage, field-wise maximum over the response's entries (the
        1-hour cache writes flat, under ``CACHE_WRITE_1H``).
    :param start: timestamp of the entry before the response (its request), ns.
    :param end: timestamp of the response's last entry, ns.
    :param tool_use_ids: ``tool_use`` blocks in it: they anchor it to hook events.
    :param stop_reason: ``message.stop_reason`` (``end_turn``, ``tool_use``, ...), once written.
    """

    key: str
    message_id: str
    request_id: str
    model: str
    usage: dict[str, int]
    start: int | None
    end: int | None
    sidechain: bool = False
    tool_use_ids: list[str] = field(default_factory=list)
    stop_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "stop_reason": self.stop_reason,
            "key": self.key,
            "message_id": self.message_id,
            "request_id": self.request_id,
            "model": self.model,
            "usage": self.usage,
            "start": self.start,
            "end": self.end,
            "sidechain": self.sidechain,
            "tool_use_ids": self.tool_use_ids,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Response:
        return cls(
            key=str(d["key"]),
            message_id=str(d.get("message_id") or ""),
            request_id=str(d.get("request_id") or ""),
            model=str(d.get("model") or ""),
            usage={k: int(v) for k, v in dict(d.get("usage") or {}).items()},
            start=d.get("start"),
            end=d.get("end"),
            sidechain=bool(d.get("sidechain")),
            tool_use_ids=[str(x) for x in d.get("tool_use_ids") or ()],
            stop_reason=d.get("stop_reason") if isinstance(d.get("stop_reason"), str) else None,
        )

    def anthropic_usage(self) -> dict[str, Any]:
        """The usage in Anthropic's shape (1-hour cache writes nested under ``cache_creation``)."""
        out: dict[str, Any] = {k: v for k, v in self.usage.items() if k != CACHE_WRITE_1H}
        h = self.usage.get(CACHE_WRITE_1H, 0)
        if h:
            out["cache_creation"] = {CACHE_WRITE_1H: min(h, out.get("cache_creation_input_tokens", 0))}
        return out

    def tokens(self) -> dict[str, Any]:
        """The token counts with the semantic-convention meaning (``ModelUsage``'s fields), as
        ``ModelUsage.anthropic_tokens`` maps them, without its general extraction's cost."""
        u = self.usage
        cr, cw = u.get("cache_read_input_tokens", 0), u.get("cache_creation_input_tokens", 0)
        return {
            "input_tokens": u.get("input_tokens", 0) + cr + cw,
            "output_tokens": u.get("output_tokens", 0),
            "cache_read_tokens": cr,
            "cache_write_tokens": cw,
            "cache_write_1h_tokens": min(u.get(CACHE_WRITE_1H, 0), cw),
        }

    def merge(self, usage: dict[str, int], ts: int | None, tool_ids: list[str], stop_reason: str | None = None) -> None:
        for k, v in usage.items():
            if v > self.usage.get(k, 0):
                self.usage[k] = v
        if ts is not None:
            self.end = ts if self.end is None else max(self.end, ts)
        for t in tool_ids:
            if t not in self.tool_use_ids:
                self.tool_use_ids.append(t)
        if stop_reason is not None:
            self.stop_reason = stop_reason


@dataclass(slots=True)
class FileCursor:
    """What has been consumed of one transcript file (persisted in the drain state)."""

    offset: int = 0
    last_ts: int | None = None
    open: Response | None = None
    size_seen: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "offset": self.offset,
            "last_ts": self.last_ts,
            "size_seen": self.size_seen,
            "open": self.open.to_json() if self.open is not None else None,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> FileCursor:
        if not d:
            return cls()
        op = d.get("open")
        return cls(
            int(d.get("offset") or 0),
            d.get("last_ts"),
            Response.from_json(op) if op else None,
            int(d.get("size_seen") or 0),
        )


def _usage_of(msg: dict[str, Any]) -> dict[str, int] | None:
    usage = msg.get("usage")
    if not isinstance(usage, dict):
        return None
    out: dict[str, int] = {}
    for k in USAGE_FIELDS:
        v = usage.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            v = 0
        out[k] = int(v)
    created = usage.get("cache_creation")
    h = created.get(CACHE_WRITE_1H) if isinstance(created, dict) else None
    if not isinstance(h, bool) and isinstance(h, (int, float)) and h > 0:
        out[CACHE_WRITE_1H] = int(h)
    return out


def _tool_ids(msg: dict[str, Any]) -> list[str]:
    content = msg.get("content")
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                out.append(block["id"])
    return out


def open_regular(path: str) -> BinaryIO:
    """``path`` opened read-only, if it is a regular file; ``OSError`` otherwise (a FIFO or a
    device named in a payload must never block or feed a drain)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path}: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_lines(path: str, cursor: FileCursor) -> Iterator[bytes]:
    """Whole new lines of ``path`` after ``cursor.offset``; advances the offset past them.

    Raises ``OSError`` when the file cannot be read (the caller retries at a later drain),
    or is not a regular file: a FIFO or a device named in a payload must never block or
    feed the drain. Opened read-only: a transcript is never written.
    """
    with open_regular(path) as f:
        size = os.fstat(f.fileno()).st_size
        if size < cursor.offset:  # replaced or truncated: start over (dedupe drops repeats)
            cursor.offset = 0
            cursor.open = None
        cursor.size_seen = size
        f.seek(cursor.offset)
        data = f.read(min(size - cursor.offset, MAX_READ_BYTES))
    end = data.rfind(b"\n")
    if end < 0:
        return
    cursor.offset += end + 1
    yield from data[: end + 1].splitlines()


def read_responses(path: str, cursor: FileCursor) -> Iterator[Response]:
    """The responses completed by the new lines of ``path``; the one still open stays in the cursor.

    A response is complete once any later entry follows it. The caller decides whether the
    open one is complete too (its turn ended), with ``cursor.open``.
    """
    for line in read_lines(path, cursor):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict):
            continue
        ts = iso_to_ns(entry.get("timestamp"))
        msg = entry.get("message")
        usage = _usage_of(msg) if isinstance(msg, dict) and entry.get("type") == "assistant" else None
        if usage is None or not isinstance(msg, dict):
            if cursor.open is not None:
                yield cursor.open
                cursor.open = None
            if ts is not None:
                cursor.last_ts = ts
            continue
        mid = msg["id"] if isinstance(msg.get("id"), str) else ""
        rid = entry["requestId"] if isinstance(entry.get("requestId"), str) else ""
        key = f"{mid}|{rid}"
        tools = _tool_ids(msg)
        stop = msg["stop_reason"] if isinstance(msg.get("stop_reason"), str) else None
        if not mid and not rid:  # no ids to dedupe by: the line itself identifies it
            key = "line:" + hashlib.sha256(line).hexdigest()[:32]
        if cursor.open is not None and cursor.open.key == key:
            cursor.open.merge(usage, ts, tools, stop)
            if ts is not None:
                cursor.last_ts = ts
            continue
        if cursor.open is not None:
            yield cursor.open
        model = msg["model"] if isinstance(msg.get("model"), str) else ""
        cursor.open = Response(
            key=key,
            message_id=mid,
            request_id=rid,
            model=model,
            usage=dict(usage),
            start=cursor.last_ts,
            end=ts,
            sidechain=entry.get("isSidechain") is True,
            tool_use_ids=tools,
            stop_reason=stop,
        )
        if ts is not None:
            cursor.last_ts = ts
