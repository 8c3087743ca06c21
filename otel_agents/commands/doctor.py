"""``otel-agents doctor``: configuration, sinks, spool and replay state, and problems.

Shows the effective configuration with the source of each value (header VALUES are never
shown, only their names); each registered sink's counters summed over all processes
(``state/sinks.json``: delivered, failures, dropped, last success, last error; OTLP adds
what ``replay`` delivered) with ONE backlog figure each (OTLP: spooled spans not delivered
yet; metrics and analytics: spans they missed, waiting in ``state/pending/``); the spool,
the last replay and recovery; Claude Code capture (sessions, undrained events, last drain,
hook problems); warnings (OTLP never delivered, with the fix) and problems. Exit status 1
when the configuration has problems; warnings leave it 0. Reading creates nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any


def _ago(ts: float | None) -> str:
    if not ts:
        return "never"
    secs = max(0.0, time.time() - ts)
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if secs >= size:
            return f"{when} ({secs / size:.0f} {unit} ago)"
    return f"{when} ({secs:.0f} s ago)"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _shown_value(name: str, value: Any) -> Any:
    if name == "otlp.headers":
        from otel_agents.sinks.transport import parse_headers

        names = sorted(parse_headers(str(value or ""), []))
        return f"{len(names)} header(s): {', '.join(names)} (values hidden)" if names else "(none)"
    if name == "otlp.endpoint" and value:
        from urllib.parse import urlsplit

        u = urlsplit(value if "://" in value else "http://" + value)
        hidden = " (credentials/query hidden)" if (u.query or "@" in u.netloc) else ""
        return f"{u.scheme}://{u.netloc.rpartition('@')[2]}{u.path}{hidden}"
    if name == "analytics.url" and value:
        from otel_agents.analytics.postgres import redact_url

        return redact_url(str(value))
    if value == "":
        return "(empty)"
    return value


def gather(cfg: Any) -> dict[str, Any]:
    """Everything doctor reports, as data (``--json`` prints it)."""
    from otel_agents.claude_code.native import agent_hook_in_use, hook_in_use
    from otel_agents.claude_code.status import summary
    from otel_agents.config import SETTINGS
    from otel_agents.foundation import state
    from otel_agents.sinks.replay import count_pending, load_state
    from otel_agents.sinks.spool import spool_files
    from otel_agents.sinks.transport import resolve_target

    problems = list(cfg.problems)
    config = [
        {
            "name": s.name,
            "value": _shown_value(s.name, cfg[s.name]),
            "source": cfg.sources.get(s.name, "default"),
            "doc": s.doc,
        }
        for s in SETTINGS
    ]
    target = resolve_target(cfg)
    problems += target.problems
    if cfg["exit_deadline"] <= 0:
        problems.append("exit_deadline <= 0: sinks get no time at exit; the spool may miss the last spans")
    elif cfg["exit_deadline"] > 5:
        problems.append(f"exit_deadline {cfg['exit_deadline']:g} s: process exit may wait that long for sinks")
    if cfg["otlp.enabled"] and not cfg["spool.enabled"]:
        problems.append("spool.enabled = false with OTLP on: spans the collector misses are lost (no replay)")
    if cfg["spool.retention_days"] <= 0:
        problems.append("spool.retention_days <= 0: spool files are never deleted")

    files = spool_files(cfg.spans_dir)
    total = sum(p.stat().st_size for p in files if p.exists())
    spool: dict[str, Any] = {
        "dir": str(cfg.spans_dir),
        "files": len(files),
        "bytes": total,
        "oldest": files[0].name if files else None,
    }
    if cfg["spool.enabled"] and cfg["otlp.enabled"]:
        undelivered, corrupt = count_pending(cfg)
        spool["undelivered"] = undelivered
        spool["corrupt_lines"] = corrupt
        cutoff = time.time() - cfg["spool.retention_days"] * 86400
        old = [p for p in files if p.exists() and p.stat().st_mtime < cutoff]
        if old and undelivered:
            problems.append(
                f"{len(old)} spool file(s) older than spool.retention_days are kept because they "
                "hold undelivered spans: run `otel-agents replay`"
            )
    replay_doc = load_state(cfg.home)
    pending = _pending(cfg)

    sinks_doc = state.load(cfg.home).get("sinks", {})
    registered = _registered_sinks(cfg, problems)
    sinks = []
    for name in registered + sorted(set(sinks_doc) - set(registered)):
        entry = dict(sinks_doc.get(name, {}))
        entry["name"] = name
        entry["registered"] = name in registered
        _backlog(entry, spool, pending)
        if name == "otlp":
            saved = replay_doc.get("totals")
            totals: dict[str, Any] = saved if isinstance(saved, dict) else {}
            entry["replayed"] = int(totals.get("sent") or 0)
            entry["last_replayed"] = totals.get("last_sent")
        sinks.append(entry)
    otlp = {
        "enabled": bool(cfg["otlp.enabled"]),
        "target": target.describe() if cfg["otlp.enabled"] else None,
        "endpoint": target.endpoint,
        "default_endpoint": not target.explicit,
    }
    return {
        "home": str(cfg.home),
        "config": config,
        "otlp_target": target.describe(),
        "otlp": otlp,
        "sinks": sinks,
        "spool": spool,
        "last_replay": replay_doc.get("last"),
        "pending": pending,
        "claude_code": summary(cfg.home),
        "claude_code_hook": hook_in_use(),
        "agent_cli_hooks": {agent: agent_hook_in_use(agent) for agent in ("codex", "gemini")},
        "warnings": _warnings(otlp, sinks, spool),
        "problems": problems,
    }


def _backlog(entry: dict[str, Any], spool: dict[str, Any], pending: dict[str, Any]) -> None:
    """One backlog figure per sink: what still waits for it, where we can count that.

    OTLP: spooled spans the collector has not acknowledged; metrics and analytics: spans
    they missed, waiting in ``state/pending/`` to be written from the spool; any other sink:
    its in-memory queue when a process last reported (``backlog_updated``).
    """
    name = entry["name"]
    if name == "otlp" and "undelivered" in spool:
        entry["backlog"], entry["backlog_of"] = spool["undelivered"], "spool"
    elif name in ("metrics", "analytics"):
        counts = (pending.get("sinks") or {}).get(name) or {}
        entry["backlog"], entry["backlog_of"] = int(counts.get("spans") or 0), "pending"
    else:
        entry["backlog"] = int(entry.get("backlog") or 0)
        entry["backlog_of"] = "memory"
        return
    entry.pop("backlog_updated", None)


def _warnings(otlp: dict[str, Any], sinks: list[dict[str, Any]], spool: dict[str, Any]) -> list[str]:
    """Things worth knowing that are not configuration problems (the exit status stays 0)."""
    out: list[str] = []
    entry = next((s for s in sinks if s["name"] == "otlp"), None)
    if not otlp["enabled"] or entry is None:
        return out  # local only: the spool, metrics and analytics hold everything
    delivered = int(entry.get("spans") or 0) + int(entry.get("replayed") or 0)
    waiting = int(spool.get("undelivered") or 0)
    if delivered or not (waiting or entry.get("failed_spans")):
        return out
    where = otlp["endpoint"] + (" (the default endpoint: none is configured)" if otlp["default_endpoint"] else "")
    why = f"; last error: {entry['last_error']}" if entry.get("last_error") else ""
    out.append(
        f"OTLP has never delivered a span to {where}{why}. {waiting} spans wait in the spool: start a "
        "collector there and run `otel-agents replay`, or, to keep telemetry local only, set "
        "otlp.enabled = false (the spool, metrics and analytics keep everything)."
    )
    return out


def _pending(cfg: Any) -> dict[str, Any]:
    """What the local sinks missed and recovery has not written yet."""
    from otel_agents.sinks import recover
    from otel_agents.sinks.pending import count_pending, pending_dir

    rec = recover.load_state(cfg.home)
    totals = rec.get("unrecoverable_total")
    return {
        "dir": str(pending_dir(cfg.home)),
        "sinks": count_pending(cfg.home),
        "unrecoverable_total": totals if isinstance(totals, dict) else {},
        "last_recovery": rec.get("last"),
    }


def _registered_sinks(cfg: Any, problems: list[str]) -> list[str]:
    """Names of the sinks a process would register now (built, then closed at once)."""
    from otel_agents.plugins import call_hook, new_plugin_manager

    names: list[str] = []
    try:
        pm = new_plugin_manager()
        problems += pm.problems
        for result in call_hook(pm.hook.register_sinks, cfg):
            for sink in result or ():
                names.append(str(getattr(sink, "name", type(sink).__name__)))
                close = getattr(sink, "close", None)
                if callable(close):
                    try:
                        close()
                    except Exception:  # noqa: BLE001
                        pass
    except Exception as exc:  # noqa: BLE001 - doctor reports, never crashes
        problems.append(f"cannot build the sinks: {type(exc).__name__}: {exc}")
    order = {"spool": 0, "otlp": 1, "metrics": 2, "analytics": 3}
    return sorted(names, key=lambda n: (order.get(n, 9), n))


def _backlog_line(s: dict[str, Any]) -> str:
    n = s["backlog"]
    if s["backlog_of"] == "spool":
        return (
            f"backlog: {n} spans in the spool not yet delivered (`otel-agents replay` sends them)"
            if n
            else "backlog: none, every spooled span was delivered"
        )
    if s["backlog_of"] == "pending":
        return (
            f"backlog: {n} spans it missed, to write from the spool (at the next start, or "
            f"`otel-agents replay --sinks {s['name']}`)"
            if n
            else "backlog: none"
        )
    return f"backlog: {n} spans queued in memory at {_ago(s.get('backlog_updated'))}" if n else "backlog: none"


def _sink_lines(s: dict[str, Any]) -> list[str]:
    tag = "" if s["registered"] else "  (not registered now)"
    lines = [f"  {s['name']}{tag}"]
    if "spans" not in s and not s.get("replayed"):
        return lines + ["    no activity recorded yet", f"    {_backlog_line(s)}"]
    delivered = f"delivered {s.get('spans', 0)} spans in {s.get('batches', 0)} batches"
    if s["name"] == "otlp":
        delivered = (
            f"delivered {s.get('spans', 0) + s.get('replayed', 0)} spans: {s.get('spans', 0)} live "
            f"in {s.get('batches', 0)} batches, {s.get('replayed', 0)} by replay"
        )
    last = max(s.get("last_success") or 0, s.get("last_replayed") or 0) or None
    lines.append(f"    {delivered}; last success {_ago(last)}")
    lines.append(
        f"    failures {s.get('failures', 0)} batches ({s.get('failed_spans', 0)} spans); "
        f"dropped {s.get('dropped', 0)} spans"
    )
    lines.append(f"    {_backlog_line(s)}")
    for key, value in sorted((s.get("extra") or {}).items()):
        lines.append(f"    {key.replace('_', ' ')}: {value}")
    if s.get("last_error"):
        lines.append(f"    last error {_ago(s.get('last_error_time'))}: {s['last_error']}")
    return lines


def render(info: dict[str, Any]) -> str:
    from otel_agents.claude_code.status import format_summary

    lines = [f"otel-agents doctor: data home {info['home']}", "", "Configuration (effective value [source])"]
    width = max(len(c["name"]) for c in info["config"])
    for c in info["config"]:
        lines.append(f"  {c['name']:<{width}}  {c['value']!s}  [{c['source']}]")
    otlp = info["otlp"]
    lines.append(
        f"  OTLP target: {otlp['target']}"
        if otlp["enabled"]
        else "  OTLP: off (otlp.enabled = false): local only, nothing is sent"
    )
    lines += ["", "Sinks (counters summed over all processes; backlog: what still waits for the sink)"]
    if not info["sinks"]:
        lines.append("  (none registered, no counters yet)")
    for s in info["sinks"]:
        lines += _sink_lines(s)
    sp = info["spool"]
    lines += [
        "",
        f"Spool ({sp['dir']})",
        f"  {sp['files']} file(s), {_size(sp['bytes'])}" + (f", oldest {sp['oldest']}" if sp["oldest"] else ""),
    ]
    if sp.get("corrupt_lines"):
        lines.append(f"  {sp['corrupt_lines']} corrupt line(s) skipped")
    last = info["last_replay"]
    if last:
        lines.append(
            f"  last replay {_ago(last.get('ended'))}: sent {last.get('sent', 0)} of "
            f"{last.get('pending', 0)} pending" + (f"; stopped: {last['error']}" if last.get("error") else "")
        )
    pend = info.get("pending") or {}
    lost = {k: v for k, v in (pend.get("unrecoverable_total") or {}).items() if v}
    if lost:
        lines.append(
            "  not recoverable so far (missing from the spool too): "
            + ", ".join(f"{k} {v}" for k, v in sorted(lost.items()))
        )
    lr = pend.get("last_recovery")
    if lr:
        wrote = ", ".join(f"{k} {v}" for k, v in sorted((lr.get("delivered") or {}).items())) or "nothing"
        lines.append(
            f"  last recovery {_ago(lr.get('ended'))}: wrote {wrote}"
            + (f"; stopped: {lr['error']}" if lr.get("error") else "")
        )
    cc = info["claude_code"]
    lines += ["", "Claude Code capture"]
    if cc["sessions"] or cc["hook_problems"]:
        lines += format_summary(cc).splitlines()[1:]
    else:
        lines.append("  no sessions captured (`otel-agents install-hooks claude-code` sets it up)")
    hook = info.get("claude_code_hook") or {}
    if hook:
        lines.append(
            f"  hook: native ({hook['path']})"
            if hook.get("hook") == "native"
            else f"  hook: Python ({hook['path']} hook; `install-hooks claude-code --native` builds the native one)"
        )
    for agent, ah in (info.get("agent_cli_hooks") or {}).items():
        if ah:
            lines.append(
                f"  {agent} hook: native ({ah['path']}, in {ah['config']})"
                if ah.get("hook") == "native"
                else f"  {agent} hook: Python ({ah['path']}, in {ah['config']}; "
                f"`install-hooks {agent} --native` builds the native one)"
            )
    lines += ["", "Warnings"]
    lines += [f"  - {w}" for w in info["warnings"]] or ["  none"]
    lines += ["", "Problems"]
    lines += [f"  - {p}" for p in info["problems"]] or ["  none"]
    return "\n".join(lines)


def main(args: list[str], prog: str = "otel-agents doctor") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Show configuration, sink backlogs and errors.")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME, else ./.otel-agents)")
    ns = parser.parse_args(args)

    from otel_agents.config import load_config

    cfg = load_config(ns.home)
    info = gather(cfg)
    if ns.json:
        print(json.dumps(info, indent=1, default=str))
    else:
        print(render(info))
    return 1 if info["problems"] else 0
