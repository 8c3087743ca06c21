"""``otel-agents hook``: standard library only, always exit 0, silent, durable, concurrent-safe.

Every case runs the installed console script as Claude Code does: a new process, one payload
on stdin.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from _waiting import wait_until
from hypothesis import HealthCheck, given, settings, strategies as st

from otel_agents.claude_code import capture
from otel_agents.redact import fingerprint

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
SID = "0b7c6f0e-1111-4c4c-8888-000000000001"
HOOK_MODULES = {
    "otel_agents",
    "otel_agents.cli",
    "otel_agents.commands",
    "otel_agents.commands.hook",
    "otel_agents.claude_code",
    "otel_agents.claude_code.capture",
    "otel_agents.claude_code.layout",
    "otel_agents.claude_code.payload",
    "otel_agents.handoff",
    "otel_agents.configfile",
    "otel_agents.flags",
    "otel_agents.text",
}


def env(**extra: str) -> dict[str, str]:
    e = dict(os.environ)
    e["OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN"] = "0"
    e.update(extra)
    return e


def run_hook(data: bytes, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([OTEL_AGENTS, "hook"], input=data, capture_output=True, env=environ or env(), timeout=60)


def home() -> Path:
    return Path(os.environ["OTEL_AGENTS_HOME"])


def spool(sid: str = SID) -> Path:
    return Path(capture.session_spool(home(), sid))


def spooled(sid: str = SID) -> list[dict[str, Any]]:
    return [json.loads(line) for line in spool(sid).read_bytes().splitlines()]


def problems() -> list[dict[str, Any]]:
    log = home() / "claude-code" / "hook.log"
    return [json.loads(line) for line in log.read_bytes().splitlines()] if log.exists() else []


def payload(**fields: Any) -> bytes:
    base = {
        "session_id": SID,
        "transcript_path": "/t.jsonl",
        "cwd": "/p",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
        "tool_use_id": "toolu_1",
    }
    base.update(fields)
    return json.dumps(base).encode()


# --- start-up cost ------------------------------------------------------------------------------------
def test_hook_path_imports_only_the_standard_library() -> None:
    """``-X importtime`` of the real console script: nothing but stdlib and our hook modules."""
    p = subprocess.run(
        [sys.executable, "-X", "importtime", OTEL_AGENTS, "hook"],
        input=payload(),
        capture_output=True,
        env=env(),
        timeout=60,
    )
    assert p.returncode == 0 and p.stdout == b""
    base = subprocess.run([sys.executable, "-X", "importtime", "-c", "import json,os"], capture_output=True, timeout=60)

    def modules(stderr: bytes) -> set[str]:
        out = set()
        for line in stderr.decode().splitlines():
            fields = line.removeprefix("import time:").split("|")
            if line.startswith("import time:") and len(fields) == 3 and fields[0].strip().isdigit():
                out.add(fields[2].strip())
        return out

    extra = modules(p.stderr) - modules(base.stderr)
    ours = {m for m in extra if m == "otel_agents" or m.startswith("otel_agents.")}
    # (modules loaded through importlib.import_module, as cli.py loads commands, are not timed)
    assert {"otel_agents", "otel_agents.cli", "otel_agents.claude_code.capture"} <= ours <= HOOK_MODULES
    others = {m.split(".")[0] for m in extra - ours}
    assert others <= set(sys.stdlib_module_names), others - set(sys.stdlib_module_names)
    for forbidden in ("opentelemetry", "pluggy", "genai_prices", "typing", "logging", "tomllib", "hashlib"):
        assert forbidden not in others


def test_hook_adds_only_stdlib_and_its_own_modules_to_sys_modules() -> None:
    code = (
        "import sys, io, json, os; before = set(sys.modules);"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()));"
        "from otel_agents.cli import main; main(['hook']);"
        "sys.stderr.write(json.dumps(sorted(set(sys.modules) - before)))"
    )
    p = subprocess.run([sys.executable, "-c", code, payload().decode()], capture_output=True, env=env(), timeout=60)
    assert (p.returncode, p.stdout) == (0, b"")
    added = set(json.loads(p.stderr))
    assert {m for m in added if m.startswith("otel_agents")} == HOOK_MODULES
    assert {m.split(".")[0] for m in added - HOOK_MODULES} <= set(sys.stdlib_module_names)


# --- what is spooled --------------------------------------------------------------------------------------
def test_event_is_spooled_once_with_receive_time_and_private_modes() -> None:
    t0 = time.time_ns()
    p = run_hook(payload())
    t1 = time.time_ns()
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    (rec,) = spooled()
    assert t0 <= rec["t"] <= t1
    assert rec["e"] == {
        "session_id": SID,
        "transcript_path": "/t.jsonl",
        "cwd": "/p",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_use_id": "toolu_1",
        "tool_input": dict(zip(("len", "sha256"), fingerprint({"command": "ls"}), strict=True)),
    }
    for d in (home(), home() / "claude-code", spool().parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(spool().stat().st_mode) == 0o600


def test_content_is_length_and_hash_by_default() -> None:
    prompt = "my password is hunter2 and my key sk-ant-abcdefghijklmnopqrstu"
    run_hook(payload(hook_event_name="UserPromptSubmit", prompt=prompt, tool_input=None))
    run_hook(payload(hook_event_name="PostToolUse", tool_response={"stdout": "secret output"}, error=None))
    raw = spool().read_text()
    assert "hunter2" not in raw and "secret output" not in raw and "sk-ant" not in raw
    first, second = spooled()
    assert first["e"]["prompt"] == {"len": len(prompt), "sha256": fingerprint(prompt)[1]}
    assert second["e"]["tool_response"]["sha256"] == fingerprint({"stdout": "secret output"})[1]


def test_capture_content_from_config_toml_is_redacted() -> None:
    home().mkdir(parents=True, exist_ok=True)
    (home() / "config.toml").write_text("capture_content = true\n")
    run_hook(payload(tool_input={"command": "curl -H 'Authorization: Bearer abcdefghijklmnop' https://x"}))
    (rec,) = spooled()
    assert rec["e"]["tool_input"]["text"] == '{"command":"curl -H \'Authorization: Bearer [REDACTED]\' https://x"}'
    # The config is cached by its stat; changing it takes effect on the next event.
    (home() / "config.toml").write_text("capture_content = false  # off again\n")
    run_hook(payload())
    assert "text" not in spooled()[1]["e"]["tool_input"]
    # The environment wins over the file.
    run_hook(payload(), env(OTEL_AGENTS_CAPTURE_CONTENT="1"))
    assert spooled()[2]["e"]["tool_input"]["text"] == '{"command":"ls"}'


def test_unknown_fields_keep_numbers_and_fingerprint_the_rest() -> None:
    run_hook(payload(hook_event_name="SomeFutureEvent", count=3, flag=True, note="free text", nested={"a": [1]}))
    (rec,) = spooled()
    e = rec["e"]
    assert e["hook_event_name"] == "SomeFutureEvent" and e["count"] == 3 and e["flag"] is True
    assert e["note"] == {"fingerprint": dict(zip(("len", "sha256"), fingerprint("free text"), strict=True))}
    assert set(e["nested"]["fingerprint"]) == {"len", "sha256"}


def test_session_ids_that_are_not_file_names_are_hashed() -> None:
    sid = "../../etc/passwd"
    run_hook(payload(session_id=sid))
    path = Path(capture.session_spool(home(), sid))
    assert path.parent == home() / "claude-code" / "sessions" and path.name.startswith("x-")
    assert json.loads(path.read_bytes())["e"]["session_id"] == sid


# --- malformed input ---------------------------------------------------------------------------------------
MALFORMED = [
    ("not json", b"hello there", "malformed"),
    ("truncated", payload()[:-7], "malformed"),
    ("empty", b"", "empty"),
    ("whitespace", b"  \n", "empty"),
    ("a list", b"[1, 2, 3]", "malformed"),
    ("a number", b"42", "malformed"),
    ("no session", json.dumps({"hook_event_name": "Stop"}).encode(), "no_session"),
    ("session not a string", json.dumps({"session_id": 7, "hook_event_name": "Stop"}).encode(), "no_session"),
    ("deep nesting", b"[" * 100000 + b"]" * 100000, "malformed"),
]


@pytest.mark.parametrize(("name", "data", "kind"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_stdin_exits_0_silently_and_is_logged(name: str, data: bytes, kind: str) -> None:
    p = run_hook(data)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    (problem,) = problems()
    assert problem["kind"] == kind and problem["bytes"] == len(data)
    assert "hello" not in json.dumps(problem)  # the input itself is never logged


def test_problems_are_counted_one_line_each() -> None:
    for data in (b"x", b"{", b"", b"[]"):
        assert run_hook(data).returncode == 0
    assert [p["kind"] for p in problems()] == ["malformed", "malformed", "empty", "malformed"]


def test_not_utf8_is_repaired_recorded_and_logged() -> None:
    data = payload(tool_name="B\udcffsh").replace(b"\\udcff", b"\xff")
    p = run_hook(data)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    (rec,) = spooled()
    assert rec["e"]["tool_name"] == "B\ufffdsh"
    assert [p["kind"] for p in problems()] == ["not_utf8"]


def test_wrong_types_are_recorded_generically() -> None:
    p = run_hook(payload(hook_event_name=12, tool_use_id=["x"], duration_ms="fast", tool_input="just a string"))
    assert p.returncode == 0
    (rec,) = spooled()
    assert rec["e"]["hook_event_name"] == 12 and rec["e"]["duration_ms"] == "fast"
    assert set(rec["e"]["tool_use_id"]["fingerprint"]) == {"len", "sha256"}
    assert [p["kind"] for p in problems()] == ["wrong_type"]


def test_huge_payload_10_mb_exits_0_and_is_spooled_small() -> None:
    big = "x" * (10 * 1024 * 1024)
    t = time.monotonic()
    p = run_hook(payload(hook_event_name="PostToolUse", tool_response={"stdout": big}))
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert time.monotonic() - t < 30
    (rec,) = spooled()
    assert rec["e"]["tool_response"]["len"] == len(json.dumps({"stdout": big}, separators=(",", ":")))
    assert spool().stat().st_size < 2000


def test_unwritable_home_still_exits_0_silently(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the home directory should be")
    p = run_hook(payload(), env(OTEL_AGENTS_HOME=str(blocked / "home")))
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
            lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
            max_leaves=20,
        ).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "session_id": st.one_of(st.text(max_size=40), st.integers(), st.none()),
                "hook_event_name": st.sampled_from(["PreToolUse", "PostToolUse", "Stop", "SessionEnd", "Weird", 3]),
                "tool_use_id": st.one_of(st.text(max_size=20), st.integers(), st.lists(st.integers(), max_size=3)),
                "tool_input": st.one_of(
                    st.text(), st.dictionaries(st.text(max_size=5), st.text(max_size=20), max_size=3)
                ),
                "duration_ms": st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=5)),
            }
        )
        .map(lambda d: json.dumps(d).encode())
        .flatmap(lambda b: st.integers(min_value=0, max_value=len(b)).map(lambda n: b[:n] if n % 3 == 0 else b)),
    )
)
def test_fuzzed_stdin_always_exits_0_and_prints_nothing(data: bytes) -> None:
    p = run_hook(data)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")


# --- concurrency and durability ------------------------------------------------------------------------------
def test_concurrent_hooks_for_one_session_lose_and_corrupt_nothing() -> None:
    """64 processes at once, each with a 16 KiB record (capture on), into one session spool."""
    e = env(OTEL_AGENTS_CAPTURE_CONTENT="1")
    procs = []
    for i in range(64):
        data = payload(tool_use_id=f"toolu_{i:03d}", tool_input={"i": i, "pad": chr(65 + i % 26) * 20000})
        p = subprocess.Popen(
            [OTEL_AGENTS, "hook"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e
        )
        procs.append((p, data))
    for p, data in procs:
        out, err = p.communicate(data, timeout=120)
        assert (p.returncode, out, err) == (0, b"", b"")
    recs = spooled()
    assert sorted(r["e"]["tool_use_id"] for r in recs) == [f"toolu_{i:03d}" for i in range(64)]
    assert all(len(r["e"]["tool_input"]["text"]) == capture.MAX_CONTENT_CHARS for r in recs)


def test_hook_never_reads_the_spool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Flat cost per event: the spool is only ever opened write-only, append-only."""
    opened: list[tuple[str, int]] = []
    real_open = os.open

    def spy(path: Any, flags: int, *args: Any) -> int:
        opened.append((os.fspath(path), flags))
        return real_open(path, flags, *args)

    monkeypatch.setattr(capture.os, "open", spy)
    for i in range(3):
        capture.handle(payload(tool_use_id=f"t{i}"), time.time_ns(), str(home()), spawn=False)
    spool_opens = [f for p, f in opened if p == str(spool())]
    assert len(spool_opens) in (3, 4)  # the first may fail once, before the directories exist
    assert all(f & os.O_APPEND and f & os.O_WRONLY and not f & os.O_RDWR for f in spool_opens)


def test_fsync_setting_still_spools(monkeypatch: pytest.MonkeyPatch) -> None:
    p = run_hook(payload(), env(OTEL_AGENTS_CLAUDE_CODE_FSYNC="true"))
    assert p.returncode == 0 and len(spooled()) == 1


# --- the detached drain --------------------------------------------------------------------------------------
def test_stop_starts_a_detached_drain_and_returns_at_once() -> None:
    e = env(OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="1", OTEL_AGENTS_OTLP_ENABLED="false")
    for data in (
        payload(hook_event_name="UserPromptSubmit", prompt="x"),
        payload(),
        payload(hook_event_name="PostToolUse", tool_response="ok"),
    ):
        assert run_hook(data, e).returncode == 0
    state = home() / "claude-code" / "state" / f"{SID}.json"
    t = time.monotonic()
    p = run_hook(payload(hook_event_name="Stop"), e)  # capture_output: returns once the pipes close
    elapsed = time.monotonic() - t
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert not state.exists(), "the hook waited for the drain"
    assert elapsed < 5
    wait_until(state.exists, 60, f"the detached drain to save {state}")
    saved = json.loads(state.read_text())
    assert saved["turns"][0]["exported"] is True and saved["spans_exported"] == 3
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert [p["kind"] for p in problems()] == []


def test_hook_settings_agree_with_the_core_settings_table() -> None:
    from otel_agents.config import SETTINGS

    table = {s.name: s for s in SETTINGS}
    for name, (env_var, default) in capture.HOOK_SETTINGS.items():
        assert table[name].env[0] == env_var and table[name].default == default and table[name].type is bool


def test_fingerprints_match_the_core_redact_module() -> None:
    from otel_agents import redact

    for value in ("", "héllo \U0001f600", {"b": [1, 2.5, None], "a": "x"}, ["\ud800"], 12):
        rec = capture.content_record(value, capture=False)
        assert (rec["len"], rec["sha256"]) == redact.fingerprint(value)
