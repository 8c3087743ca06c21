"""The Collector configs in collector-config/, checked by structure: every referenced
component is defined, every pipeline is complete, the queues are persistent and retries never
give up; the compose file mounts what exists. The real collector loads and runs them in
tests/e2e/test_backends_configs.py and tests/e2e/test_backends_jaeger.py."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent / "collector-config"
COLLECTOR_CONFIGS = ["jaeger.yaml", "tempo.yaml", "tail-sampling.yaml", "agent.yaml", "spool-tail.yaml"]
KNOWN_TYPES = {
    "receivers": {"otlp", "otlpjsonfile"},
    "processors": {"memory_limiter", "batch", "tail_sampling"},
    "exporters": {"otlp", "otlphttp"},
    "extensions": {"file_storage", "health_check", "bearertokenauth"},
}
SIGNALS = {"traces", "metrics", "logs"}


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def _default(value: str) -> str:
    """A setting as the collector reads it when its environment variable is unset:
    ``${env:NAME:-default}`` -> ``default``."""
    return re.sub(r"\$\{env:\w+:-([^}]*)\}", r"\1", value)


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """The collector's merge of several --config files: maps merge deeply, lists replace."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def check_structure(cfg: dict[str, Any]) -> list[str]:
    """Every problem a collector would refuse to start with (or that loses data)."""
    errors: list[str] = []
    sections = {s: cfg.get(s) or {} for s in KNOWN_TYPES}
    for section, known in KNOWN_TYPES.items():
        for cid in sections[section]:
            if cid.split("/", 1)[0] not in known:
                errors.append(f"{section}: unknown component type {cid!r}")
    service = cfg.get("service") or {}
    enabled_ext = service.get("extensions") or []
    for ext in enabled_ext:
        if ext not in sections["extensions"]:
            errors.append(f"service.extensions: {ext!r} is not defined")
    pipelines = service.get("pipelines") or {}
    if not pipelines:
        errors.append("service.pipelines: none")
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pname, p in pipelines.items():
        if pname.split("/", 1)[0] not in SIGNALS:
            errors.append(f"pipeline {pname!r}: not a traces/metrics/logs pipeline")
        for kind in ("receivers", "exporters"):
            if not p.get(kind):
                errors.append(f"pipeline {pname!r}: no {kind}")
        for kind in ("receivers", "processors", "exporters"):
            for cid in p.get(kind) or []:
                used[kind].add(cid)
                if cid not in sections[kind]:
                    errors.append(f"pipeline {pname!r}: {kind[:-1]} {cid!r} is not defined")
        procs = p.get("processors") or []
        if procs and procs[0] != "memory_limiter":
            errors.append(f"pipeline {pname!r}: memory_limiter must come first")
        if procs and procs[-1] != "batch":
            errors.append(f"pipeline {pname!r}: batch must come last")
        if "memory_limiter" not in procs or "batch" not in procs:
            errors.append(f"pipeline {pname!r}: needs memory_limiter and batch")
    for kind in used:
        for cid in sections[kind]:
            if cid not in used[kind]:
                errors.append(f"{kind}: {cid!r} is defined but used by no pipeline")
    for cid, exp in sections["exporters"].items():
        exp = exp or {}
        q = exp.get("sending_queue") or {}
        if not q.get("enabled") or not q.get("storage"):
            errors.append(f"exporter {cid!r}: the sending queue must be enabled and persistent")
        elif q["storage"] not in sections["extensions"] or q["storage"] not in enabled_ext:
            errors.append(f"exporter {cid!r}: queue storage {q['storage']!r} is not an enabled extension")
        r = exp.get("retry_on_failure") or {}
        if not r.get("enabled") or r.get("max_elapsed_time") != 0:
            errors.append(f"exporter {cid!r}: retry_on_failure must be enabled with max_elapsed_time: 0")
        auth = (exp.get("auth") or {}).get("authenticator")
        if auth and auth not in enabled_ext:
            errors.append(f"exporter {cid!r}: authenticator {auth!r} is not an enabled extension")
    for cid, ext in sections["extensions"].items():
        if cid.startswith("file_storage") and not (ext or {}).get("directory"):
            errors.append(f"extension {cid!r}: needs a directory")
    rs = sections["receivers"].get("otlp")
    if rs is not None and not ((rs or {}).get("protocols") or {}):
        errors.append("receiver 'otlp': no protocols")
    return errors


@pytest.mark.parametrize("name", COLLECTOR_CONFIGS)
def test_collector_config_structure(name):
    assert check_structure(_load(name)) == []


def test_the_checker_catches_mistakes():
    cfg = _load("jaeger.yaml")
    cfg["service"]["pipelines"]["traces/jaeger"]["processors"] = ["batch", "memory_limiter", "missing"]
    cfg["exporters"]["otlp/jaeger"]["retry_on_failure"]["max_elapsed_time"] = "300s"
    cfg["service"]["extensions"] = ["health_check"]
    errors = check_structure(cfg)
    assert "pipeline 'traces/jaeger': processor 'missing' is not defined" in errors
    assert "pipeline 'traces/jaeger': memory_limiter must come first" in errors
    assert "exporter 'otlp/jaeger': retry_on_failure must be enabled with max_elapsed_time: 0" in errors
    assert "exporter 'otlp/jaeger': queue storage 'file_storage' is not an enabled extension" in errors


def test_jaeger_and_tempo_merge_into_a_fan_out():
    merged = _merge(_load("jaeger.yaml"), _load("tempo.yaml"))
    assert check_structure(merged) == []
    assert set(merged["service"]["pipelines"]) == {"traces/jaeger", "traces/tempo"}
    assert _default(merged["exporters"]["otlp/jaeger"]["endpoint"]) == "jaeger:4317"
    assert _default(merged["exporters"]["otlp/tempo"]["endpoint"]) == "tempo:4317"


def test_tail_sampling_keeps_errors_and_slow_traces():
    cfg = _load("tail-sampling.yaml")
    policies = {p["name"]: p for p in cfg["processors"]["tail_sampling"]["policies"]}
    assert list(policies) == ["keep-errors", "keep-slow-workflows", "keep-slow-calls", "baseline"]
    assert policies["keep-errors"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["baseline"]["probabilistic"]["sampling_percentage"] == 10
    assert cfg["service"]["pipelines"]["traces/sampled"]["processors"] == ["memory_limiter", "tail_sampling", "batch"]


def test_tail_sampling_matches_our_attribute_names():
    from otel_agents import attributes as A

    cfg = _load("tail-sampling.yaml")
    policies = {p["name"]: p for p in cfg["processors"]["tail_sampling"]["policies"]}
    (workflows,) = policies["keep-slow-workflows"]["ottl_condition"]["span"]
    assert workflows.startswith(f'attributes["{A.GEN_AI_OPERATION_NAME}"] == "{A.OP_INVOKE_WORKFLOW}" and ')
    (calls,) = policies["keep-slow-calls"]["ottl_condition"]["span"]
    assert f'attributes["{A.KIND}"] == "{A.KIND_TOOL_CALL}"' in calls
    assert f'attributes["{A.KIND}"] == "{A.KIND_MODEL_CALL}"' in calls


def test_compose_mounts_existing_files_and_wires_the_services():
    compose = _load("docker-compose.yaml")
    services = compose["services"]
    assert set(services) == {"otel-collector", "jaeger", "tempo", "grafana"}
    for name, svc in services.items():
        assert ":" in svc["image"] and not svc["image"].endswith(":latest"), name  # pinned
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith("./"):
                assert (ROOT / src[2:]).is_file(), f"{name}: {src} does not exist"
            else:
                assert src in compose["volumes"], f"{name}: volume {src} is not declared"
    col = services["otel-collector"]
    mounted = {v.split(":")[1] for v in col["volumes"]}
    for arg in col["command"]:
        assert arg.startswith("--config=") and arg.split("=", 1)[1] in mounted
    queue_dir = _default(_load("jaeger.yaml")["extensions"]["file_storage"]["directory"])
    assert any(v.endswith(":" + queue_dir) for v in col["volumes"])
    assert {"4317:4317", "4318:4318"} <= set(col["ports"])
    tempo = _load("tempo-server.yaml")
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    ds = {d["type"]: d["url"] for d in _load("grafana-datasources.yaml")["datasources"]}
    assert ds == {"tempo": "http://tempo:3200", "jaeger": "http://jaeger:16686"}


def test_spool_tail_reads_our_spool_file_names():
    from otel_agents.sinks.spool import SPOOL_GLOB

    cfg = _load("spool-tail.yaml")
    assert cfg["receivers"]["otlpjsonfile"]["include"][0].endswith("/" + SPOOL_GLOB)
