"""The native hook (``claude_code/native/hook.c``) against the Python hook it stands in for.

Real processes of the built program: the same spool line as the Python hook, byte for byte
(receive time aside) on edge cases and on every event of the recorded sessions; the hand-over
to the Python hook; concurrent appends of both hooks; byte-identical spans from a session
captured by either; ``install-hooks`` and ``doctor``. Each for Claude Code, Codex CLI
(``otel-agents-hook codex`` beside ``otel-agents hook codex``) and Gemini CLI. The fuzz suite
runs it in ``tests/faults/test_native_hook.py``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _native import build_native
from _waiting import wait_until
from test_agent_cli import CASES as AGENT_CLI_SESSIONS, FIX as AGENT_CLI_FIXTURES, agent_of, codex_hooks, gemini_hooks

from otel_agents.agent_cli import export
from otel_agents.claude_code import capture, history, launcher, native
from otel_agents.claude_code.drain import drain

OTEL_AGENTS = str(Path(sys.executable).parent / "otel-agents")
FIXTURES = next(
    (
        p / "shared" / "fixtures" / "claude-code"
        for p in Path(__file__).resolve().parents[1:4]
        if (p / "shared" / "fixtures").is_dir()
    ),
    Path("/nonexistent"),
)
HOOKED = ["chat-pdf-via-rag-38cc65a3", "connix-97fa1bbf", "fastapi-mqtt-gateway-e36adb37"]
T_PREFIX = re.compile(rb'^\{"t":\d+,')
#: The CLIs: the native program's first argument and ``otel-agents hook``'s (none: Claude Code).
CLIS = ["claude-code", "codex", "gemini"]


def cli_args(cli: str) -> list[str]:
    return [] if cli == "claude-code" else [cli]


def spool_dir(home: Path, cli: str) -> Path:
    return home / cli / "sessions"


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> Path:
    return build_native(tmp_path_factory)


def env_for(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_AGENTS_", "AGENTS_OTEL"))}
    env.update({"OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN": "0", **extra})
    return env


def run_native(
    hook: Path, raw: bytes, env: dict[str, str], cli: str = "claude-code"
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(hook), *cli_args(cli)], input=raw, capture_output=True, env=env, timeout=60, check=False)


def spool_lines(home: Path, cli: str = "claude-code") -> dict[str, list[bytes]]:
    root = spool_dir(home, cli)
    if not root.is_dir():
        return {}
    return {p.name: [T_PREFIX.sub(b"{", line) for line in p.read_bytes().splitlines()] for p in sorted(root.iterdir())}


def log_kinds(home: Path) -> list[str]:
    log = Path(capture.spool_root(home)) / capture.LOG_FILE
    return [json.loads(line)["kind"] for line in log.read_bytes().splitlines()] if log.exists() else []


EDGE_CASES: list[Any] = [
    {"session_id": "s1", "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": "ls"}},
    {"session_id": "s1", "hook_event_name": "UserPromptSubmit", "prompt": 'héllo 🙂 \u202e\x00\x7f"\\/\b\f\n\r\t'},
    {
        "session_id": "s1",
        "hook_event_name": "PostToolUse",
        "tool_response": {"b": [1.5, 1e16, 1e-05, 0.1, -0.0, 1e308]},
    },
    {"session_id": "s1", "x": 123456789012345678901234567890, "y": -0.0, "z": 2.5e-7, "w": 1e22, "v": 100.0},
    {"session_id": "s1", "hook_event_name": "StopFailure", "error": "rate_limit"},
    {"session_id": "s1", "hook_event_name": "StopFailure", "error": "_-_", "error_category": "x"},
    {"session_id": "s1", "hook_event_name": "StopFailure", "error": "Überlastet"},
    {"session_id": "s1", "hook_event_name": "PermissionDenied", "reason": "rm -rf /"},
    {"session_id": "s1", "cwd": "x" * 4097, "model": ["a"], "reason": None, "duration_ms": 12.0},
    {"session_id": "s1", "hook_event_name": 7, "unknown": {"é": {"a": [None, True, False]}, "a": 1, "B": 2}},
    {"session_id": "../../etc/passwd", "hook_event_name": "Notification", "message": "m"},
    {"session_id": "é" * 4096, "hook_event_name": "Notification"},
    {"session_id": "é" * 4097, "hook_event_name": "Notification"},
    {"session_id": ""},
    {"session_id": 5},
    [1, 2],
    "just a string",
    # Codex CLI's and Gemini CLI's payload fields (tests/test_agent_cli.py)
    {"session_id": "s3", "hook_event_name": "BeforeTool", "tool_name": "run_shell", "tool_input": {"c": "ls"}},
    {"session_id": "s3", "hook_event_name": "AfterAgent", "prompt_response": "done", "timestamp": "2026-01-01T00:00Z"},
    {"session_id": "s3", "hook_event_name": "PermissionRequest", "turn_id": "t1", "tool_use_id": "call_1"},
    {"session_id": "s3", "hook_event_name": "AfterTool", "tool_response": {"llmContent": "ok"}, "tool_input": None},
]
LINES_PER_SESSION = [2, 2, 6, 8, 20]  # passwd (hashed), é x 4096 (hashed), s2, s3, s1
RAW_CASES = [
    b"",
    b"  \n\t",
    b"{",
    b'{"session_id":"s2","hook_event_name":"Stop"} trailing',
    b'{"session_id":"s2","hook_event_name":"Stop","n":NaN,"i":Infinity,"j":-Infinity}',
    b'{"session_id":"s2","a":1,"a":2}',  # duplicate keys: handed over
    b'{"session_id":"s2","p":"\\ud800"}',  # a lone surrogate: handed over
    b'{"session_id":"s2","prompt":"\xff\xfe"}',  # not UTF-8: handed over
    b'{"session_id":"s2","tool_input":' + b"[" * 300 + b"]" * 300 + b"}",  # deep: handed over
    b'{"session_id":"s2","e":1E400,"f":-0,"g":0.000001,"h":123e-2}',
]


@pytest.mark.parametrize("cli", CLIS)
def test_the_same_spool_line_and_problems_as_the_python_hook(hook, tmp_path, cli) -> None:
    """Each case through the native program and through ``otel-agents hook [codex|gemini]``:
    identical spool files, in that CLI's directory (the receive time given to both), and the
    same problems logged (hand-overs included: not UTF-8, duplicate keys, deep nesting)."""
    raws = [json.dumps(c, ensure_ascii=False).encode() for c in EDGE_CASES] + [
        json.dumps(c).encode() for c in EDGE_CASES
    ]
    raws += RAW_CASES
    for i, raw in enumerate(raws):
        t = str(1_700_000_000_000_000_000 + i)
        a = run_native(hook, raw, env_for(tmp_path / "native", OTEL_AGENTS_HOOK_RECEIVED_NS=t), cli)
        b = subprocess.run(
            [OTEL_AGENTS, "hook", *cli_args(cli)],
            input=raw,
            capture_output=True,
            env=env_for(tmp_path / "python", OTEL_AGENTS_HOOK_RECEIVED_NS=t),
            timeout=60,
            check=False,
        )
        assert (a.returncode, a.stdout, a.stderr) == (0, b"", b""), raw
        assert (b.returncode, b.stdout, b.stderr) == (0, b"", b""), raw
        assert log_kinds(tmp_path / "native") == log_kinds(tmp_path / "python"), raw
    native_files = {p.relative_to(tmp_path / "native"): p.read_bytes() for p in (tmp_path / "native").rglob("*.jsonl")}
    python_files = {p.relative_to(tmp_path / "python"): p.read_bytes() for p in (tmp_path / "python").rglob("*.jsonl")}
    assert native_files == python_files
    assert {p.parent for p in native_files} == {Path(cli) / "sessions"}
    assert sorted(v.count(b"\n") for v in native_files.values()) == LINES_PER_SESSION


@pytest.mark.parametrize("cli", CLIS)
def test_hands_over_to_the_python_hook_when_content_capture_is_on(hook, tmp_path, cli) -> None:
    """The Python hook it hands over to is told the CLI: the event lands in that CLI's spool."""
    raw = json.dumps({"session_id": "cap", "hook_event_name": "UserPromptSubmit", "prompt": "token sk-abc"}).encode()
    env = env_for(tmp_path, OTEL_AGENTS_CAPTURE_CONTENT="1", OTEL_AGENTS_HOOK_RECEIVED_NS="42")
    assert run_native(hook, raw, env, cli).returncode == 0
    assert [p.relative_to(tmp_path) for p in tmp_path.glob("*/sessions/*")] == [Path(cli, "sessions", "cap.jsonl")]
    rec = json.loads((spool_dir(tmp_path, cli) / "cap.jsonl").read_bytes())
    assert rec["t"] == 42
    assert rec["e"]["prompt"]["text"] == capture.content_record("token sk-abc", True)["text"]


def test_config_toml_read_through_the_python_hooks_cache(hook, tmp_path) -> None:
    """A new ``config.toml`` is handed over once (the Python hook writes the cache), then read
    from the cache by the native hook."""
    (tmp_path / "config.toml").write_text("[claude_code]\nfsync = true\nauto_drain = false\n")
    raw = json.dumps({"session_id": "cfg", "hook_event_name": "Notification"}).encode()
    env = env_for(tmp_path)
    assert run_native(hook, raw, env).returncode == 0
    cache = tmp_path / "claude-code" / capture.CONFIG_CACHE
    assert json.loads(cache.read_bytes())["values"] == {"claude_code.auto_drain": False, "claude_code.fsync": True}
    before = cache.stat().st_mtime_ns
    assert run_native(hook, raw, env).returncode == 0
    assert cache.stat().st_mtime_ns == before
    assert len((tmp_path / "claude-code" / "sessions" / "cfg.jsonl").read_bytes().splitlines()) == 2


@pytest.mark.parametrize("home", ["missing/deep", "readonly", "file"])
def test_exits_0_silently_whatever_the_home(hook, tmp_path, home) -> None:
    target = tmp_path / home
    if home == "readonly":
        target.mkdir()
        target.chmod(0o500)
    elif home == "file":
        target.write_text("not a directory")
    raw = json.dumps({"session_id": "h", "hook_event_name": "Stop"}).encode()
    p = run_native(hook, raw, env_for(target, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="1"))
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    if home == "missing/deep":
        assert (target / "claude-code" / "sessions" / "h.jsonl").exists()
        assert oct((target / "claude-code").stat().st_mode & 0o777) == "0o700"
        assert oct((target / "claude-code" / "sessions" / "h.jsonl").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("cli", CLIS)
def test_concurrent_appends_from_native_and_python_hooks(hook, tmp_path, cli) -> None:
    """Many native and Python hook processes append to one session at once: every line whole,
    none lost."""
    big = "x" * 200_000  # lines longer than a pipe buffer or a page
    payloads = [
        json.dumps(
            {"session_id": "many", "hook_event_name": "PostToolUse", "tool_use_id": f"t{i}", "n": i, "b": big}
        ).encode()
        for i in range(240)
    ]
    env = env_for(tmp_path)

    def one(i: int) -> int:
        cmd = [str(hook)] if i % 4 else [OTEL_AGENTS, "hook"]
        return subprocess.run(
            cmd + cli_args(cli), input=payloads[i], capture_output=True, env=env, timeout=120
        ).returncode

    with ThreadPoolExecutor(16) as ex:
        assert set(ex.map(one, range(len(payloads)))) == {0}
    lines = (spool_dir(tmp_path, cli) / "many.jsonl").read_bytes().splitlines()
    assert sorted(json.loads(line)["e"]["n"] for line in lines) == list(range(240))


def _span_dump(spans: list[Any]) -> list[str]:
    out = []
    for s in spans:
        out.append(
            json.dumps(
                {
                    "name": s.name,
                    "trace": s.context.trace_id,
                    "span": s.context.span_id,
                    "parent": s.parent.span_id if s.parent else None,
                    "start": s.start_time,
                    "end": s.end_time,
                    "kind": str(s.kind),
                    "status": [str(s.status.status_code), s.status.description],
                    "attributes": dict(s.attributes),
                    # an exception event is stamped with the drain's clock, not the session's
                    "events": [
                        [e.name, None if e.name == "exception" else e.timestamp, dict(e.attributes)] for e in s.events
                    ],
                    "links": [[lk.context.span_id, dict(lk.attributes or {})] for lk in s.links],
                },
                sort_keys=True,
                default=str,
            )
        )
    return sorted(out)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="no shared fixtures next to this repository")
@pytest.mark.parametrize("name", HOOKED)
def test_the_drain_gives_byte_identical_spans_from_either_hook(hook, tmp_path, name, make_runtime, exporter) -> None:
    """A recorded session captured by the native hook (real processes) and by the Python hook:
    the same spool bytes, and the drain exports the same spans, byte for byte."""
    session = history.read_session(str(FIXTURES / "real" / name / "transcript.jsonl"))
    assert session is not None and session.events
    for t, payload in session.events:
        raw = json.dumps(payload).encode()
        env = env_for(tmp_path / "native", OTEL_AGENTS_HOOK_RECEIVED_NS=str(t))
        assert run_native(hook, raw, env).returncode == 0
        assert capture.handle(raw, t, str(tmp_path / "python"), spawn=False) is not None
    assert spool_lines(tmp_path / "native") == spool_lines(tmp_path / "python")
    assert [p.read_bytes() for p in sorted((tmp_path / "native").rglob("*.jsonl"))] == [
        p.read_bytes() for p in sorted((tmp_path / "python").rglob("*.jsonl"))
    ]
    dumps = []
    for side in ("native", "python"):
        exporter.clear()
        report = drain(tmp_path / side, rt=make_runtime())
        assert (report.sessions, report.errors) == (1, [])
        dumps.append(_span_dump(list(exporter.get_finished_spans())))
    assert dumps[0] == dumps[1] and len(dumps[0]) > 10


@pytest.mark.parametrize("rel", AGENT_CLI_SESSIONS)
def test_the_agent_cli_drain_gives_byte_identical_spans_from_either_hook(
    hook, tmp_path, rel, make_runtime, exporter
) -> None:
    """Each recorded Codex CLI and Gemini CLI session's hook stream captured by the native hook
    (``otel-agents-hook codex|gemini``, real processes) and by the Python hook: the same spool
    bytes, and that CLI's drain exports the same spans, byte for byte."""
    cli = agent_of(rel)
    path = AGENT_CLI_FIXTURES / rel
    stream = codex_hooks(path) if cli == "codex" else gemini_hooks(path)
    for t, payload in stream:
        raw = json.dumps(payload).encode()
        assert (
            run_native(hook, raw, env_for(tmp_path / "native", OTEL_AGENTS_HOOK_RECEIVED_NS=str(t)), cli).returncode
            == 0
        )
        assert capture.handle(raw, t, str(tmp_path / "python"), spawn=False, agent=cli) is not None
    files = [
        sorted(p.relative_to(tmp_path / side) for p in (tmp_path / side).rglob("*.jsonl"))
        for side in ("native", "python")
    ]
    assert files[0] == files[1] and {p.parent for p in files[0]} == {Path(cli, "sessions")}
    assert [(tmp_path / "native" / p).read_bytes() for p in files[0]] == [
        (tmp_path / "python" / p).read_bytes() for p in files[1]
    ]
    dumps = []
    for side in ("native", "python"):
        exporter.clear()
        export.drain(tmp_path / side, cli, rt=make_runtime())
        dumps.append(_span_dump(list(exporter.get_finished_spans())))
    assert dumps[0] == dumps[1] and len(dumps[0]) >= 2  # the fork layout's parent: root and one call


@pytest.mark.parametrize("cli,stop", [("codex", "Stop"), ("gemini", "AfterAgent"), ("codex", "SessionEnd")])
def test_an_agent_cli_drain_event_starts_its_drain(hook, tmp_path, cli, stop) -> None:
    """Codex CLI's Stop and SessionEnd, Gemini CLI's AfterAgent: the native hook starts that
    CLI's detached drain (``agent_cli.export``), which leaves the session's state."""
    env = env_for(tmp_path, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="1", OTEL_AGENTS_OTLP_ENABLED="false")
    state = tmp_path / cli / "state" / "d1.json"
    for name in ("SessionStart", "UserPromptSubmit"):
        raw = json.dumps({"session_id": "d1", "hook_event_name": name, "turn_id": "t1", "prompt": "p"}).encode()
        assert run_native(hook, raw, env, cli).returncode == 0
    assert not state.exists()  # no drain before the drain event
    raw = json.dumps({"session_id": "d1", "hook_event_name": stop, "turn_id": "t1"}).encode()
    p = run_native(hook, raw, env, cli)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    wait_until(state.exists, timeout=60)
    assert not (tmp_path / "claude-code" / "state").exists()


def test_the_stop_event_starts_the_detached_drain(hook, tmp_path) -> None:
    env = env_for(tmp_path, OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="1", OTEL_AGENTS_OTLP_ENABLED="false")
    for name in ("SessionStart", "UserPromptSubmit", "Stop"):
        raw = json.dumps({"session_id": "d1", "hook_event_name": name, "prompt": "p"}).encode()
        assert run_native(hook, raw, env).returncode == 0
    wait_until(lambda: (tmp_path / "claude-code" / "last-drain.json").exists(), timeout=60)


def test_install_hooks_builds_the_native_hook_and_doctor_names_it(tmp_path) -> None:
    env = env_for(tmp_path / "home")
    proj = tmp_path / "proj"
    proj.mkdir()
    out = subprocess.run(
        [OTEL_AGENTS, "install-hooks", "claude-code", "--native", "--dir", str(proj)],
        capture_output=True,
        text=True,
        env=env,
        cwd=proj,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "built the native hook" in out.stdout
    local = json.loads((proj / ".claude" / "settings.local.json").read_text())
    path = local["env"][launcher.NATIVE_ENV]
    assert path == str(native.default_path()) and os.access(path, os.X_OK)
    # the committed launcher runs it
    raw = json.dumps({"session_id": "via-launcher", "hook_event_name": "Notification"}).encode()
    p = subprocess.run([str(proj / launcher.RELATIVE_PATH)], input=raw, capture_output=True, env=env, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert (tmp_path / "home" / "claude-code" / "sessions" / "via-launcher.jsonl").exists()
    doc = subprocess.run([OTEL_AGENTS, "doctor"], capture_output=True, text=True, env=env, cwd=proj, timeout=120)
    assert f"hook: native ({path})" in doc.stdout
    py = subprocess.run(
        [OTEL_AGENTS, "install-hooks", "claude-code", "--python", "--dir", str(proj)],
        capture_output=True,
        text=True,
        env=env,
        cwd=proj,
        timeout=120,
        check=False,
    )
    assert py.returncode == 0
    assert launcher.NATIVE_ENV not in json.loads((proj / ".claude" / "settings.local.json").read_text())["env"]
    doc = subprocess.run([OTEL_AGENTS, "doctor"], capture_output=True, text=True, env=env, cwd=proj, timeout=120)
    assert "  hook: Python (" in doc.stdout


def test_install_hooks_falls_back_to_python_without_a_compiler(tmp_path) -> None:
    env = env_for(tmp_path / "home", CC="/nonexistent/cc", PATH="/nonexistent")
    proj = tmp_path / "proj"
    proj.mkdir()
    out = subprocess.run(
        [OTEL_AGENTS, "install-hooks", "claude-code", "--native", "--dir", str(proj)],
        capture_output=True,
        text=True,
        env=env,
        cwd=proj,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "the native hook could not be built (no C compiler found" in out.stderr
    assert launcher.NATIVE_ENV not in json.loads((proj / ".claude" / "settings.local.json").read_text())["env"]


def test_the_native_rules_are_the_python_hooks() -> None:
    """The C program's Claude Code tables hold exactly ``capture``'s field and event sets."""
    src = native.SOURCE.read_text()

    def table(name: str) -> set[str]:
        body = re.search(name + r"\[\](?:\[2\])? = \{(.*?)\};", src, re.S)
        assert body is not None, name
        return set(re.findall(r'"([^"]+)"', body.group(1)))

    assert table("CC_KEEP") == capture.KEEP_FIELDS
    assert table("CC_CONTENT") == capture.CONTENT_FIELDS
    assert table("CC_DRAIN") == capture.DRAIN_EVENTS
    assert table("CC_EVENT_CONTENT") == {e for e in capture.EVENT_CONTENT_FIELDS} | {
        f for fields in capture.EVENT_CONTENT_FIELDS.values() for f in fields
    }
    assert table("AGENT_DRAIN") == capture.AGENT_DRAIN_EVENTS
    # one reduce_payload for every CLI: Codex CLI and Gemini CLI use Claude Code's field tables
    rules = re.search(r"RULES\[\] = \{(.*?)\n\};", src, re.S)
    assert rules is not None
    rows = re.findall(r"\{(.*?)\},", rules.group(1))
    assert [[c.strip() for c in r.split(",")] for r in rows] == [
        [f'"{cli}"', f'"{cli}"', '"session_id"', '"hook_event_name"', "CC_KEEP", "CC_CONTENT"]
        + (
            ["CC_DRAIN", "CC_EVENT_CONTENT", '"StopFailure"', "NULL"]
            if cli == "claude-code"
            else ["AGENT_DRAIN", "CC_EVENT_CONTENT", '"StopFailure"', f'"{cli}"']
        )
        for cli in CLIS
    ]


def test_an_agent_cli_without_native_rules_is_handed_to_the_python_hook(hook, tmp_path) -> None:
    raw = json.dumps({"session_id": "other", "hook_event_name": "Stop"}).encode()
    p = subprocess.run([str(hook), "no-such-cli"], input=raw, capture_output=True, env=env_for(tmp_path), timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert (tmp_path / "claude-code" / "sessions" / "other.jsonl").exists()  # the Python hook spooled it


@pytest.mark.parametrize("cli", ["codex", "gemini"])
def test_install_hooks_for_codex_and_gemini_installs_the_native_hook_and_doctor_names_it(tmp_path, cli) -> None:
    """``install-hooks codex|gemini --project`` builds the native hook and its entries run it
    with the CLI's name; the hook then spools into that CLI's directory; ``doctor`` says so.
    ``--python`` puts the Python hook back; without a compiler the Python hook, saying so."""
    env = env_for(tmp_path / "home", HOME=str(tmp_path / "user"))
    proj = tmp_path / "proj"
    proj.mkdir()

    def cli_run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [OTEL_AGENTS, *args], capture_output=True, text=True, env={**env, **extra}, cwd=proj, timeout=300
        )

    out = cli_run("install-hooks", cli, "--project")
    assert out.returncode == 0, out.stderr
    assert "built the native hook" in out.stdout
    config = proj / (".codex/hooks.json" if cli == "codex" else ".gemini/settings.json")
    commands = {
        h["command"] for groups in json.loads(config.read_text())["hooks"].values() for g in groups for h in g["hooks"]
    }
    assert commands == {f"{native.default_path()} {cli}"}
    raw = json.dumps({"session_id": "via-config", "hook_event_name": "SessionStart"}).encode()
    p = subprocess.run(commands.pop().split(), input=raw, capture_output=True, env=env, timeout=60)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    assert (tmp_path / "home" / cli / "sessions" / "via-config.jsonl").exists()
    doc = cli_run("doctor")
    assert f"  {cli} hook: native ({native.default_path()}, in {config})" in doc.stdout
    assert cli_run("install-hooks", cli, "--project", "--python").returncode == 0
    commands = {
        h["command"] for groups in json.loads(config.read_text())["hooks"].values() for g in groups for h in g["hooks"]
    }
    assert commands == {f"{OTEL_AGENTS} hook {cli}"}
    assert f"  {cli} hook: Python ({OTEL_AGENTS}, in {config}; " in cli_run("doctor").stdout
    out = cli_run("install-hooks", cli, "--project", "--native", CC="/nonexistent/cc", PATH="/nonexistent")
    assert out.returncode == 0, out.stderr
    assert "the native hook could not be built (no C compiler found" in out.stderr
    assert commands == {
        h["command"] for groups in json.loads(config.read_text())["hooks"].values() for g in groups for h in g["hooks"]
    }


def test_the_launcher_reads_its_settings_with_shell_built_ins_and_passes_the_cli_on(hook, tmp_path) -> None:
    """The committed launcher finds the native hook in ``.claude/settings.local.json`` without
    starting a process (no ``sed``, no ``head``: here ``PATH`` holds none), and gives it its
    arguments (``codex``: that CLI's spool)."""
    proj = tmp_path / "proj"
    launcher.write(proj)
    (proj / ".claude" / "settings.local.json").write_text(
        json.dumps({"env": {launcher.PATH_ENV: "/nonexistent/otel-agents", launcher.NATIVE_ENV: str(hook)}}, indent=2)
    )
    env = env_for(tmp_path / "home", PATH=str(tmp_path / "empty"))
    for args, cli in (([], "claude-code"), (["codex"], "codex")):
        raw = json.dumps({"session_id": "l1", "hook_event_name": "Notification"}).encode()
        p = subprocess.run(
            [str(proj / launcher.RELATIVE_PATH), *args], input=raw, capture_output=True, env=env, timeout=60
        )
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
        assert (spool_dir(tmp_path / "home", cli) / "l1.jsonl").exists(), cli
