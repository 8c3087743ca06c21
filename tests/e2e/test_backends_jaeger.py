"""End to end through the software users deploy: otel-agents -> the OpenTelemetry Collector
running collector-config/*.yaml -> Jaeger v2 (in-memory) -> Jaeger's query API.

What Jaeger returns is compared with the local spool span by span (ids, tree, names, kinds,
status, every attribute), and with the demo's known totals (tokens, cost, roll-ups). Then the
promises of the configurations: the persistent queue across a collector restart with Jaeger
down, tail sampling on our attribute names, the spool tail, and tempo.yaml's collector side.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from _backends import Collector, Jaeger, flat_span
from _phoenix import free_port

from otel_agents import attributes as A
from otel_agents.sinks.spool import iter_records, spool_files

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "otel-agents")
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "claude-code" / "basic-session"
DEMO_SPANS = 26
# the demo's exact totals (otel_agents/demo.py): six model calls on Sonnet 4.5 and Haiku 4.5
DEMO_INPUT, DEMO_OUTPUT, DEMO_COST = 85600, 4850, 0.1337
ERROR = 2  # OTLP status code
JAEGER_WARNINGS = "@jaeger@warnings"  # where Jaeger notes what it changed in a span


@pytest.fixture(scope="module")
def jaeger(tmp_path_factory) -> Any:
    j = Jaeger(workdir=tmp_path_factory.mktemp("jaeger"))
    j.start()
    try:
        yield j
    finally:
        j.stop()


@pytest.fixture
def collector(tmp_path) -> Any:
    """Collectors made by a test (``collector(configs, env)``), all stopped at its end."""
    made: list[Collector] = []

    def make(configs: tuple[str, ...], env: dict[str, str], overrides: tuple[str, ...] = ()) -> Collector:
        col = Collector(workdir=tmp_path / f"col{len(made)}", configs=configs, env=env, overrides=overrides)
        made.append(col)
        return col

    yield make
    for col in made:
        col.stop()


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PYTEST_"))}
    env.update(OTEL_AGENTS_HOME=str(home), OTEL_AGENTS_REPLAY_ON_START="false", OTEL_AGENTS_EXIT_DEADLINE="10")
    env.update(extra)
    return env


def run_demo(home: Path, service: str, endpoint: str | None) -> str:
    """One ``otel-agents demo`` workflow; OTLP/HTTP to ``endpoint`` (None: spool only)."""
    otlp = (
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{endpoint}/v1/traces", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}
        if endpoint
        else {"OTEL_AGENTS_OTLP_ENABLED": "false"}
    )
    out = subprocess.run(
        [CLI, "demo", "--pace", "0"],
        env=_env(home, OTEL_SERVICE_NAME=service, **otlp),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    if endpoint:
        assert f"otlp: {DEMO_SPANS} spans delivered" in out.stdout, out.stdout
    return out.stdout


def spool_traces(home: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The spooled spans: trace id -> span id -> span (``attrs``, ``resource_attrs``)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for path in spool_files(home / "spans"):
        for _o, _e, doc in iter_records(path):
            for rs in doc.get("resourceSpans", []):
                for ss in rs.get("scopeSpans", []):
                    for s in ss.get("spans", []):
                        out.setdefault(s["traceId"], {})[s["spanId"]] = flat_span(s, rs.get("resource"))
    return out


def assert_same_spans(remote: list[dict[str, Any]], local: dict[str, dict[str, Any]]) -> None:
    """Jaeger holds exactly the spooled spans of a trace, each as it was sent."""
    ids = [s["spanId"] for s in remote]
    assert len(ids) == len(set(ids)), "a span is stored twice"
    assert set(ids) == set(local)
    for s in remote:
        mine = local[s["spanId"]]
        got = (s["name"], s.get("parentSpanId", ""), s.get("kind"), (s.get("status") or {}).get("code", 0))
        want = (mine["name"], mine.get("parentSpanId", ""), mine.get("kind"), (mine.get("status") or {}).get("code", 0))
        assert got == want, mine["name"]
        start, end = int(mine["startTimeUnixNano"]), int(mine["endTimeUnixNano"])
        attrs = dict(s["attrs"])
        if end <= start:  # Jaeger stores a zero-length span as 1 ns long, with a warning
            end = start + 1
            (warning,) = attrs.pop(JAEGER_WARNINGS)
            assert warning.startswith("Negative duration detected, sanitizing end timestamp."), warning
        assert (int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])) == (start, end), mine["name"]
        assert attrs == mine["attrs"], mine["name"]
        assert s["resource_attrs"] == mine["resource_attrs"]


def assert_demo_trace(spans: list[dict[str, Any]]) -> None:
    """The demo workflow's shape and totals, as read back from Jaeger."""
    (root,) = [s for s in spans if not s.get("parentSpanId")]
    assert root["name"] == "invoke_workflow fix-cart-total"
    assert root["attrs"][A.GEN_AI_OPERATION_NAME] == A.OP_INVOKE_WORKFLOW
    assert root["attrs"][A.KIND] == A.KIND_WORKFLOW
    assert (root["attrs"][A.ROLLUP_INPUT_TOKENS], root["attrs"][A.ROLLUP_OUTPUT_TOKENS]) == (DEMO_INPUT, DEMO_OUTPUT)
    assert root["attrs"][A.ROLLUP_COST_AMOUNT] == pytest.approx(DEMO_COST, abs=1e-12)
    assert root["attrs"][A.ROLLUP_MODEL_CALLS] == 6
    phases = sorted(s["name"] for s in spans if s.get("parentSpanId") == root["spanId"])
    assert phases == ["phase build", "phase plan", "phase review", "phase test"]
    chats = [s for s in spans if s["attrs"].get(A.GEN_AI_OPERATION_NAME) == A.OP_CHAT]
    assert len(chats) == 6
    assert {s["kind"] for s in chats} == {3}  # CLIENT
    assert {s["kind"] for s in spans if s not in chats} == {1}  # INTERNAL
    assert sum(s["attrs"][A.GEN_AI_USAGE_INPUT_TOKENS] for s in chats) == DEMO_INPUT
    assert sum(s["attrs"][A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in chats) == DEMO_OUTPUT
    assert sum(s["attrs"][A.GEN_AI_USAGE_COST_AMOUNT] for s in chats) == pytest.approx(DEMO_COST, abs=1e-12)
    errors = sorted(s["name"] for s in spans if (s.get("status") or {}).get("code") == ERROR)
    assert errors == ["execute_tool Bash", "invoke_agent tester"]


def test_two_workflows_through_the_collector_into_jaeger(jaeger, collector, tmp_path):
    """Two demo runs -> jaeger.yaml -> Jaeger: two traces, each exactly as spooled."""
    col = collector(("jaeger.yaml",), {"JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc}).start()
    service = f"e2e-jaeger-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    run_demo(home, service, col.otlp_http)
    run_demo(home, service, col.otlp_http)
    local = spool_traces(home)
    assert len(local) == 2 and all(len(t) == DEMO_SPANS for t in local.values())
    for trace_id, spans in local.items():
        remote = jaeger.wait_for_trace(trace_id, DEMO_SPANS)
        assert_same_spans(remote, spans)
        assert_demo_trace(remote)
        assert {s["resource_attrs"]["service.name"] for s in remote} == {service}
    by_service = jaeger.traces(service)
    assert sorted(by_service) == sorted(local)  # one trace per workflow, nothing else
    assert col.stop() == 0


def test_claude_code_session_through_the_collector_into_jaeger(jaeger, collector, tmp_path):
    """The shared Claude Code fixture, through real hook processes and ``otel-agents flush``."""
    col = collector(("jaeger.yaml",), {"JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc}).start()
    sid = f"cc-{uuid.uuid4()}"
    text = (FIXTURE / "events.jsonl").read_text().replace("{FIXTURE_DIR}", str(FIXTURE))
    events = [dict(json.loads(line), session_id=sid) for line in text.splitlines() if line.strip()]
    home = tmp_path / "home"
    env = _env(
        home,
        OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="0",
        OTEL_AGENTS_OTLP_PROTOCOL="http/protobuf",
        OTEL_AGENTS_OTLP_ENDPOINT=f"{col.otlp_http}/v1/traces",
    )
    for ev in events:
        p = subprocess.run([CLI, "hook"], input=json.dumps(ev).encode(), capture_output=True, env=env, timeout=60)
        assert (p.returncode, p.stdout, p.stderr) == (0, b"", b"")
    p = subprocess.run([CLI, "flush"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr

    local = spool_traces(home)
    assert len(local) == 1  # one trace for the session
    ((trace_id, mine),) = local.items()
    assert len(mine) == 12
    spans = jaeger.wait_for_trace(trace_id, 12)
    assert_same_spans(spans, mine)
    names = sorted(s["name"] for s in spans)
    assert (
        names.count("invoke_workflow shop-api") == 1
    )  # the project names the session and names.count("phase turn") == 1
    assert {s["attrs"][A.WORKFLOW_ID] for s in spans} == {sid}
    tools = {s["attrs"][A.GEN_AI_TOOL_CALL_ID]: s for s in spans if s["name"].startswith("execute_tool")}
    assert sorted(tools) == ["toolu_01A", "toolu_01B", "toolu_01C", "toolu_01D"]
    assert [t for t, s in tools.items() if (s.get("status") or {}).get("code") == ERROR] == ["toolu_01C"]
    chats = [s["attrs"] for s in spans if s["name"].startswith("chat ")]
    assert len(chats) == 5
    assert sum(c[A.GEN_AI_USAGE_INPUT_TOKENS] for c in chats) == 76375
    assert sum(c[A.GEN_AI_USAGE_OUTPUT_TOKENS] for c in chats) == 505
    assert sum(c[A.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] for c in chats) == 71320
    assert sum(c[A.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] for c in chats) == 5020
    (root,) = [s["attrs"] for s in spans if not s.get("parentSpanId")]
    assert (root[A.ROLLUP_INPUT_TOKENS], root[A.ROLLUP_OUTPUT_TOKENS]) == (76375, 505)
    assert root[A.ROLLUP_COST_AMOUNT] == pytest.approx(sum(c[A.GEN_AI_USAGE_COST_AMOUNT] for c in chats), abs=1e-12)


def test_persistent_queue_survives_a_collector_restart_while_jaeger_is_down(collector, tmp_path):
    """Jaeger down: the collector accepts the workflow, keeps it on disk through a restart,
    and delivers it once Jaeger is up."""
    late = Jaeger(workdir=tmp_path / "jaeger")  # not started: its OTLP port is closed
    env = {"JAEGER_OTLP_ENDPOINT": late.otlp_grpc}
    first = collector(("jaeger.yaml",), env).start()
    home = tmp_path / "home"
    run_demo(home, f"e2e-queue-{uuid.uuid4().hex[:8]}", first.otlp_http)  # accepted by the collector
    assert first.stop() == 0
    queue_files = [p.name for p in first.storage_dir.iterdir()]
    assert any("otlp_jaeger" in n for n in queue_files), queue_files
    late.start()
    try:
        second = collector(("jaeger.yaml",), env)
        second.workdir = first.workdir  # same file_storage folder, as after a restart
        second.grpc_port, second.http_port, second.health_port = first.grpc_port, first.http_port, first.health_port
        second.start()
        ((trace_id, mine),) = spool_traces(home).items()
        remote = late.wait_for_trace(trace_id, DEMO_SPANS, timeout=90)
        assert_same_spans(remote, mine)
    finally:
        late.stop()


# --- tail sampling --------------------------------------------------------------------------
MINUTE_NS = 60 * 10**9


def _variant(
    template: list[dict[str, Any]], service: str, *, error: bool, stretch: str = "", minutes: float = 0
) -> dict[str, Any]:
    """A copy of the demo's OTLP request as a new trace: its errors kept or cleared, and the
    spans of kind ``stretch`` (otel_agents.kind: workflow, tool_call) lasting ``minutes``."""
    trace_id = uuid.uuid4().hex
    doc = {"resourceSpans": json.loads(json.dumps(template))}
    for rs in doc["resourceSpans"]:
        for a in rs["resource"]["attributes"]:
            if a["key"] == "service.name":
                a["value"] = {"stringValue": service}
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                s["traceId"] = trace_id
                if not error:
                    s["status"] = {}
                kind = flat_span(s)["attrs"][A.KIND]
                if kind == stretch:
                    s["endTimeUnixNano"] = str(int(s["startTimeUnixNano"]) + int(minutes * MINUTE_NS))
    return doc


def _post(endpoint: str, doc: dict[str, Any]) -> None:
    req = urllib.request.Request(
        f"{endpoint}/v1/traces", json.dumps(doc).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def test_tail_sampling_keeps_errors_and_slow_workflows_and_a_share_of_the_rest(jaeger, collector, tmp_path):
    """tail-sampling.yaml on traces otel-agents wrote (the demo's spans, with our attribute
    names): every trace with an error, a workflow over ten minutes or a tool call over two
    is kept; of the other traces (fast, or slow but under those limits), about 10%."""
    home = tmp_path / "home"
    run_demo(home, "template", None)
    template = [doc["resourceSpans"] for p in spool_files(home / "spans") for _o, _e, doc in iter_records(p)]
    template = [rs for group in template for rs in group]
    service = f"e2e-sampling-{uuid.uuid4().hex[:8]}"
    must_keep = [_variant(template, service, error=True) for _ in range(10)]
    must_keep += [_variant(template, service, error=False, stretch=A.KIND_WORKFLOW, minutes=11) for _ in range(10)]
    must_keep += [_variant(template, service, error=False, stretch=A.KIND_TOOL_CALL, minutes=3) for _ in range(10)]
    rest = [_variant(template, service, error=False) for _ in range(150)]
    rest += [_variant(template, service, error=False, stretch=A.KIND_WORKFLOW, minutes=9) for _ in range(25)]
    rest += [_variant(template, service, error=False, stretch=A.KIND_TOOL_CALL, minutes=1.5) for _ in range(25)]
    sent = must_keep[:-1] + rest
    random.shuffle(sent)
    sent.append(must_keep[-1])  # the last one sent is one that must be kept

    col = collector(
        ("tail-sampling.yaml",),
        # Tempo is not run here: its exporter queues for a closed port (tempo.yaml is tested below)
        {"JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc, "TEMPO_OTLP_ENDPOINT": f"127.0.0.1:{free_port()}"},
        # decide 2 s after a trace's first span instead of 120 s; all spans come in one request
        overrides=("yaml:processors::tail_sampling::decision_wait: 2s",),
    ).start()
    for doc in sent:
        _post(col.otlp_http, doc)

    def tid(doc: dict[str, Any]) -> str:
        return str(doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"])

    for doc in must_keep:
        assert len(jaeger.wait_for_trace(tid(doc), DEMO_SPANS)) == DEMO_SPANS
    # every trace sent so far has been decided and flushed once a trace sent later arrives
    sentinel = _variant(template, service, error=True)
    _post(col.otlp_http, sentinel)
    jaeger.wait_for_trace(tid(sentinel), DEMO_SPANS)

    stored = jaeger.traces(service)
    assert all(len(spans) == DEMO_SPANS for spans in stored.values())  # kept traces are whole
    kept_rest = [d for d in rest if tid(d) in stored]
    assert set(stored) == {tid(d) for d in [*must_keep, sentinel, *kept_rest]}
    # 10% of 200: binomial, mean 20, sd 4.2; these bounds fail once in ~10^5 runs
    assert 5 <= len(kept_rest) <= 40, len(kept_rest)


# --- spool tail -----------------------------------------------------------------------------
def test_spool_tail_forwards_each_spooled_span_once_across_a_restart(jaeger, collector, tmp_path):
    """spool-tail.yaml reads the spool as otel-agents writes it (OTLP off), across a
    collector restart: every span reaches Jaeger, none twice."""
    home = tmp_path / "home"
    (home / "spans").mkdir(parents=True)
    env = {
        "OTEL_AGENTS_SPANS": str(home / "spans"),
        "GATEWAY_ENDPOINT": jaeger.otlp_grpc,
        "GATEWAY_INSECURE": "true",
    }
    first = collector(("spool-tail.yaml",), env).start()
    service = f"e2e-spool-{uuid.uuid4().hex[:8]}"
    run_demo(home, service, None)
    ((t1, spans1),) = spool_traces(home).items()
    assert_same_spans(jaeger.wait_for_trace(t1, DEMO_SPANS), spans1)
    assert first.stop() == 0

    second = collector(("spool-tail.yaml",), env)
    second.workdir = first.workdir  # the same read positions (file_storage under $HOME)
    second.start()
    run_demo(home, service, None)  # the spool grows
    (t2,) = set(spool_traces(home)) - {t1}
    assert_same_spans(jaeger.wait_for_trace(t2, DEMO_SPANS), spool_traces(home)[t2])
    # had the restart re-read the file, trace 1's spans would have come again before trace 2's
    assert_same_spans(jaeger.trace(t1), spans1)
    assert sorted(jaeger.traces(service)) == sorted([t1, t2])


# --- tempo.yaml -----------------------------------------------------------------------------
def test_tempo_config_alone_and_merged_with_jaeger(jaeger, collector, tmp_path):
    """tempo.yaml's collector side, its exporter pointed at a Jaeger (Tempo itself is not run
    here), alone and merged with jaeger.yaml (``--config=jaeger.yaml --config=tempo.yaml``):
    merged, each workflow reaches both backends."""
    home = tmp_path / "home"
    alone = collector(("tempo.yaml",), {"TEMPO_OTLP_ENDPOINT": jaeger.otlp_grpc}).start()
    run_demo(home, f"e2e-tempo-{uuid.uuid4().hex[:8]}", alone.otlp_http)
    ((t1, spans1),) = spool_traces(home).items()
    assert_same_spans(jaeger.wait_for_trace(t1, DEMO_SPANS), spans1)
    assert alone.stop() == 0

    other = Jaeger(workdir=tmp_path / "jaeger-as-tempo").start()
    try:
        merged = collector(
            ("jaeger.yaml", "tempo.yaml"),
            {"JAEGER_OTLP_ENDPOINT": jaeger.otlp_grpc, "TEMPO_OTLP_ENDPOINT": other.otlp_grpc},
        ).start()
        run_demo(home, f"e2e-fanout-{uuid.uuid4().hex[:8]}", merged.otlp_http)
        (t2,) = set(spool_traces(home)) - {t1}
        for backend in (jaeger, other):
            assert_same_spans(backend.wait_for_trace(t2, DEMO_SPANS), spool_traces(home)[t2])
        assert other.trace(t1) == []
    finally:
        other.stop()
