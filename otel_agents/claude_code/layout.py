"""Where Claude Code capture keeps its files, how they are written, and the problem log.

Standard library only (``json``, ``os``, ``time``): the hook (``capture``), the drain's
storage (``store``) and ``status`` all use it, and it imports none of them.

Layout under ``<home>/claude-code/``:

- ``sessions/<session>.jsonl``: the spool the hook appends to (``{"t": ns, "e": event}``);
- ``state/<session>.json``, ``.lock``, ``.done``: the drain's state (see ``store``);
- ``hook.log``: problems the hook met, one JSON line each (rotated at ``LOG_ROTATE_BYTES``);
- ``config-cache.json``: the hook's settings from ``config.toml``, keyed by its stat;
- ``last-drain.json``: when the last drain ran and what it did.
"""

from __future__ import annotations

import json
import os
import time

from otel_agents.configfile import resolve_home
from otel_agents.text import digest, sha256_hex

SPOOL_DIR = "claude-code"
SESSIONS_DIR = "sessions"
STATE_DIR = "state"
LOG_FILE = "hook.log"
CONFIG_CACHE = "config-cache.json"
LAST_DRAIN_FILE = "last-drain.json"
LOG_ROTATE_BYTES = 1024 * 1024

FILE_MODE = 0o600
DIR_MODE = 0o700
_OPEN_APPEND = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)


# --- paths -----------------------------------------------------------------------------------
def hook_home() -> str:
    """The home of a hook or drain: ``$OTEL_AGENTS_HOME``, else ``$CLAUDE_PROJECT_DIR/.otel-agents``
    (Claude Code sets it for hooks), else ``.otel-agents`` under the working directory."""
    return resolve_home(os.environ.get("CLAUDE_PROJECT_DIR"))


def spool_root(home: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(home), SPOOL_DIR)


def session_file_stem(session_id: str) -> str:
    """A safe file name for a session id: the id itself when it is plain, else a hash."""
    if (
        0 < len(session_id) <= 128
        and session_id[0] not in ".-"
        and all(c.isascii() and (c.isalnum() or c in "-_.") for c in session_id)
    ):
        return session_id
    return "x-" + digest(session_id)[:40]


def session_spool(home: str | os.PathLike[str], session_id: str, agent: str | None = None) -> str:
    """A session's spool; ``agent`` (codex, gemini): under ``<home>/<agent>/`` instead."""
    root = spool_root(home) if agent is None else os.path.join(os.fspath(home), agent)
    return os.path.join(root, SESSIONS_DIR, session_file_stem(session_id) + ".jsonl")


def log_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(spool_root(home), LOG_FILE)


def last_drain_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(spool_root(home), LAST_DRAIN_FILE)


# --- writing -----------------------------------------------------------------------------------
def makedirs(path: str) -> None:
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
            os.mkdir(d, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(d, DIR_MODE)


def append_line(path: str, data: bytes, fsync: bool = False) -> None:
    """Append ``data`` (one whole line) with ONE ``os.write`` on an ``O_APPEND`` descriptor.

    A full disk (ENOSPC, EFBIG) can cut the write short: the partial line is then cut off
    again, so it never joins the next event's line (and the drain recovers a line that was
    joined anyway, see ``drain._apply_spool``). Only that rare path reads the file.
    """
    try:
        fd = os.open(path, _OPEN_APPEND, FILE_MODE)
    except FileNotFoundError:
        makedirs(os.path.dirname(path))
        fd = os.open(path, _OPEN_APPEND, FILE_MODE)
    try:
        n = os.write(fd, data)
        if n != len(data):
            _undo_partial(path, fd, data, n)
            raise OSError(f"short write: {n} of {len(data)} bytes")
        if fsync:
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


def replace_file(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace`` (mode 0600)."""
    makedirs(os.path.dirname(path))
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


# --- problems ----------------------------------------------------------------------------------
def log_problem(home: str, kind: str, detail: str, raw: bytes | None = None) -> None:
    """Append one problem to ``<home>/claude-code/hook.log`` (never raises).

    The raw input is recorded as length and sha256 only: it may hold a prompt.
    """
    try:
        rec: dict[str, object] = {"t": time.time_ns(), "kind": kind, "detail": detail[:500], "pid": os.getpid()}
        if raw is not None:
            rec["bytes"] = len(raw)
            rec["sha256"] = sha256_hex(raw)
        path = log_path(home)
        try:
            if os.stat(path).st_size > LOG_ROTATE_BYTES:
                os.replace(path, path + ".1")
        except OSError:
            pass
        append_line(path, json.dumps(rec, ensure_ascii=True).encode("ascii") + b"\n")
    except Exception:  # noqa: BLE001 - nowhere left to report to
        pass
