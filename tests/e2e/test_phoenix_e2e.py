"""End to end against software nobody here wrote: ``otel-agents demo`` (a real subprocess of
the installed CLI) sends its trace to Arize Phoenix over gRPC, over HTTP, through a rotel
relay, and, after a run with the receiver down, through ``otel-agents replay``. The spans
Phoenix stores are compared with the local spool: ids, names, tree, tokens and cost."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from otel_agents import attributes as A
from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "otel-agents")
DEMO_SPANS = 26
# the demo's exact totals (otel_agents/demo.py): six model calls on Sonnet 4.5 and Haiku 4.5
DEMO_INPUT, DEMO_OUTPUT, DEMO_COST = 85600, 4850, 0.1337
COMPARED_PREFIXES = ("gen_ai.", "otel_agents.rollup.", "otel_agents.kind", "otel_agents.outcome")


def _value(v: dict[str, Any]) -> Any:
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    for k in ("stringValue", "boolValue"):
        if k in v:
            return v[k]
    return None


def _spool(home: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for p in spool_files(home / "spans"):
        for _o, _e, doc in iter_records(p):
            for s in iter_spans(doc):
                s = dict(s, attrs={a["key"]: _value(a["value"]) for a in s.get("attributes", [])})
                out[s["spanId"]] = s
    return out


def _demo(home: Path, project: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        OTEL_AGENTS_HOME=str(home),
        OTEL_RESOURCE_ATTRIBUTES=f"openinference.project.name={project}",
        OTEL_AGENTS_REPLAY_ON_START="false",
        **env_extra,
    )
    out = subprocess.run([CLI, "demo", "--pace", "0"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out


def _replay(home: Path, endpoint: str, protocol: str = "http/protobuf") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_") and k != "PYTEST_CURRENT_TEST"}
    env.update(
        OTEL_AGENTS_HOME=str(home), OTEL_EXPORTER_OTLP_PROTOCOL=protocol, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint
    )
    return subprocess.run([CLI, "replay"], env=env, capture_output=True, text=True, timeout=120)


def assert_matches_spool(phoenix_spans: list[dict[str, Any]], spool: dict[str, dict[str, Any]]) -> None:
    """Phoenix holds exactly the spooled spans, with the same tree, names, tokens and cost."""
    ids = [s["context"]["span_id"] for s in phoenix_spans]
    assert len(ids) == len(set(ids)) == DEMO_SPANS
    assert set(ids) == set(spool)
    by_id = {s["context"]["span_id"]: s for s in phoenix_spans}
    for sid, local in spool.items():
        remote = by_id[sid]
        assert remote["name"] == local["name"]
        assert remote["context"]["trace_id"] == local["traceId"]
        assert (remote["parent_id"] or "") == local.get("parentSpanId", "")
        for key, value in local["attrs"].items():
            if key.startswith(COMPARED_PREFIXES):
                got = remote["attributes"].get(key)
                assert got == pytest.approx(value) if isinstance(value, float) else got == value, (local["name"], key)
        assert (remote["status_code"] == "ERROR") == (local.get("status", {}).get("code") == 2)
    (root,) = [s for s in phoenix_spans if not s["parent_id"]]
    assert root["name"] == "invoke_workflow fix-cart-total"
    assert root["attributes"][A.ROLLUP_INPUT_TOKENS] == DEMO_INPUT
    assert root["attributes"][A.ROLLUP_OUTPUT_TOKENS] == DEMO_OUTPUT
    assert root["attributes"][A.ROLLUP_COST_AMOUNT] == pytest.approx(DEMO_COST)
    phases = sorted(s["name"] for s in phoenix_spans if s["parent_id"] == root["context"]["span_id"])
    assert phases == ["phase build", "phase plan", "phase review", "phase test"]
    chats = [s for s in phoenix_spans if s["name"].startswith("chat ")]
    assert len(chats) == 6
    assert sum(s["attributes"][A.GEN_AI_USAGE_INPUT_TOKENS] for s in chats) == DEMO_INPUT
    assert sum(s["attributes"][A.GEN_AI_USAGE_OUTPUT_TOKENS] for s in chats) == DEMO_OUTPUT
    assert sum(s["attributes"][A.GEN_AI_USAGE_COST_AMOUNT] for s in chats) == pytest.approx(DEMO_COST)
    errors = sorted(s["name"] for s in phoenix_spans if s["status_code"] == "ERROR")
    assert errors == ["execute_tool Bash", "invoke_agent tester"]


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_demo_reaches_phoenix(phoenix, tmp_path, protocol):
    project = f"e2e-{protocol.split('/')[0]}-{uuid.uuid4().hex[:8]}"
    endpoint = phoenix.grpc_endpoint if protocol == "grpc" else phoenix.http_endpoint
    home = tmp_path / "home"
    # A generous exit deadline: this test is about the OTLP path, not the deadline (measured by
    # benchmarks/exit_deadline.py); a loaded CI machine can make Phoenix answer slowly.
    out = _demo(
        home,
        project,
        OTEL_EXPORTER_OTLP_PROTOCOL=protocol,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=endpoint,
        OTEL_AGENTS_EXIT_DEADLINE="10",
    )
    assert f"otlp: {DEMO_SPANS} spans delivered to {protocol} -> " in out.stdout
    spool = _spool(home)
    assert len(spool) == DEMO_SPANS
    assert_matches_spool(phoenix.wait_for_spans(project, DEMO_SPANS), spool)
    assert project in phoenix.projects()


def test_demo_through_a_rotel_relay(phoenix, rotel, tmp_path):
    rotel.start(phoenix.grpc_endpoint)
    project = f"e2e-rotel-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    _demo(home, project, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rotel.http_endpoint, OTEL_AGENTS_EXIT_DEADLINE="10")
    rotel.stop()  # rotel flushes on SIGTERM
    assert_matches_spool(phoenix.wait_for_spans(project, DEMO_SPANS), _spool(home))


def test_receiver_down_for_the_whole_run_then_replay(phoenix, rotel, tmp_path):
    """The demo runs while nothing listens at the endpoint; then the receiver starts (rotel
    relaying to Phoenix on that very port); ``otel-agents replay`` delivers every span."""
    project = f"e2e-replay-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    out = _demo(home, project, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=rotel.http_endpoint)
    assert "otlp: 0 spans delivered" in out.stdout and f"{DEMO_SPANS} not delivered" in out.stdout
    spool = _spool(home)
    assert len(spool) == DEMO_SPANS
    assert phoenix.spans(project) == []
    rotel.start(phoenix.grpc_endpoint)  # the receiver comes up
    first = _replay(home, rotel.http_endpoint)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith(f"replayed {DEMO_SPANS} of {DEMO_SPANS} undelivered spans")
    second = _replay(home, rotel.http_endpoint)
    assert second.stdout.startswith("replayed 0 of 0 undelivered spans")  # nothing twice
    rotel.stop()
    assert_matches_spool(phoenix.wait_for_spans(project, DEMO_SPANS), spool)


def test_replay_straight_to_phoenix_over_grpc(phoenix, tmp_path):
    """The same without a relay: receiver down (a closed port), then replay to Phoenix."""
    from _phoenix import free_port

    project = f"e2e-replay-grpc-{uuid.uuid4().hex[:8]}"
    home = tmp_path / "home"
    _demo(
        home,
        project,
        OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )
    spool = _spool(home)
    out = _replay(home, phoenix.grpc_endpoint, protocol="grpc")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"replayed {DEMO_SPANS} of {DEMO_SPANS} undelivered spans to grpc -> ")
    assert_matches_spool(phoenix.wait_for_spans(project, DEMO_SPANS), spool)
