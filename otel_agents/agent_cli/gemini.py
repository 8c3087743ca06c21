"""Gemini CLI chat files: turns, tool calls and model calls with their tokens.

Two formats (both read):

- JSONL (0.39 and later): ``~/.gemini/tmp/<project>/chats/session-<date>-<id8>.jsonl``, a
  header line (``sessionId``, ``startTime``, ``kind``), then one record a line: messages
  ``{id, timestamp, type: user|gemini|info|error|warning, content, model, tokens, toolCalls}``,
  ``{"$set": {...}}`` and ``{"$rewindTo": id}``. A message is appended again with the same
  ``id`` when it changes: the last record per ``id`` wins (else tokens double); ``$rewindTo``
  drops the messages after that one.
- JSON (before 0.39): ``session-*.json``, one object ``{sessionId, startTime, messages[]}``.

A ``user`` message starts a turn; each ``gemini`` message with ``tokens`` is one model call;
its ``toolCalls[]`` (``id``, ``name``, ``args``, ``status``, ``timestamp``) are the tool calls.
Tokens: ``input`` includes ``cached``; ``thoughts`` are billed as output and ``tool`` (the
tool-use prompt) as input, so the conventions' input is ``input + tool`` and output is
``output + thoughts`` (reasoning ``thoughts``): input + output = the file's ``total``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from otel_agents.agent_cli.session import (
    ABANDONED,
    FAILURE,
    SUCCESS,
    WORKFLOW_KEY,
    Call,
    SessionData,
    ToolUse,
    Turn,
    nonneg,
    ts,
)
from otel_agents.claude_code.transcript import open_regular

AGENT = "gemini"
#: ``gen_ai.provider.name`` of the Gemini API (the conventions' name); genai-prices does not
#: know it as a provider id, so the price is looked up by model (``pricing._find``).
PROVIDER = "gcp.gemini"
_STATUS = {"success": SUCCESS, "error": FAILURE, "cancelled": ABANDONED}


def default_paths() -> list[str]:
    return [os.path.join(os.path.expanduser("~"), ".gemini", "tmp")]


def is_session_file(path: str) -> bool:
    """``chats/session-*.json[l]``, and a subagent's ``chats/<parent session>/<session>.jsonl``."""
    name = os.path.basename(path)
    if name.startswith("session-") and name.endswith((".json", ".jsonl")):
        return True
    return name.endswith(".jsonl") and os.path.basename(os.path.dirname(os.path.dirname(path))) == "chats"


#: A chat file is read whole (JSON); larger ones are refused with a clear error, not read.
MAX_CHAT_BYTES = 256 * 1024 * 1024


def _load(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(header, messages)`` of either format, the JSONL one resolved (last per id, rewinds)."""
    with open_regular(path) as f:  # a payload names the path: never a FIFO or a device
        if os.fstat(f.fileno()).st_size > MAX_CHAT_BYTES:
            raise ValueError(f"{path}: larger than {MAX_CHAT_BYTES} bytes, not read")
        data = f.read(MAX_CHAT_BYTES)
    if path.endswith(".json"):
        doc = json.loads(data)
        if not isinstance(doc, dict):
            raise ValueError(f"{path}: not a JSON object")
        msgs = [m for m in doc.get("messages") or () if isinstance(m, dict)]
        return doc, msgs
    header: dict[str, Any] = {}
    order: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    for line in data.splitlines():
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(rec, dict):
            continue
        if "sessionId" in rec and not header:
            header = rec
        elif isinstance(rec.get("$rewindTo"), str):
            target = rec["$rewindTo"]
            if target in by_id:
                keep = order[: order.index(target) + 1]
                for mid in order[len(keep) :]:
                    by_id.pop(mid, None)
                order = keep
        elif isinstance(rec.get("id"), str) and "type" in rec or isinstance(rec.get("tokens"), dict):
            if not isinstance(rec.get("id"), str):
                continue
            mid = str(rec["id"])
            if mid not in by_id:
                order.append(mid)
            by_id[mid] = rec
    return header, [by_id[m] for m in order]


def read(path: str, closing: bool = True) -> SessionData:
    """The session in the chat file ``path``; ``closing`` ends the last turn."""
    header, msgs = _load(path)
    sid = header.get("sessionId") if isinstance(header.get("sessionId"), str) else None
    s = SessionData(agent=AGENT, session_id=sid or os.path.basename(path), path=path)
    s.start = ts(header.get("startTime"))
    turn: Turn | None = None
    prev_t = s.start
    for m in msgs:
        t = ts(m.get("timestamp"))
        if t is not None:
            s.end = t if s.end is None else max(s.end, t)
        mtype = m.get("type")
        if mtype == "user":
            if turn is not None:
                turn.end, turn.outcome = turn.last_t, SUCCESS
            turn = Turn(key=f"turn:{m.get('id')}", n=len(s.turns) + 1, start=t, last_t=t)
            s.turns.append(turn)
            prev_t = t
            continue
        parent = turn.key if turn is not None else WORKFLOW_KEY
        if turn is not None and t is not None:
            turn.last_t = max(turn.last_t or t, t)
        if mtype == "gemini":
            tokens = m.get("tokens")
            model = str(m["model"]) if isinstance(m.get("model"), str) and m["model"] else "unknown"
            s.model = s.model or (model if model != "unknown" else None)
            if isinstance(tokens, dict) and any(nonneg(v) for v in tokens.values()):  # all zero: no usage recorded
                thoughts = nonneg(tokens.get("thoughts"))
                usage = {
                    "input_tokens": nonneg(tokens.get("input")) + nonneg(tokens.get("tool")),
                    "output_tokens": nonneg(tokens.get("output")) + thoughts,
                    "cache_read_tokens": nonneg(tokens.get("cached")),
                    "cache_write_tokens": 0,
                    "reasoning_tokens": thoughts,
                }
                s.calls.append(
                    Call(
                        key=f"chat:{m.get('id')}",
                        model=model,
                        provider=PROVIDER,
                        usage=usage,
                        parent=parent,
                        start=prev_t,
                        end=t,
                        response_id=m.get("id") if isinstance(m.get("id"), str) else None,
                    )
                )
                if model not in s.models:
                    s.models.append(model)
                for k, v in usage.items():
                    s.totals[k] = s.totals.get(k, 0) + v
            for tc in m.get("toolCalls") or ():
                if not isinstance(tc, dict) or not isinstance(tc.get("id"), str):
                    continue
                end = ts(tc.get("timestamp"))
                start = t if t is not None else end
                if start is not None and end is not None and end < start:
                    start = end
                name = str(tc["name"]) if isinstance(tc.get("name"), str) else "unknown"
                s.tools.append(
                    ToolUse(
                        key=f"tool:{tc['id']}",
                        call_id=tc["id"],
                        name=name,
                        parent=parent,
                        start=start,
                        end=end if end is not None else start,
                        outcome=_STATUS.get(str(tc.get("status")), SUCCESS),
                        arguments=tc.get("args"),
                    )
                )
                if turn is not None and end is not None:
                    turn.last_t = max(turn.last_t or end, end)
        if t is not None:
            prev_t = t
    if turn is not None and closing:
        turn.end, turn.outcome = turn.last_t, SUCCESS
    return s
