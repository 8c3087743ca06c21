"""The ``otel-agents hook`` path: one Claude Code hook payload in, one spool line out.

Standard library only, and as little of it as possible: Claude Code starts one hook process
per event and waits for it (PreToolUse even blocks the tool), so this path costs about what a
bare ``python -c "import json,os"`` costs. It never touches the network, never prints, and
always exits 0 (exit code 2 would block the tool).

What it does, per event:

1. reads the payload from stdin (bytes; not UTF-8 is repaired and logged, not dropped);
2. stamps it with the receive time (``time.time_ns()``: payloads carry no timestamps);
3. reduces it: metadata fields are kept, content fields (prompt, tool input, tool response,
   error text, messages) become ``{"len", "sha256"}`` unless ``capture_content`` is on, in
   which case a redacted, truncated copy is kept too; unknown fields keep numbers and
   booleans and are fingerprinted otherwise;
4. appends ``{"t": ns, "e": reduced}`` as ONE ``os.write`` on an ``O_APPEND`` descriptor to
   ``<home>/claude-code/sessions/<session>.jsonl`` (files 0600, directories 0700). Concurrent
   hook processes for one session interleave whole lines and never corrupt one another; the
   cost per event does not depend on the size of the session;
5. at ``Stop`` and ``SessionEnd`` (``claude_code.auto_drain``), starts a detached drain
   (double fork, ``setsid``, standard streams on ``/dev/null``, a new interpreter) and
   returns at once: the hook never imports the drain.

Problems (malformed stdin, no ``session_id``, an unwritable home) are appended to
``<home>/claude-code/hook.log`` as JSON lines, one per problem: that file is the count.
Paths, file writing and that log are in ``layout``; content as text in ``otel_agents.text``;
the home and ``config.toml`` in ``otel_agents.configfile``: all standard library only.

Home: ``$OTEL_AGENTS_HOME``, else ``$CLAUDE_PROJECT_DIR/.otel-agents`` (Claude Code sets it for
hooks), else ``.otel-agents`` under the process's working directory. The payload's ``cwd`` is
NOT used: it follows ``cd`` inside the session, which would split one session over two homes.
"""

from __future__ import annotations

import json
import os
import sys
import time

from otel_agents.claude_code.layout import (
    CONFIG_CACHE,
    LOG_FILE,
    append_line,
    hook_home,
    log_problem,
    replace_file,
    session_spool,
    spool_root,
)
from otel_agents.claude_code.payload import ERROR_CATEGORY_FIELD, PARENT_FIELD
from otel_agents.configfile import config_path, lookup, read_toml
from otel_agents.flags import to_bool
from otel_agents.handoff import PARENT_ENV, parent_context, parent_home
from otel_agents.text import clean_text, digest, to_text

__all__ = [
    "LOG_FILE",
    "clean_text",
    "content_record",
    "handle",
    "hook_settings",
    "log_problem",
    "main",
    "reduce_payload",
    "session_spool",
    "spawn_drain",
    "spool_root",
    "to_text",
]

#: Hook events after which a detached drain builds and exports the finished spans.
DRAIN_EVENTS = frozenset({"Stop", "StopFailure", "SessionEnd"})

#: Payload fields kept as they are (metadata, no user content), when they are scalars.
KEEP_FIELDS = frozenset(
    {
        "session_id",
        "transcript_path",
        "cwd",
        "hook_event_name",
        "permission_mode",
        "prompt_id",
        "agent_id",
        "agent_type",
        "tool_name",
        "tool_use_id",
        "duration_ms",
        "source",
        "model",
        "reason",
        "trigger",
        "notification_type",
        "stop_hook_active",
        "is_interrupt",
        "agent_transcript_path",
        "turn_id",
        "task_id",
        "teammate_name",
        "team_name",
        "mcp_server_name",
    }
)
#: Payload fields holding content: length + sha256 by default, redacted text on opt-in.
CONTENT_FIELDS = frozenset(
    {
        "prompt",
        "tool_input",
        "tool_response",
        "error",
        "last_assistant_message",
        "message",
        "custom_instructions",
        "error_details",
        "task_subject",
        "task_description",
        "compact_summary",
    }
)
#: Fields that are content for one event only (a denial's reason can quote the command).
EVENT_CONTENT_FIELDS: dict[str, frozenset[str]] = {"PermissionDenied": frozenset({"reason"})}
MAX_KEPT_CHARS = 4096  # a kept metadata string longer than this is fingerprinted instead
MAX_CONTENT_CHARS = 16384  # captured (opt-in) content is truncated to this many characters
MAX_STDIN_BYTES = 64 * 1024 * 1024  # read at most this much; the rest is drained and dropped
#: The detached drain's program: a new interpreter runs ``drain.detached_main`` (argv: home,
#: session id, the directory the hook's ``otel_agents`` came from). The working directory (the
#: user's project) is taken off ``sys.path``, so nothing in it stands in for a module.
DRAIN_PROGRAM = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False): del sys.path[0]\n"
    "if sys.argv[3] not in sys.path: sys.path.append(sys.argv[3])\n"
    "import os\n"
    "try:\n"
    "    from otel_agents.claude_code.drain import detached_main\n"
    "    detached_main(sys.argv[1], sys.argv[2])\n"
    "finally:\n"
    "    os._exit(0)\n"
)
#: Codex CLI and Gemini CLI: the events after which a drain runs, and its program (argv[4]: the agent).
AGENT_DRAIN_EVENTS = frozenset({"Stop", "AfterAgent", "SessionEnd"})
AGENT_DRAIN_PROGRAM = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False): del sys.path[0]\n"
    "if sys.argv[3] not in sys.path: sys.path.append(sys.argv[3])\n"
    "import os\n"
    "try:\n"
    "    from otel_agents.agent_cli.export import detached_main\n"
    "    detached_main(sys.argv[1], sys.argv[2], sys.argv[4])\n"
    "finally:\n"
    "    os._exit(0)\n"
)
#: Set by the native hook (``native/hook.c``) when it hands a payload over: its receive time.
RECEIVED_ENV = "OTEL_AGENTS_HOOK_RECEIVED_NS"
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# --- content -------------------------------------------------------------------------------------
def content_record(value: object, capture: bool) -> dict[str, object]:
    """``{"len", "sha256"}`` of a content value (as ``redact.fingerprint``), plus redacted text on opt-in."""
    text = to_text(value)
    rec: dict[str, object] = {"len": len(text), "sha256": digest(text)}
    if capture:
        from otel_agents.redact import redact  # standard library only; opt-in path

        rec["text"] = clean_text(redact(text[:MAX_CONTENT_CHARS]))
        if len(text) > MAX_CONTENT_CHARS:
            rec["truncated"] = True
    return rec


def reduce_payload(payload: dict[str, object], capture: bool) -> dict[str, object]:
    """The payload as it is spooled: metadata kept, content fingerprinted (see module doc)."""
    out: dict[str, object] = {}
    event = payload.get("hook_event_name")
    content = EVENT_CONTENT_FIELDS.get(event) if isinstance(event, str) else None
    for key, value in payload.items():
        if content is not None and key in content:
            out[key] = content_record(value, capture)
        elif key in KEEP_FIELDS:
            if value is None or isinstance(value, (bool, int, float)):
                out[key] = value
            elif isinstance(value, str) and len(value) <= MAX_KEPT_CHARS:
                out[key] = clean_text(value)
            else:
                out[key] = {"fingerprint": content_record(value, False)}
        elif key in CONTENT_FIELDS:
            out[key] = content_record(value, capture)
        elif value is None or isinstance(value, (bool, int, float)):
            out[key] = value
        else:
            out[key] = {"fingerprint": content_record(value, False)}
    if event == "StopFailure":
        category = error_category(payload.get("error"))
        if category is not None:
            out[ERROR_CATEGORY_FIELD] = category
    elif event == "SessionStart":
        parent = parent_context(os.environ.get(PARENT_ENV))
        if parent is not None:
            out[PARENT_FIELD] = parent
    return out


def error_category(value: object) -> str | None:
    """A StopFailure's ``error`` when it is a category word (``rate_limit``), else ``None``."""
    if isinstance(value, str) and 0 < len(value) <= 64 and value.replace("_", "").replace("-", "").isalnum():
        return value if value.isascii() else None
    return None


# --- configuration ---------------------------------------------------------------------------------
#: setting -> (environment variable, default). The full table is otel_agents.config.SETTINGS.
HOOK_SETTINGS: dict[str, tuple[str, bool]] = {
    "capture_content": ("OTEL_AGENTS_CAPTURE_CONTENT", False),
    "claude_code.auto_drain": ("OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN", True),
    "claude_code.fsync": ("OTEL_AGENTS_CLAUDE_CODE_FSYNC", False),
}


def _file_settings(home: str) -> dict[str, object]:
    """The hook's settings from ``<home>/config.toml``, through a JSON cache keyed by its stat.

    Parsing TOML means importing ``tomllib`` on every event; the cache keeps the hook at
    ``json`` only. A missing file costs one failed ``stat``.
    """
    path = config_path(home)
    try:
        st = os.stat(path)
    except OSError:
        return {}
    key = [st.st_mtime_ns, st.st_size, st.st_ino]
    cache = os.path.join(spool_root(home), CONFIG_CACHE)
    try:
        with open(cache, "rb") as f:
            cached = json.loads(f.read())
        if cached.get("key") == key:
            return dict(cached.get("values") or {})
    except (OSError, ValueError, AttributeError):
        pass
    values: dict[str, object] = {}
    raw, unreadable = read_toml(path)
    problems = [unreadable] if unreadable else []
    section = raw.get("claude_code")
    if section is not None and not isinstance(section, dict):
        problems.append(f"{path}: claude_code must be a table, got {type(section).__name__}; using the defaults")
    for name, (_env, default) in HOOK_SETTINGS.items():
        node = lookup(raw, name)
        b = to_bool(node)
        if b is not None:
            values[name] = b
        elif node is not None:
            problems.append(f"{path}: {name} must be bool, got {type(node).__name__}; using default {default}")
    for problem in problems:  # once per change of the file: the next events use the cache
        log_problem(home, "config", problem)
    try:
        replace_file(cache, json.dumps({"key": key, "values": values}).encode())
    except OSError:
        pass
    return values


def hook_settings(home: str) -> dict[str, bool]:
    """Effective hook settings: defaults < ``config.toml`` < ``OTEL_AGENTS_*``."""
    out = {name: default for name, (_env, default) in HOOK_SETTINGS.items()}
    out.update(_file_settings(home))  # type: ignore[arg-type]
    for name, (env, _default) in HOOK_SETTINGS.items():
        b = to_bool(os.environ.get(env))
        if b is not None:
            out[name] = b
    return out


# --- stdin -----------------------------------------------------------------------------------------
def read_stdin() -> bytes:
    """All of stdin, at most ``MAX_STDIN_BYTES`` kept (the rest is read and dropped)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return b""
    data: bytes | None = stream.read(MAX_STDIN_BYTES + 1)
    if data is None:
        return b""
    if len(data) > MAX_STDIN_BYTES:
        while stream.read(1 << 20):
            pass
    return data


# --- the hook ----------------------------------------------------------------------------------------
def handle(
    raw: bytes, received_ns: int, home: str | None = None, *, spawn: bool = True, agent: str | None = None
) -> str | None:
    """Spool one payload; returns the spool path written, or ``None`` (problem logged).

    ``agent`` (``codex``, ``gemini``): another agent CLI's event, spooled under
    ``<home>/<agent>/sessions/`` and drained by ``otel_agents.agent_cli.export``."""
    home = home or hook_home()
    if len(raw) > MAX_STDIN_BYTES:
        log_problem(home, "too_large", f"payload over {MAX_STDIN_BYTES} bytes dropped", raw)
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        log_problem(home, "not_utf8", f"{exc}; invalid bytes replaced", raw)
        text = raw.decode("utf-8", "replace")
    if not text.strip():
        log_problem(home, "empty", "empty payload", raw)
        return None
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as exc:
        log_problem(home, "malformed", f"not JSON: {type(exc).__name__}: {exc}", raw)
        return None
    if not isinstance(payload, dict):
        log_problem(home, "malformed", f"payload is a JSON {type(payload).__name__}, not an object", raw)
        return None
    sid = payload.get("session_id")
    if isinstance(sid, str):
        sid = clean_text(sid)
    if not isinstance(sid, str) or not sid:
        log_problem(home, "no_session", "payload without a string session_id", raw)
        return None
    if len(sid) > MAX_KEPT_CHARS:  # it would be fingerprinted like any long field: no session to join
        log_problem(home, "no_session", f"session_id longer than {MAX_KEPT_CHARS} characters", raw)
        return None
    settings = hook_settings(home)
    event = payload.get("hook_event_name")
    if not isinstance(event, str):
        log_problem(home, "wrong_type", "hook_event_name missing or not a string; recorded as unknown", raw)
    rec = reduce_payload(payload, settings["capture_content"])
    line = json.dumps({"t": received_ns, "e": rec}, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    path = session_spool(home, sid, agent)
    append_line(path, line + b"\n", settings["claude_code.fsync"])
    drains = DRAIN_EVENTS if agent is None else AGENT_DRAIN_EVENTS
    if spawn and isinstance(event, str) and event in drains and settings["claude_code.auto_drain"]:
        spawn_drain(home, sid, agent)
    return path


def spawn_drain(home: str, session_id: str, agent: str | None = None) -> None:
    """Start a detached drain for the session and return at once (double fork, ``setsid``,
    then ``exec`` of a new interpreter running ``DRAIN_PROGRAM``).

    The grandchild has ``/dev/null`` as stdin, stdout and stderr, so Claude Code, which
    reads the hook's pipes to their end, never waits for it.
    """
    try:
        pid = os.fork()
    except OSError as exc:
        log_problem(home, "drain_spawn", f"fork failed: {exc}")
        return
    if pid:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
        return
    try:  # first child
        os.setsid()
        if os.fork():
            os._exit(0)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
        argv = [sys.executable, "-c", DRAIN_PROGRAM, home, session_id, _PACKAGE_ROOT]
        if agent is not None:
            argv[2:3] = [AGENT_DRAIN_PROGRAM]
            argv.append(agent)
        os.execv(sys.executable, argv)
    except BaseException as exc:  # noqa: BLE001 - the detached child reports through the log
        log_problem(home, "drain_spawn", f"cannot start the drain: {type(exc).__name__}: {exc}")
    finally:
        os._exit(0)


def main(agent: str | None = None) -> int:
    """Entry point of ``otel-agents hook [codex|gemini]``: always returns 0, prints nothing."""
    received = time.time_ns()
    handed = os.environ.pop(RECEIVED_ENV, "")  # the native hook's receive time, when it handed over
    if handed.isdigit():
        received = int(handed)
    home: str | None = None
    raw = b""
    try:
        raw = read_stdin()
        # a session started under an executor's step writes to the executor's home
        home = parent_home(os.environ.get(PARENT_ENV)) or hook_home()
        handle(raw, received, home, agent=agent)
    except BaseException as exc:  # noqa: BLE001 - a hook must never fail the tool call
        try:
            log_problem(home or hook_home(), "internal", f"{type(exc).__name__}: {exc}", raw or None)
        except BaseException:  # noqa: BLE001
            pass
    return 0
