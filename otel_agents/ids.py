"""Deterministic trace and span ids, derived from caller-given keys.

A trace id derives from the workflow id (or Claude Code ``session_id``); a span id from the
workflow id and the span's key. The same keys give the same ids in any process, so a span
started in one process and ended in another, or exported twice, is one span.
Standard library only.
"""

from __future__ import annotations

import hashlib


def trace_id_for(workflow_id: str) -> int:
    """128-bit trace id for a workflow (never 0)."""
    v = int.from_bytes(hashlib.blake2b(workflow_id.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")
    return v or 1


def span_id_for(workflow_id: str, key: str) -> int:
    """64-bit span id for the span ``key`` of a workflow (never 0)."""
    data = f"{workflow_id}\x00{key}".encode("utf-8", "surrogatepass")
    v = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    return v or 1


def hex_trace_id(value: int) -> str:
    return f"{value:032x}"


def hex_span_id(value: int) -> str:
    return f"{value:016x}"
