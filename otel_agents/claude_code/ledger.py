"""The data home's index of API responses already counted, so each is counted once.

A resumed Claude Code session copies earlier responses into its new transcript, re-stamped
with the new session id. Their ``message.id`` + ``requestId`` stay the same, so the first
session whose drain reads a response owns it, and every other session of the same data home
skips it: the pair costs what the responses cost, whichever session was captured first.

``<home>/claude-code/responses.db`` (SQLite, WAL, ``BEGIN IMMEDIATE``: drains of several
sessions may claim at once) maps each response key to its owner session.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable

from otel_agents.claude_code.layout import FILE_MODE, makedirs, spool_root

LEDGER_FILE = "responses.db"


def ledger_path(home: str | os.PathLike[str]) -> str:
    return os.path.join(spool_root(home), LEDGER_FILE)


def claim(path: str, session_id: str, keys: Iterable[str]) -> set[str]:
    """Claim ``keys`` for ``session_id`` in the ledger at ``path`` (``ledger_path``); returns
    those another session already owns."""
    todo = sorted(set(keys))
    if not todo:
        return set()
    if not os.path.exists(path):
        makedirs(os.path.dirname(path))
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    con = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, session TEXT NOT NULL) WITHOUT ROWID")
        con.execute("BEGIN IMMEDIATE")
        try:
            con.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?)", ((k, session_id) for k in todo))
            foreign = {
                k
                for k in todo
                for (owner,) in con.execute("SELECT session FROM responses WHERE key = ?", (k,))
                if owner != session_id
            }
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return foreign
    finally:
        con.close()
