"""A session's drain state and lock, and how the spool is read (paths in ``layout``).

Under ``<home>/claude-code/state/``:

- ``<session>.json``: the drain state (``model.Session`` as JSON), replaced atomically;
- ``<session>.lock``: ``flock``-ed by the one drain working on the session;
- ``<session>.done``: present while a closed, fully exported session has nothing new.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from otel_agents.claude_code import layout
from otel_agents.claude_code.layout import (
    FILE_MODE,
    SESSIONS_DIR,
    STATE_DIR,
    makedirs,
    replace_file,
    session_file_stem,
    spool_root,
)
from otel_agents.claude_code.model import Session
from otel_agents.text import sha256_hex


@dataclass(slots=True)
class SessionFiles:
    """The files of one session."""

    stem: str
    spool: str
    state: str
    lock: str
    done: str

    @classmethod
    def of(cls, home: str | os.PathLike[str], stem: str) -> SessionFiles:
        root = spool_root(home)
        state_dir = os.path.join(root, STATE_DIR)
        return cls(
            stem=stem,
            spool=os.path.join(root, SESSIONS_DIR, stem + ".jsonl"),
            state=os.path.join(state_dir, stem + ".json"),
            lock=os.path.join(state_dir, stem + ".lock"),
            done=os.path.join(state_dir, stem + ".done"),
        )

    @classmethod
    def for_session(cls, home: str | os.PathLike[str], session_id: str) -> SessionFiles:
        return cls.of(home, session_file_stem(session_id))


def list_sessions(home: str | os.PathLike[str]) -> list[SessionFiles]:
    """Every session with a spool, oldest first."""
    d = os.path.join(spool_root(home), SESSIONS_DIR)
    try:
        entries = [e for e in os.scandir(d) if e.name.endswith(".jsonl") and e.is_file()]
    except OSError:
        return []
    entries.sort(key=lambda e: e.stat().st_mtime_ns)
    return [SessionFiles.of(home, e.name[: -len(".jsonl")]) for e in entries]


def load_last_drain(home: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record of the last drain under ``home`` (``None``: none yet, or unreadable)."""
    try:
        with open(layout.last_drain_path(home), "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("t"), int) else None


class Lock:
    """An exclusive ``flock`` on a session's lock file, waited for up to a timeout."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        makedirs(os.path.dirname(self.path))
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(0.02)

    def release(self) -> None:
        if self.fd is not None:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
            finally:
                os.close(self.fd)
                self.fd = None


def load_state(files: SessionFiles) -> Session | None:
    """The saved model, or ``None`` (no state yet, or unreadable: start over from the spool)."""
    try:
        with open(files.state, "rb") as f:
            data = json.loads(f.read())
        return Session.from_json(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temporary file and ``os.replace`` (mode 0600)."""
    replace_file(path, json.dumps(data, separators=(",", ":")).encode("utf-8", "surrogatepass"))


def save_state(files: SessionFiles, session: Session, done: bool) -> None:
    """Persist the model; ``done`` marks a closed session with nothing left to export."""
    write_json_atomic(files.state, session.to_json())
    if done:
        write_json_atomic(files.done, {"offset": session.offset})
    else:
        try:
            os.unlink(files.done)
        except FileNotFoundError:
            pass


def is_done(files: SessionFiles) -> bool:
    """A closed, exported session whose spool has not grown since (no state parsed)."""
    try:
        with open(files.done, "rb") as f:
            offset = json.loads(f.read()).get("offset")
        return bool(os.stat(files.spool).st_size == offset)
    except (OSError, ValueError, AttributeError):
        return False


def event_id(session_id: str, line: bytes) -> str:
    """A deterministic id for one spooled event: the same line always gives the same id."""
    return sha256_hex(session_id.encode("utf-8", "surrogatepass") + b"\n" + line)[:32]


def read_spool(files: SessionFiles, offset: int) -> Iterator[tuple[int, bytes]]:
    """``(end offset, line)`` for each whole line after ``offset`` (a torn tail waits)."""
    with open(files.spool, "rb") as f:
        f.seek(offset)
        data = f.read()
    pos = 0
    while True:
        nl = data.find(b"\n", pos)
        if nl < 0:
            return
        yield offset + nl + 1, data[pos:nl]
        pos = nl + 1


def remove_session(files: SessionFiles) -> None:
    """Delete a session's files (retention)."""
    for p in (files.spool, files.state, files.done, files.lock):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
