"""What ``otel-agents doctor`` (and ``otel-agents flush --status``) reports about Claude Code capture.

``summary(home)`` is cheap and never raises: it stats the spools, reads the drain state of
sessions not yet done, and the tail of ``hook.log``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

from otel_agents.claude_code import layout, store

RECENT = 5
#: Hook events a drain met that this otel-agents does not know: name -> last seen (ns).
UNKNOWN_EVENTS_FILE = "unknown-events.json"


def _unknown_path(home: str) -> str:
    return os.path.join(layout.spool_root(home), UNKNOWN_EVENTS_FILE)


def unknown_events(home: str | os.PathLike[str]) -> dict[str, int]:
    """Hook events captured under ``home`` that this otel-agents does not know (name -> last seen, ns)."""
    try:
        with open(_unknown_path(os.fspath(home)), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in doc.items() if isinstance(k, str) and isinstance(v, int)} if isinstance(doc, dict) else {}


def note_unknown_events(home: str | os.PathLike[str], names: list[str], t: int) -> None:
    """Remember that a drain met these unknown hook events (for ``doctor``); never raises."""
    try:
        seen = unknown_events(home)
        if all(seen.get(n, -1) >= t for n in names):
            return
        seen.update({n: max(t, seen.get(n, 0)) for n in names})
        store.write_json_atomic(_unknown_path(os.fspath(home)), seen)
    except Exception:  # noqa: BLE001 - a status note; the events themselves are captured
        pass


def _problems(home: str) -> tuple[Counter[str], list[dict[str, Any]]]:
    counts: Counter[str] = Counter()
    recent: list[dict[str, Any]] = []
    path = layout.log_path(home)
    for p in (path + ".1", path):
        try:
            with open(p, "rb") as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if isinstance(rec, dict):
                counts[str(rec.get("kind"))] += 1
                recent.append(rec)
    return counts, recent[-RECENT:]


def summary(home: str | os.PathLike[str]) -> dict[str, Any]:
    """Sessions, backlog (spooled bytes no drain has read), last drain, hook problems."""
    home = os.fspath(home)
    out: dict[str, Any] = {
        "home": home,
        "sessions": 0,
        "open_sessions": 0,
        "backlog_bytes": 0,
        "backlog_sessions": 0,
        "last_drain_ns": None,
        "spans_exported": 0,
    }
    for files in store.list_sessions(home):
        out["sessions"] += 1
        if store.is_done(files):
            continue
        try:
            size = os.path.getsize(files.spool)
        except OSError:
            continue
        state = store.load_state(files)
        offset = state.offset if state is not None else 0
        if state is None or not state.closed:
            out["open_sessions"] += 1
        if size > offset:
            out["backlog_bytes"] += size - offset
            out["backlog_sessions"] += 1
        if state is not None:
            out["spans_exported"] += state.spans_exported
            if state.last_drain is not None and (out["last_drain_ns"] or 0) < state.last_drain:
                out["last_drain_ns"] = state.last_drain
    last = store.load_last_drain(home)
    out["last_drain"] = last
    if last is not None and (out["last_drain_ns"] or 0) < last["t"]:
        out["last_drain_ns"] = last["t"]
    counts, recent = _problems(home)
    out["hook_problems"] = dict(counts)
    out["recent_problems"] = recent
    out["unknown_events"] = sorted(unknown_events(home))
    return out


def _what(rec: dict[str, Any] | None, last_ns: int | None) -> str:
    """What the last drain did, when its record is the last drain shown."""
    if not rec or rec.get("t") != last_ns:
        return ""
    how = {"automatic": "automatic, after Stop or SessionEnd", "flush": "otel-agents flush"}.get(
        str(rec.get("trigger")), str(rec.get("trigger"))
    )
    sessions, spans = int(rec.get("sessions") or 0), int(rec.get("spans") or 0)
    text = (
        f" ({how}): {sessions} session{'s' if sessions != 1 else ''} drained, "
        f"{spans} span{'s' if spans != 1 else ''} exported"
    )
    errors = rec.get("errors") or []
    return text + (f", {len(errors)} error(s): {errors[0]}" if errors else "")


def format_summary(s: dict[str, Any]) -> str:
    """The summary as a few human lines."""
    import time

    last = s["last_drain_ns"]
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last / 1e9)) if last else "never"
    lines = [
        f"claude-code capture under {s['home']}",
        f"  sessions: {s['sessions']} ({s['open_sessions']} open)",
        f"  backlog: {s['backlog_bytes']} bytes in {s['backlog_sessions']} session(s) not yet drained",
        f"  last drain: {when}{_what(s.get('last_drain'), last)}",
        "  hook problems: " + (", ".join(f"{k} {v}" for k, v in sorted(s["hook_problems"].items())) or "none"),
    ]
    if s.get("unknown_events"):
        lines.append(
            "  hook events this otel-agents does not know (a newer Claude Code?): "
            + ", ".join(s["unknown_events"])
            + "; captured as generic span events: upgrade otel-agents to capture them with their meaning"
        )
    for rec in s["recent_problems"]:
        t = rec.get("t")
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t / 1e9)) if isinstance(t, int) else "?"
        lines.append(f"    {stamp} {rec.get('kind')}: {rec.get('detail')}")
    return "\n".join(lines)
