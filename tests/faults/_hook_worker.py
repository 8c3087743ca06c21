"""Many hook payloads through the REAL CLI entry point in one process (the fuzz's fast path).

Frames on stdin: 8-byte big-endian length, then the payload. For each payload the worker
makes it the process's stdin (``sys.stdin.buffer``), captures ``sys.stdout``/``sys.stderr``,
and calls ``otel_agents.cli.main(["hook"])``: the same code path as ``otel-agents hook``
from ``main()`` down. It answers one JSON line per payload on the original stdout:

    {"rc": exit code, "printed": bytes printed, "exc": an exception that escaped main() or null,
     "problems": [kinds logged to hook.log by this call], "details": [their details],
     "spooled": whether a line was appended to the session's spool, "expected": whether one should be,
     "line_ok": whether that line parses as {"t": int, "e": {...}} with the session id}
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys

out = os.fdopen(os.dup(1), "w", buffering=1)
src = os.fdopen(os.dup(0), "rb", buffering=0)
HOME = os.environ["OTEL_AGENTS_HOME"]

from otel_agents import cli  # noqa: E402
from otel_agents.claude_code import capture  # noqa: E402

LOG = os.path.join(capture.spool_root(HOME), capture.LOG_FILE)
AGENT = os.environ.get("FUZZ_HOOK_AGENT") or None  # codex, gemini: `otel-agents hook <agent>`


def _read_exact(n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = src.read(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def _stat(path: str) -> tuple[int, int]:
    try:
        st = os.stat(path)
        return st.st_ino, st.st_size
    except OSError:
        return 0, 0


def _expected_session(raw: bytes) -> str | None:
    """The session id the hook must spool this payload under, or None (a problem instead)."""
    if len(raw) > capture.MAX_STDIN_BYTES:
        return None
    try:
        payload = json.loads(raw.decode("utf-8", "replace"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(payload, dict):
        return None
    sid = payload.get("session_id")
    if not isinstance(sid, str) or not sid or len(sid) > capture.MAX_KEPT_CHARS:
        return None
    return capture.clean_text(sid)  # lone surrogates: U+FFFD


def one(raw: bytes) -> dict:
    sid = _expected_session(raw)
    spool = capture.session_spool(HOME, sid, AGENT) if sid else None
    spool_before = _stat(spool) if spool else (0, 0)
    log_before = _stat(LOG)
    stdin = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", errors="strict")
    captured_out, captured_err = io.StringIO(), io.StringIO()
    real = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = stdin, captured_out, captured_err
    exc = None
    try:
        rc = cli.main(["hook", AGENT] if AGENT else ["hook"])
    except SystemExit as e:
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - what the suite counts
        rc, exc = 1, f"{type(e).__name__}: {e}"[:300]
    finally:
        sys.stdin, sys.stdout, sys.stderr = real
    res = {
        "rc": rc,
        "printed": len(captured_out.getvalue()) + len(captured_err.getvalue()),
        "exc": exc,
        "problems": [],
        "details": [],
        "expected": sid is not None,
        "spooled": False,
        "line_ok": False,
    }
    ino, size = _stat(LOG)
    if size:
        start = log_before[1] if ino == log_before[0] and size >= log_before[1] else 0
        with open(LOG, "rb") as f:
            f.seek(start)
            for line in f.read().splitlines():
                try:
                    rec = json.loads(line)
                    res["problems"].append(rec.get("kind"))
                    res["details"].append(str(rec.get("detail"))[:200])
                except ValueError:
                    res["problems"].append("unparsable-log-line")
    if spool:
        ino, size = _stat(spool)
        if size > spool_before[1]:
            res["spooled"] = True
            with open(spool, "rb") as f:
                f.seek(spool_before[1])
                data = f.read()
            try:
                rec = json.loads(data)
                res["line_ok"] = (
                    data.count(b"\n") == 1
                    and data.endswith(b"\n")
                    and isinstance(rec["t"], int)
                    and isinstance(rec["e"], dict)
                    and rec["e"].get("session_id") == sid
                )
            except (ValueError, KeyError, TypeError):
                res["line_ok"] = False
    return res


def main() -> None:
    while True:
        try:
            (n,) = struct.unpack(">Q", _read_exact(8))
            raw = _read_exact(n)
        except EOFError:
            return
        out.write(json.dumps(one(raw)) + "\n")


if __name__ == "__main__":
    main()
