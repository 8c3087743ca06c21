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
   (double fork, ``setsid``, standard streams on ``/dev/null``) and returns at once.

Problems (malformed stdin, no ``session_id``, an unwritable home) are appended to
``<home>/claude-code/hook.log`` as JSON lines, one per problem: that file is the count.

Home: ``$OTEL_AGENTS_HOME``, else ``$CLAUDE_PROJECT_DIR/.otel-agents`` (Claude Code sets it for
hooks), else ``.otel-agents`` under the process's working directory. The payload's ``cwd`` is
NOT used: it follows ``cd`` inside the session, which would split one session over two homes.
"""

from __future__ import annotations

import json
import os
import sys
import time

from otel_agents.flags import flag, parse_bool

SPOOL_DIR = "claude-code"
SESSIONS_DIR = "sessions"
STATE_DIR = "state"
LOG_FILE = "hook.log"
CONFIG_CACHE = "config-cache.json"

#: Hook events after which a detached drain builds and exports the finished spans.
DRAIN_EVENTS = frozenset({"Stop", "SessionEnd"})

#: Payload fields kept as they are (metadata, no user content), when they are scalars.
KEEP_FIELDS = frozenset({
    "session_id", "transcript_path", "cwd", "hook_event_name", "permission_mode", "prompt_id",
    "agent_id", "agent_type", "tool_name", "tool_use_id", "duration_ms", "source", "model",
    "reason", "trigger", "notification_type", "stop_hook_active", "is_interrupt",
    "agent_transcript_path", "turn_id",
})
#: Payload fields holding content: length + sha256 by default, redacted text on opt-in.
CONTENT_FIELDS = frozenset({
    "prompt", "tool_input", "tool_response", "error", "last_assistant_message", "message",
    "custom_instructions",
})
MAX_KEPT_CHARS = 4096  # a kept metadata string longer than this is fingerprinted instead
MAX_CONTENT_CHARS = 16384  # captured (opt-in) content is truncated to this many characters
MAX_STDIN_BYTES = 64 * 1024 * 1024  # read at most this much; the rest is drained and dropped
LOG_ROTATE_BYTES = 1024 * 1024

_FILE_MODE = 0o600
_DIR_MODE = 0o700
_OPEN_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)



# --- paths -----------------------------------------------------------------------------------
def resolve_home() -> str:
    """The data home for hook events (see the module docstring)."""
    env = os.environ.get("OTEL_AGENTS_HOME")
    if env:
        return env
    project = os.environ.get("CLAUDE_PROJECT_DIR")
    return os.path.join(project or os.getcwd(), ".otel-agents")


def spool_root(home: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(home), SPOOL_DIR)


def session_file_stem(session_id: str) -> str:
    """A safe file name for a session id: the id itself when it is plain, else a hash."""
    if 0 < len(session_id) <= 128 and session_id[0] not in ".-" and all(
        c.isascii() and (c.isalnum() or c in "-_.") for c in session_id
    ):
        return session_id
    return "x-" + _sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def session_spool(home: str | os.PathLike[str], session_id: str) -> str:
    return os.path.join(spool_root(home), SESSIONS_DIR, session_file_stem(session_id) + ".jsonl")


def _makedirs(path: str) -> None:
    """Create ``path`` and missing parents with mode 0700 (umask notwithstanding)."""
    missing: list[str] = []
    p = path
    while p and not os.path.isdir(p):
        missing.append(p)
        parent = os.path.dirname(p)
        if parent == p:
            break
        p = parent
    for d in reversed(missing):
        try:
            os.mkdir(d, _DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, _DIR_MODE)


def append_line(path: str, data: bytes) -> None:
    """Append ``data`` (one whole line) with ONE ``os.write`` on an ``O_APPEND`` descriptor.

    A full disk (ENOSPC, EFBIG) can cut the write short: the partial line is then cut off
    again, so it never joins the next event's line (and the drain recovers a line that was
    joined anyway, see ``drain._apply_spool``). Only that rare path reads the file.
    """
    try:
        fd = os.open(path, _OPEN_APPEND, _FILE_MODE)
    except FileNotFoundError:
        _makedirs(os.path.dirname(path))
        fd = os.open(path, _OPEN_APPEND, _FILE_MODE)
    try:
        n = os.write(fd, data)
        if n != len(data):
            _undo_partial(path, fd, data, n)
            raise OSError(f"short write: {n} of {len(data)} bytes")
        if _fsync_wanted:
            os.fsync(fd)
    finally:
        os.close(fd)


def _undo_partial(path: str, fd: int, data: bytes, n: int) -> None:
    """Truncate the ``n`` bytes a short write left, if they are still the end of the file."""
    if n <= 0:
        return
    try:
        end = os.fstat(fd).st_size
        rfd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            tail = os.pread(rfd, n, end - n) if end >= n else b""
        finally:
            os.close(rfd)
        if tail == data[:n]:
            os.ftruncate(fd, end - n)
    except OSError:
        pass


_fsync_wanted = False


# --- content -------------------------------------------------------------------------------------
try:  # the builtin module: no OpenSSL load on the hook path
    from _sha256 import sha256 as _sha256  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.12+ renamed it
    try:
        from _sha2 import sha256 as _sha256  # type: ignore[import-not-found,no-redef]
    except ImportError:
        from hashlib import sha256 as _sha256  # type: ignore[assignment]


def to_text(value: object) -> str:
    """A value as text, exactly as ``otel_agents.redact.to_text`` makes it.

    A value nested deeper than the recursion limit allows from here (JSON the hook parsed
    from a shallower frame, say) gets a little more room; one nested deeper still becomes a
    placeholder, never an exception.
    """
    if isinstance(value, str):
        return value
    try:
        return _to_json(value)
    except RecursionError:
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 500)
        try:
            return _to_json(value)
        except RecursionError:
            return f"<{type(value).__name__} nested too deep>"
        finally:
            sys.setrecursionlimit(limit)


def _to_json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def content_record(value: object, capture: bool) -> dict[str, object]:
    """``{"len", "sha256"}`` of a content value (as ``redact.fingerprint``), plus redacted text on opt-in."""
    text = to_text(value)
    rec: dict[str, object] = {
        "len": len(text),
        "sha256": _sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
    }
    if capture:
        from otel_agents.redact import redact  # standard library only; opt-in path

        rec["text"] = clean_text(redact(text[:MAX_CONTENT_CHARS]))
        if len(text) > MAX_CONTENT_CHARS:
            rec["truncated"] = True
    return rec


def clean_text(text: str) -> str:
    """``text`` as valid Unicode: JSON can carry lone surrogates (``"\\ud800"``), which no
    UTF-8 file, database or protobuf takes; they become U+FFFD."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def reduce_payload(payload: dict[str, object], capture: bool) -> dict[str, object]:
    """The payload as it is spooled: metadata kept, content fingerprinted (see module doc)."""
    out: dict[str, object] = {}
    for key, value in payload.items():
        if key in KEEP_FIELDS:
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
    return out


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
    path = os.path.join(home, "config.toml")
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
    problems: list[str] = []
    try:
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        section = raw.get("claude_code")
        if section is not None and not isinstance(section, dict):
            problems.append(f"claude_code must be a table, got {type(section).__name__}; using the defaults")
        for name in HOOK_SETTINGS:
            node: object = raw
            for part in name.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if node is None and "." in name:
                node = raw.get(name)  # a dotted key written flat: "claude_code.fsync" = true
            b = parse_bool(node)
            if b is not None:
                values[name] = b
            elif node is not None:
                problems.append(f"{name} must be bool, got {type(node).__name__}; "
                                f"using default {HOOK_SETTINGS[name][1]}")
    except Exception as exc:  # noqa: BLE001 - a bad config file means defaults, never a failed hook
        values = {}
        problems = [f"cannot read it ({type(exc).__name__}: {str(exc)[:200]}); using the defaults"]
    for problem in problems:  # once per change of the file: the next events use the cache
        log_problem(home, "config", f"{path}: {problem}")
    try:
        _makedirs(spool_root(home))
        tmp = f"{cache}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE)
        try:
            os.write(fd, json.dumps({"key": key, "values": values}).encode())
        finally:
            os.close(fd)
        os.replace(tmp, cache)
    except OSError:
        pass
    return values


def hook_settings(home: str) -> dict[str, bool]:
    """Effective hook settings: defaults < ``config.toml`` < ``OTEL_AGENTS_*``."""
    out = {name: default for name, (_env, default) in HOOK_SETTINGS.items()}
    out.update(_file_settings(home))  # type: ignore[arg-type]
    for name, (env, _default) in HOOK_SETTINGS.items():
        out[name] = flag(env, out[name])
    return out


# --- problems ----------------------------------------------------------------------------------------
def log_problem(home: str, kind: str, detail: str, raw: bytes | None = None) -> None:
    """Append one problem to ``<home>/claude-code/hook.log`` (never raises).

    The raw input is recorded as length and sha256 only: it may hold a prompt.
    """
    try:
        rec: dict[str, object] = {"t": time.time_ns(), "kind": kind, "detail": detail[:500], "pid": os.getpid()}
        if raw is not None:
            rec["bytes"] = len(raw)
            rec["sha256"] = _sha256(raw).hexdigest()
        path = os.path.join(spool_root(home), LOG_FILE)
        try:
            if os.stat(path).st_size > LOG_ROTATE_BYTES:
                os.replace(path, path + ".1")
        except OSError:
            pass
        append_line(path, json.dumps(rec, ensure_ascii=True).encode("ascii") + b"\n")
    except Exception:  # noqa: BLE001 - nowhere left to report to
        pass


# --- stdin -----------------------------------------------------------------------------------------
def read_stdin() -> bytes:
    """All of stdin, at most ``MAX_STDIN_BYTES`` kept (the rest is read and dropped)."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return b""
    data = stream.read(MAX_STDIN_BYTES + 1)
    if data is None:
        return b""
    if len(data) > MAX_STDIN_BYTES:
        while stream.read(1 << 20):
            pass
    return data


# --- the hook ----------------------------------------------------------------------------------------
def handle(raw: bytes, received_ns: int, home: str | None = None, *, spawn: bool = True) -> str | None:
    """Spool one payload; returns the spool path written, or ``None`` (problem logged)."""
    global _fsync_wanted
    home = home or resolve_home()
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
    _fsync_wanted = settings["claude_code.fsync"]
    event = payload.get("hook_event_name")
    if not isinstance(event, str):
        log_problem(home, "wrong_type", "hook_event_name missing or not a string; recorded as unknown", raw)
    rec = reduce_payload(payload, settings["capture_content"])
    line = json.dumps({"t": received_ns, "e": rec}, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    path = session_spool(home, sid)
    append_line(path, line + b"\n")
    if spawn and isinstance(event, str) and event in DRAIN_EVENTS and settings["claude_code.auto_drain"]:
        spawn_drain(home, sid)
    return path


def spawn_drain(home: str, session_id: str) -> None:
    """Start a detached drain for the session and return at once (double fork, ``setsid``).

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
        from otel_agents.claude_code.drain import detached_main

        detached_main(home, session_id)
    except BaseException:  # noqa: BLE001 - the detached child reports through its own log
        pass
    finally:
        os._exit(0)


def main() -> int:
    """Entry point of ``otel-agents hook``: always returns 0, prints nothing."""
    received = time.time_ns()
    home: str | None = None
    raw = b""
    try:
        raw = read_stdin()
        home = resolve_home()
        handle(raw, received, home)
    except BaseException as exc:  # noqa: BLE001 - a hook must never fail the tool call
        try:
            log_problem(home or resolve_home(), "internal", f"{type(exc).__name__}: {exc}", raw or None)
        except BaseException:  # noqa: BLE001
            pass
    return 0
