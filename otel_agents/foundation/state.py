"""Per-sink delivery counters, shared by every process through ``<home>/state/sinks.json``.

Each process counts in memory and merges its *increments* into the file under an ``flock``
(at most every few seconds, and at exit), so ``otel-agents doctor`` in another process
sees the totals of all processes: batches and spans delivered, failures, spans dropped,
the last success and the last error.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from otel_agents import forksafe
from otel_agents.foundation.files import flocked, write_private

STATE_DIR = "state"
SINKS_FILE = "sinks.json"
COUNTERS = ("batches", "spans", "failures", "failed_spans", "dropped")


def state_dir(home: str | os.PathLike[str]) -> Path:
    return Path(home) / STATE_DIR


@dataclass
class SinkStats:
    """One sink's counters in this process. Mutated by the sink's own thread only."""

    name: str
    batches: int = 0
    spans: int = 0
    failures: int = 0
    failed_spans: int = 0
    dropped: int = 0
    last_success: float | None = None
    last_error: str | None = None
    last_error_time: float | None = None
    backlog: int = 0
    extra: dict[str, int] = field(default_factory=dict)
    _saved: dict[str, int] = field(default_factory=dict, repr=False)

    def success(self, n: int) -> None:
        self.batches += 1
        self.spans += n
        self.last_success = time.time()

    def failure(self, n: int, error: BaseException | str) -> None:
        self.failures += 1
        self.failed_spans += n
        text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        self.last_error = text[:500]
        self.last_error_time = time.time()

    def add(self, key: str, n: int = 1) -> None:
        self.extra[key] = self.extra.get(key, 0) + n

    def deltas(self) -> dict[str, int]:
        """Counter increments since the last ``mark_saved``."""
        out: dict[str, int] = {}
        for key in COUNTERS:
            d = getattr(self, key) - self._saved.get(key, 0)
            if d:
                out[key] = d
        for key, v in self.extra.items():
            d = v - self._saved.get("extra." + key, 0)
            if d:
                out["extra." + key] = d
        return out

    def mark_saved(self, deltas: dict[str, int]) -> None:
        for key, d in deltas.items():
            self._saved[key] = self._saved.get(key, 0) + d

    def forget(self) -> None:
        """After ``fork``: the parent persists what it counted; the child starts from zero."""
        for key in COUNTERS:
            setattr(self, key, 0)
        self.extra.clear()
        self._saved.clear()
        self.last_success = self.last_error = self.last_error_time = None
        self.backlog = 0


_persist_lock = forksafe.Lock()


def persist(home: str | os.PathLike[str], stats: list[SinkStats], *, deadline: float | None = None) -> bool:
    """Merge this process's increments into ``sinks.json``. False if the lock was busy."""
    sdir = state_dir(home)
    path = sdir / SINKS_FILE
    # bounded: a signal handler may call this while its own thread is already in here
    wait = -1 if deadline is None else max(0.0, deadline - time.monotonic())
    if not _persist_lock.acquire(timeout=wait):
        return False
    try:
        return _persist_locked(home, sdir, path, stats, deadline)
    finally:
        _persist_lock.release()


def _persist_locked(
    home: str | os.PathLike[str], sdir: Path, path: Path, stats: list[SinkStats], deadline: float | None
) -> bool:
    with flocked(sdir / "sinks.lock", deadline=deadline) as got:
        if not got:
            return False
        doc = load(home)
        sinks = doc.setdefault("sinks", {})
        now = time.time()
        saved: list[tuple[SinkStats, dict[str, int]]] = []
        for st in stats:
            entry = sinks.setdefault(st.name, {})
            deltas = st.deltas()
            for key, d in deltas.items():
                if key.startswith("extra."):
                    ex = entry.setdefault("extra", {})
                    ex[key[6:]] = int(ex.get(key[6:], 0)) + d
                else:
                    entry[key] = int(entry.get(key, 0)) + d
            for key in COUNTERS:
                entry.setdefault(key, 0)
            if st.last_success is not None and st.last_success > (entry.get("last_success") or 0):
                entry["last_success"] = st.last_success
            if st.last_error_time is not None and st.last_error_time > (entry.get("last_error_time") or 0):
                entry["last_error"] = st.last_error
                entry["last_error_time"] = st.last_error_time
            entry["backlog"] = st.backlog
            entry["backlog_updated"] = now
            saved.append((st, deltas))
        doc["version"] = 1
        doc["updated"] = now
        write_private(path, json.dumps(doc, indent=1, sort_keys=True).encode())
        for st, deltas in saved:
            st.mark_saved(deltas)
        return True


def load_json(home: str | os.PathLike[str], name: str) -> dict[str, Any]:
    """The JSON object in ``<home>/state/<name>`` (``{}`` if none yet or unreadable)."""
    try:
        with open(state_dir(home) / name, "rb") as f:
            doc = json.load(f)
        return doc if isinstance(doc, dict) else {}
    except (OSError, ValueError):
        return {}


def load(home: str | os.PathLike[str]) -> dict[str, Any]:
    """The persisted counters (``{}`` if none yet or unreadable)."""
    return load_json(home, SINKS_FILE)
