"""What runs on this machine now, read for ``otel-agents live`` and ``serve``: the workflows
of the per-process live-state files (``otel_agents.livestate``) and the Claude Code
sessions of the hook's spool (``claude-code/sessions/*.jsonl``), plus the last few ended."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from otel_agents.claude_code.layout import SESSIONS_DIR, spool_root
from otel_agents.livestate import ENDED_TTL_S, live_dir

#: a Claude Code session with no event for this long (and no SessionEnd) is not shown running
SESSION_IDLE_S = 3600.0
_TAIL_BYTES = 256 * 1024


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _workflows(home: Path, now: float) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in live_dir(home).glob("*.json"):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            pid, updated = int(doc["pid"]), float(doc["updated"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # being replaced, or not ours
        gone = bool(doc.get("exited")) or not _alive(pid)
        if gone and now - updated > ENDED_TTL_S:
            path.unlink(missing_ok=True)  # ended runs age out
            continue
        for run in doc.get("runs", []):
            run = dict(run, kind="workflow", pid=pid, program=doc.get("program"))
            if run.get("ended") is None and gone:
                run.update(ended=updated, outcome="lost (process exited)")
            rows.append(run)
    return rows


def _session(path: Path, now: float) -> dict[str, Any] | None:
    """One Claude Code session from its hook spool (``{"t": ns, "e": event}`` lines)."""
    try:
        st = path.stat()
        with path.open("rb") as f:
            first = f.readline()
            if st.st_size > _TAIL_BYTES:
                f.seek(st.st_size - _TAIL_BYTES)
                f.readline()  # a partial line
            lines = [first, *f.read().splitlines()]
    except OSError:
        return None
    events: list[tuple[float, dict[str, Any]]] = []
    for line in lines:
        try:
            rec = json.loads(line)
            events.append((rec["t"] / 1e9, rec["e"]))
        except (ValueError, KeyError, TypeError):
            continue
    if not events:
        return None
    open_tools: list[tuple[str, str, float]] = []  # (call id, tool, started)
    ended = outcome = None
    prompts = 0
    for t, ev in events[1:] if len(events) > 1 else events:
        name = ev.get("hook_event_name")
        if name == "PreToolUse":
            open_tools.append((str(ev.get("tool_use_id") or ""), str(ev.get("tool_name") or "?"), t))
        elif name in ("PostToolUse", "PostToolUseFailure"):
            cid, tool = ev.get("tool_use_id"), ev.get("tool_name")
            match = [o for o in open_tools if (o[0] == cid if cid else o[1] == tool)]
            if match:
                open_tools.remove(match[-1])
        elif name == "UserPromptSubmit":
            prompts += 1
        elif name == "SessionEnd":
            ended, outcome = t, str(ev.get("reason") or "ended")
    last = events[-1][0]
    if ended is None and now - last > SESSION_IDLE_S:
        ended, outcome = last, "idle"
    start_ev = events[0][1]
    return {
        "kind": "claude-code",
        "workflow_id": start_ev.get("session_id") or path.stem,
        "name": "Claude Code session",
        "trace_id": None,
        "started": events[0][0],
        "phase": None,
        "step": f"prompt {prompts}" if prompts else None,
        "step_started": None,
        "tool": open_tools[-1][1] if open_tools and ended is None else None,
        "tool_started": open_tools[-1][2] if open_tools and ended is None else None,
        # hook events carry no usage: tokens and cost come with the transcript at the drain
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "unpriced_model_calls": 0,
        "ended": ended,
        "outcome": outcome,
    }


def _sessions(home: Path, now: float) -> list[dict[str, Any]]:
    rows = []
    for path in Path(spool_root(home), SESSIONS_DIR).glob("*.jsonl"):
        try:
            if now - path.stat().st_mtime > SESSION_IDLE_S + ENDED_TTL_S:
                continue
        except OSError:
            continue
        row = _session(path, now)
        if row is not None and (row["ended"] is None or now - row["ended"] <= ENDED_TTL_S):
            rows.append(row)
    return rows


def snapshot(home: str | os.PathLike[str], *, ended: int = 5, now: float | None = None) -> dict[str, Any]:
    """``{"now", "running": [...], "ended": [...]}``: running oldest first, the last
    ``ended`` ended ones newest first."""
    now = time.time() if now is None else now
    rows = _workflows(Path(home), now) + _sessions(Path(home), now)
    running = sorted((r for r in rows if r.get("ended") is None), key=lambda r: r["started"])
    done = sorted((r for r in rows if r.get("ended") is not None), key=lambda r: -r["ended"])
    return {"now": now, "running": running, "ended": done[:ended]}


# --- text --------------------------------------------------------------------------------------
def elapsed(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(max(0.0, seconds))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def tokens(row: dict[str, Any]) -> str:
    if row.get("input_tokens") is None:
        return "n/a"
    return f"{row['input_tokens']:,} in / {row['output_tokens']:,} out"


def cost(row: dict[str, Any]) -> str:
    """Unknown stays unknown: an unpriced model call is never shown as $0."""
    value, unpriced = row.get("cost_usd"), row.get("unpriced_model_calls") or 0
    if value is None:
        return "n/a"
    if unpriced and not value:
        return "unknown (unpriced)"
    return f"${value:.4f}" + (f" + {unpriced} unpriced" if unpriced else "")


def doing(row: dict[str, Any]) -> str:
    parts = []
    for key in ("phase", "step", "tool"):
        if row.get(key):
            parts.append(f"{key} {row[key]}")
    return " > ".join(parts) or "-"


def line(row: dict[str, Any], now: float) -> str:
    who = f"{row['name'] or row['kind']} [{row['workflow_id']}]"
    if row.get("ended") is None:
        return f"{who}  {doing(row)}  {elapsed(now - row['started'])}  {tokens(row)}  {cost(row)}"
    took = elapsed(row["ended"] - row["started"])
    return f"{who}  {(row.get('outcome') or '?').upper()}  {took}  {tokens(row)}  {cost(row)}"


def render(snap: dict[str, Any]) -> str:
    now = snap["now"]
    head = time.strftime("%H:%M:%S", time.localtime(now))
    out = [f"otel-agents live  {head}  {len(snap['running'])} running", "", "RUNNING"]
    out += [f"  {line(r, now)}" for r in snap["running"]] or ["  (nothing running)"]
    out += ["", "ENDED"]
    out += [f"  {line(r, now)}" for r in snap["ended"]] or ["  (none recently)"]
    return "\n".join(out)
