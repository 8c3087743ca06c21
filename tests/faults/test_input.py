"""Input faults: fuzzed Claude Code hook payloads, and bad configuration files.

Hook payloads (hypothesis): random JSON, payload-shaped objects with wrong types, truncated
payloads, bytes that are not UTF-8, deep nesting, lone surrogates, NaN and huge numbers,
plus explicit 10 MB payloads. Every one goes through the real CLI entry point
(``otel_agents.cli.main(["hook"])``): most in a worker process that feeds payloads one after
the other (``_hook_worker.py``), several hundred as separate ``otel-agents hook`` processes.
Oracles: exit code 0, nothing printed, no ``internal`` problem logged, and every payload that
is a JSON object with a session id spooled as exactly one parseable line. Then a real drain
(``otel-agents flush``) reads everything that was spooled.

Config files with wrong types, unknown keys, a wrong structure, broken TOML or bytes that
are not text: the executor, ``doctor`` and the hook run on the defaults, and the message
names the file, the key, what was expected and the default used.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _harness import HERE, OTEL_AGENTS, PY, SOAK, assert_clean, child_env, cli, measure, n, run_workload
from hypothesis import HealthCheck, given, settings, strategies as st

from otel_agents.claude_code import capture
from otel_agents.claude_code.settings import EVENTS as CLAUDE_CODE_EVENTS

EVENTS = [*CLAUDE_CODE_EVENTS, "Unknown"]  # every event the capture handles, and one it does not know
SESSIONS = ["fuzz-a", "fuzz-b", "0b7c6f0e-1111-4c4c-8888-00000000000f", "../../etc/passwd", "con", " ", "x" * 300]

WORKER_CASES = n(10_000, 50_000)  # payloads: hypothesis examples x PER_EXAMPLE
PROCESS_CASES = n(300, 2_000)

# --- strategies ---------------------------------------------------------------------------------------
surrogates = st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
texts = st.one_of(st.text(max_size=40), surrogates, st.sampled_from(["", "\x00", "\u202e", "🙂" * 20, "\\", '"']))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**18, max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(texts, kids, max_size=3), max_leaves=6
)
#: Values of the wrong type or shape for any field, cheap to draw.
ODD = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    -(2**64),
    10**40,
    1.5,
    float("nan"),
    float("inf"),
    "",
    " ",
    "x",
    "\x00",
    "\ud800",
    "a\udfffb",
    "../../etc/passwd",
    "/dev/zero",
    [],
    {},
    [1, "a", None],
    {"a": {"b": [None]}},
    {"session_id": "nested"},
    "x" * 5000,
]
field_values = st.one_of(st.sampled_from(ODD), texts, st.integers(), json_values)


def _nested(depth: int, leaf: Any = 1) -> Any:
    v = leaf
    for i in range(depth):
        v = [v] if i % 2 else {"k": v}
    return v


payload_objects = st.fixed_dictionaries(
    {
        "session_id": st.one_of(st.sampled_from(SESSIONS), field_values),
        "hook_event_name": st.one_of(st.sampled_from(EVENTS), field_values),
    },
    optional={
        "transcript_path": st.one_of(
            st.sampled_from(["/nonexistent/t.jsonl", "/dev/zero", "/", "", "a\x00b"]), field_values
        ),
        "cwd": field_values,
        "tool_name": st.one_of(st.sampled_from(["Bash", "Read", "mcp__x__y"]), field_values),
        "tool_use_id": st.one_of(st.sampled_from(["toolu_1", "toolu_2"]), field_values),
        "tool_input": field_values,
        "tool_response": field_values,
        "prompt": field_values,
        "error": field_values,
        "duration_ms": field_values,
        "agent_id": field_values,
        "agent_type": field_values,
        "is_interrupt": field_values,
        "source": field_values,
        "reason": field_values,
        "model": field_values,
        "message": field_values,
        "stop_hook_active": field_values,
        "agent_transcript_path": field_values,
        "permission_mode": field_values,
        "prompt_id": field_values,
        "notification_type": field_values,
        "deep": st.integers(min_value=1, max_value=900).map(_nested),  # deeper: the raw cases below
        "extra_unknown_field": field_values,
    },
)


def _dumps(v: Any) -> bytes:
    return json.dumps(v, ensure_ascii=True, allow_nan=True).encode()


INVALID_UTF8 = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80", b"\xf8\x88\x80\x80\x80"]


def expand(case: tuple[Any, Any, bytes, int, int]) -> list[bytes]:
    """One hypothesis example, six payloads: a payload-shaped object with wrong types, random
    JSON, the object truncated, the object with bytes that are not UTF-8, the object in
    UTF-16, and raw bytes or deep nesting."""
    obj, value, blob, r, depth = case
    data = _dumps(obj)
    pos = r % (len(data) + 1)
    return [
        data,
        _dumps(value),
        data[: r % max(1, len(data))],
        data[:pos] + INVALID_UTF8[r % len(INVALID_UTF8)] + data[pos:],
        json.dumps(obj, ensure_ascii=False).encode("utf-16", "surrogatepass"),
        blob
        if r % 3
        else (
            b"[" * depth + b"]" * depth
            if r % 2
            else b'{"session_id":"fuzz-a","hook_event_name":"PreToolUse","tool_input":'
            + b"[" * depth
            + b"]" * depth
            + b"}"
        ),
    ]


PER_EXAMPLE = 6
cases = st.tuples(
    payload_objects,
    json_values,
    st.binary(max_size=1024),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=200_000),
)
raw_payloads = cases.map(lambda c: expand(c)[c[3] % PER_EXAMPLE])  # one of them (the separate processes)


def big_payloads() -> list[tuple[str, bytes]]:
    """Explicit 10 MB cases."""
    mb10 = 10 * 1024 * 1024
    return [
        (
            "10 MB prompt",
            _dumps({"session_id": "fuzz-big", "hook_event_name": "UserPromptSubmit", "prompt": "p" * mb10}),
        ),
        (
            "10 MB tool_response",
            _dumps(
                {
                    "session_id": "fuzz-big",
                    "hook_event_name": "PostToolUse",
                    "tool_name": "Bash",
                    "tool_use_id": "toolu_big",
                    "tool_response": {"stdout": "o" * mb10},
                }
            ),
        ),
        ("10 MB of random bytes", os.urandom(mb10)),
        ("10 MB of nesting", b"[" * (mb10 // 2) + b"]" * (mb10 // 2)),
        (
            "10 MB of keys",
            _dumps(
                {"session_id": "fuzz-big", "hook_event_name": "Notification", **{f"k{i}": i for i in range(mb10 // 16)}}
            ),
        ),
    ]


# --- the worker -------------------------------------------------------------------------------------------
class Worker:
    def __init__(self, home: Path, agent: str | None = None) -> None:
        env = child_env(home, None, **({"FUZZ_HOOK_AGENT": agent} if agent else {}))
        self.proc = subprocess.Popen(
            [PY, str(HERE / "_hook_worker.py")],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, raw: bytes) -> dict[str, Any]:
        self.proc.stdin.write(struct.pack(">Q", len(raw)) + raw)
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("the hook worker died: " + self.proc.stderr.read().decode(errors="replace")[-2000:])
        return json.loads(line)

    def close(self) -> str:
        self.proc.stdin.close()
        self.proc.wait(60)
        return self.proc.stderr.read().decode(errors="replace")


def check(res: dict[str, Any], raw: bytes) -> None:
    assert res["rc"] == 0, res
    assert res["printed"] == 0, res
    assert res["exc"] is None, res
    assert "internal" not in res["problems"], res
    if res["expected"]:
        recursion = any("RecursionError" in d for d in res["details"])
        assert res["spooled"] or recursion, (res, raw[:300])
    if res["spooled"]:
        assert res["line_ok"], res


@dataclass
class Fuzz:
    """What one fuzz run did: its counts, and the failure it met (raised by its test)."""

    stats: dict[str, Any] = field(
        default_factory=lambda: {"cases": 0, "big": 0, "spooled": 0, "problems": {}, "nonzero": 0, "printed": 0}
    )
    error: BaseException | None = None
    stderr: str = ""
    bad: list[Any] = field(default_factory=list)

    def tally(self, res: dict[str, Any], big: bool = False) -> None:
        self.stats["big" if big else "cases"] += 1
        self.stats["nonzero"] += int(res.get("rc") != 0 or res.get("exc") is not None)
        self.stats["printed"] += int(bool(res.get("printed")))
        self.stats["spooled"] += int(res.get("spooled", False))
        for kind in res.get("problems", []):
            self.stats["problems"][kind] = self.stats["problems"].get(kind, 0) + 1


@pytest.fixture(scope="module")
def fuzz_home(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz") / "home"


@pytest.fixture(scope="module")
def worker_fuzz(fuzz_home) -> Fuzz:
    """The payloads fed through the CLI entry point in one worker process, into ``fuzz_home``
    (once per module, whichever test asks first)."""
    out = Fuzz()
    worker = Worker(fuzz_home)
    try:

        @settings(
            max_examples=WORKER_CASES // PER_EXAMPLE + 1,
            deadline=None,
            database=None,
            derandomize=not SOAK,
            suppress_health_check=list(HealthCheck),
        )
        @given(cases)
        def fuzz(case: tuple[Any, Any, bytes, int, int]) -> None:
            for raw in expand(case):
                res = worker.run(raw)
                out.tally(res)
                check(res, raw)

        fuzz()
        for _name, raw in big_payloads():
            res = worker.run(raw)
            out.tally(res, big=True)
            check(res, raw)
    except Exception as exc:  # noqa: BLE001 - raised by the test that asks for this run
        out.error = exc
    finally:
        out.stderr = worker.close()
    return out


@pytest.fixture(scope="module")
def process_fuzz(fuzz_home) -> Fuzz:
    """Hundreds of real ``otel-agents hook`` processes (a thread pool keeps 4 running), into
    ``fuzz_home`` (once per module)."""
    collected: list[bytes] = []

    @settings(
        max_examples=PROCESS_CASES,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw_payloads)
    def collect(raw: bytes) -> None:
        collected.append(raw)

    collect()
    big = [raw for _n, raw in big_payloads()[:3]]
    env = child_env(fuzz_home, None)

    def run(raw: bytes) -> tuple[int, bytes, float]:
        t0 = time.monotonic()
        p = subprocess.run([OTEL_AGENTS, "hook"], input=raw, capture_output=True, env=env, timeout=120)
        return p.returncode, p.stdout + p.stderr, time.monotonic() - t0

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(run, collected + big))
    out = Fuzz()
    out.bad = [
        (raw[:200], rc, o[:200]) for raw, (rc, o, _t) in zip(collected + big, results, strict=True) if rc != 0 or o
    ]
    out.stats.update(
        cases=len(results),
        nonzero=sum(1 for rc, _o, _t in results if rc != 0),
        printed=sum(1 for _rc, o, _t in results if o),
        slowest_s=round(max(t for _r, _o, t in results), 3),
    )
    return out


def test_fuzzed_payloads_through_the_cli_entry_point(worker_fuzz):
    if worker_fuzz.error is not None:
        raise worker_fuzz.error
    assert worker_fuzz.stderr == "", worker_fuzz.stderr[-2000:]
    assert worker_fuzz.stats["cases"] >= WORKER_CASES * 0.9  # hypothesis may stop early only on exhaustion


def test_fuzzed_payloads_as_separate_processes(process_fuzz):
    assert process_fuzz.stats["cases"] >= PROCESS_CASES * 0.9  # as above
    assert not process_fuzz.bad, process_fuzz.bad[:5]


def test_drain_reads_everything_the_fuzz_spooled(fuzz_home, worker_fuzz, process_fuzz, fault_row):
    """A real drain over every fuzzed session (both runs above, into the same home): no
    error, no internal problem anywhere."""
    env = child_env(fuzz_home, None)
    flush = cli(["flush", "--timeout", "120"], env, timeout=300)
    log = Path(capture.spool_root(fuzz_home)) / capture.LOG_FILE
    kinds: dict[str, int] = {}
    for p in (log.with_name(log.name + ".1"), log):
        if p.exists():
            for line in p.read_bytes().splitlines():
                kind = json.loads(line).get("kind")
                kinds[kind] = kinds.get(kind, 0) + 1
    w, pr = worker_fuzz.stats, process_fuzz.stats
    total = w["cases"] + w["big"] + pr["cases"]
    out = (flush.stdout + flush.stderr).decode(errors="replace")
    fault_row(
        "6.input.hook_fuzz",
        "Input",
        f"fuzzed hook payloads (hypothesis): {total:,} cases",
        "exit codes, output, internal errors, valid payloads spooled, then a real drain over all of it",
        f"{total:,} payloads ({w['cases']:,} through the CLI entry point in a worker, "
        f"{pr['cases']:,} as separate `otel-agents hook` processes, {w['big']} of 10 MB): "
        f"{w['nonzero'] + pr['nonzero']} non-zero exits, {w['printed'] + pr['printed']} printed anything, "
        f"{kinds.get('internal', 0)} internal errors; slowest hook process {pr['slowest_s']:.2f} s; "
        f"{w['spooled']:,} spooled; problems logged by kind "
        f"{dict(sorted((k, v) for k, v in kinds.items() if k))}; drain exit {flush.returncode}",
        cases=total,
        kinds=kinds,
        drain=out[-500:],
    )
    assert total >= 10_000
    assert flush.returncode == 0, out[-3000:]
    assert "error" not in out.lower(), out[-3000:]
    assert kinds.get("internal", 0) == 0 and kinds.get("drain", 0) == 0, kinds


# --- Codex CLI and Gemini CLI payloads ---------------------------------------------------------------------
from otel_agents.agent_cli.install import EVENTS as AGENT_CLI_EVENTS  # noqa: E402

AGENT_CASES = n(3_000, 20_000)
agent_payloads = {
    agent: st.fixed_dictionaries(
        {
            "session_id": st.one_of(st.sampled_from(SESSIONS), field_values),
            "hook_event_name": st.one_of(
                st.sampled_from([*AGENT_CLI_EVENTS[agent][0], "StopFailure", "Unknown"]), field_values
            ),
        },
        optional={
            "transcript_path": st.one_of(st.sampled_from(["/nonexistent/r.jsonl", "/dev/zero", "/", ""]), field_values),
            "cwd": field_values,
            "turn_id": st.one_of(st.sampled_from(["turn-1", "turn-2"]), field_values),
            "tool_name": st.one_of(st.sampled_from(["Bash", "apply_patch", "read_file", "mcp__s__t"]), field_values),
            "tool_use_id": st.one_of(st.sampled_from(["call_1", "call_2"]), field_values),
            "tool_input": field_values,
            "tool_response": field_values,
            "prompt": field_values,
            "prompt_response": field_values,
            "last_assistant_message": field_values,
            "timestamp": field_values,
            "model": field_values,
            "source": field_values,
            "reason": field_values,
            "permission_mode": field_values,
            "agent_id": field_values,
            "agent_type": field_values,
            "deep": st.integers(min_value=1, max_value=900).map(_nested),
        },
    )
    for agent in AGENT_CLI_EVENTS
}


@pytest.mark.parametrize("agent", sorted(AGENT_CLI_EVENTS))
def test_fuzzed_agent_cli_payloads_then_a_drain(agent, tmp_path, fault_row):
    """Codex CLI and Gemini CLI payloads (``otel-agents hook codex|gemini``) fuzzed as the
    Claude Code ones, through the CLI entry point; then a real drain of every fuzzed session."""
    home = tmp_path / "home"
    out = Fuzz()
    worker = Worker(home, agent)
    cases = st.tuples(
        agent_payloads[agent],
        json_values,
        st.binary(max_size=1024),
        st.integers(min_value=0, max_value=2**32),
        st.integers(min_value=1, max_value=200_000),
    )
    try:

        @settings(
            max_examples=AGENT_CASES // PER_EXAMPLE + 1,
            deadline=None,
            database=None,
            derandomize=not SOAK,
            suppress_health_check=list(HealthCheck),
        )
        @given(cases)
        def fuzz(case: tuple[Any, Any, bytes, int, int]) -> None:
            for raw in expand(case):
                res = worker.run(raw)
                out.tally(res)
                check(res, raw)

        fuzz()
    finally:
        stderr = worker.close()
    assert stderr == "", stderr[-2000:]
    env = child_env(home, None, OTEL_AGENTS_STRICT="1")  # the drain raises on any failure it reports
    drain = subprocess.run(
        [PY, "-c", f"from otel_agents.agent_cli.export import drain; drain({str(home)!r}, {agent!r})"],
        capture_output=True,
        env=env,
        timeout=600,
    )
    log = Path(capture.spool_root(home)) / capture.LOG_FILE
    kinds: dict[str, int] = {}
    if log.exists():
        for line in log.read_bytes().splitlines():
            kind = json.loads(line).get("kind")
            kinds[kind] = kinds.get(kind, 0) + 1
    w = out.stats
    fault_row(
        f"6.input.hook_fuzz_{agent}",
        "Input",
        f"fuzzed {agent} hook payloads (hypothesis): {w['cases']:,} cases",
        "exit codes, output, internal errors, valid payloads spooled, then a real drain over all of it",
        f"{w['cases']:,} payloads through `otel-agents hook {agent}`'s entry point: {w['nonzero']} non-zero exits, "
        f"{w['printed']} printed anything, {kinds.get('internal', 0)} internal errors; {w['spooled']:,} spooled; "
        f"drain exit {drain.returncode}",
        cases=w["cases"],
        kinds=kinds,
    )
    assert w["cases"] >= AGENT_CASES * 0.9
    assert drain.returncode == 0 and drain.stderr == b"", drain.stderr[-3000:]
    assert kinds.get("internal", 0) == 0 and kinds.get("drain", 0) == 0, kinds


# --- configuration ------------------------------------------------------------------------------------------
BAD_CONFIGS = {
    "wrong types": (
        'exit_deadline = "soon"\ncapture_content = "maybe"\nservice_name = 42\n'
        '[otlp]\ntimeout = [1, 2]\nenabled = "perhaps"\n[spool]\nmax_file_bytes = 1.5\n'
        '[claude_code]\nauto_drain = 3\nidle_timeout = "forever"\n',
        [
            "exit_deadline",
            "capture_content",
            "service_name",
            "otlp.timeout",
            "otlp.enabled",
            "spool.max_file_bytes",
            "claude_code.auto_drain",
            "claude_code.idle_timeout",
        ],
    ),
    "unknown keys": (
        'exit_dedline = 1.0\nunknown_top = true\n[otlp]\nendpont = "http://127.0.0.1:1"\n[nosuchsection]\nx = 1\n',
        ["exit_dedline", "unknown_top", "otlp.endpont", "nosuchsection.x"],
    ),
    "wrong structure": (
        'otlp = "http://127.0.0.1:1"\nclaude_code = 5\nspool = [1, 2, 3]\n',
        ["otlp", "claude_code", "spool"],
    ),
    "broken TOML": ('exit_deadline = 0.5\n[otlp\nendpoint = "x"\n', ["config.toml"]),
    "not text": (b"\xff\xfe\x00\x01garbage\x00" * 50, ["config.toml"]),
}


@pytest.mark.parametrize("name", list(BAD_CONFIGS))
def test_bad_config_file(tmp_path, receiver, fault_row, name):
    content, keys = BAD_CONFIGS[name]
    home = tmp_path / "home"
    home.mkdir(parents=True)
    (home / "config.toml").write_bytes(content.encode() if isinstance(content, str) else content)
    env = child_env(home, receiver.endpoint)
    run = run_workload(home, receiver.endpoint, [2], pace=0)
    doctor = cli(["doctor", "--json"], env)
    info = json.loads(doctor.stdout)
    effective = {c["name"]: (c["value"], c["source"]) for c in info["config"]}
    from otel_agents.config import SETTINGS

    defaults_applied = all(effective[s.name][1] != "config.toml" or s.name not in keys for s in SETTINGS)
    hook = subprocess.run(
        [OTEL_AGENTS, "hook"],
        env=env,
        capture_output=True,
        timeout=60,
        input=_dumps({"session_id": "cfg", "hook_event_name": "UserPromptSubmit", "prompt": "the prompt text"}),
    )
    spooled = (Path(capture.session_spool(home, "cfg"))).read_bytes()
    log = Path(capture.spool_root(home)) / capture.LOG_FILE
    hook_log = log.read_text() if log.exists() else ""
    messages = [line for line in run.stderr.splitlines() if "config" in line]
    named = [k for k in keys if any(k.split(".")[-1] in m for m in messages)]
    fault_row(
        f"6.input.config.{name.replace(' ', '_')}",
        "Input",
        f"config.toml: {name}",
        "executor exceptions, message naming each bad key, defaults applied, doctor, the hook",
        f"{run.exceptions} exceptions; {len(named)} of {len(keys)} bad keys named in "
        f"{len(messages)} message line(s); defaults applied: {defaults_applied}; doctor lists "
        f"{len(info['problems'])} problem(s); hook exit {hook.returncode}, content not captured: "
        f"{b'the prompt text' not in spooled}",
        messages=messages[:10],
        problems=info["problems"][:10],
        hook_log=hook_log[-500:],
    )
    assert run.exceptions == 0, run.errors
    assert len(run.ids) == 2 * 26
    assert named == keys, (keys, messages)
    assert defaults_applied, effective
    assert effective["exit_deadline"][0] == 0.5 and effective["capture_content"][0] is False
    assert info["problems"], "doctor shows the problem"
    assert all(k.split(".")[-1] in " ".join(info["problems"]) or k == "config.toml" for k in keys)
    assert hook.returncode == 0 and hook.stdout == hook.stderr == b""
    assert b"the prompt text" not in spooled
    assert '"kind": "config"' in hook_log or '"kind":"config"' in hook_log or name == "unknown keys", hook_log


# --- executor data that is not valid Unicode -------------------------------------------------------------------
@pytest.mark.parametrize("capture", ["off", "on"])
def test_executor_data_that_is_not_valid_unicode(tmp_path, receiver, fault_row, capture):
    """Workflow, phase, step, tool and model names, ids, attributes, arguments, results and
    error texts holding lone surrogates (a file name with bytes that are not UTF-8, decoded by
    ``os.fsdecode``) and NULs: every sink, replay and reconcile take every span."""
    home = tmp_path / "home"
    k = n(5, 50)
    extra = {"OTEL_AGENTS_CAPTURE_CONTENT": "1" if capture == "on" else "0"}
    run = run_workload(home, receiver.endpoint, [k], load="odd", env_extra=extra)
    case = measure(home, run, None, [], healthy=receiver, env_extra=extra)
    fault_row(
        f"6.input.unicode.{capture}",
        "Input",
        f"executor data with lone surrogates and NULs (content capture {capture})",
        "standard",
        case=case,
    )
    assert len(run.ids) == 5 * k
    assert_clean(case)
    assert case.live["receiver"]["lost"] == 0 and case.live["analytics"]["lost"] == 0
