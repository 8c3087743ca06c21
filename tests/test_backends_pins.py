"""backends/go.mod pins one collector release for both builds: every collector and
collector-contrib module at the versions Jaeger v1.75.0's own go.mod uses (core v0.139.0 /
v1.45.0, contrib v0.139.0), and the components of our distribution are exactly those the
files in collector-config/ use (plus debug)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
GO_MOD = (ROOT / "backends" / "go.mod").read_text()
CORE, CORE_STABLE, CONTRIB, JAEGER = "v0.139.0", "v1.45.0", "v0.139.0", "v1.75.0"
# an old, deprecated module that Jaeger's own dependency graph pins by a pseudo-version
DEPRECATED = {"go.opentelemetry.io/collector/semconv"}


def _requires() -> dict[str, str]:
    return dict(re.findall(r"^\s+(\S+) (v\S+)(?: // indirect)?$", GO_MOD, re.M))


def test_every_collector_module_is_at_the_release_jaeger_uses():
    mods = _requires()
    assert mods["github.com/jaegertracing/jaeger"] == JAEGER
    assert "tool github.com/jaegertracing/jaeger/cmd/jaeger" in GO_MOD
    core = {m: v for m, v in mods.items() if m.startswith("go.opentelemetry.io/collector") and m not in DEPRECATED}
    contrib = {
        m: v for m, v in mods.items() if m.startswith("github.com/open-telemetry/opentelemetry-collector-contrib/")
    }
    assert len(core) > 50 and len(contrib) > 30
    assert {m: v for m, v in core.items() if v not in (CORE, CORE_STABLE)} == {}
    assert {m: v for m, v in contrib.items() if v != CONTRIB} == {}


def test_the_distribution_has_the_components_the_configs_use():
    source = (ROOT / "backends" / "otelcol" / "components.go").read_text()
    factories = set(re.findall(r"^\t\t(\w+)\.NewFactory\(\),$", source, re.M))
    types = {"debug"}
    for name in ("jaeger.yaml", "tempo.yaml", "tail-sampling.yaml", "agent.yaml", "spool-tail.yaml"):
        cfg = yaml.safe_load((ROOT / "collector-config" / name).read_text())
        for section in ("receivers", "processors", "exporters", "extensions"):
            types |= {cid.split("/", 1)[0] for cid in cfg.get(section) or {}}
    package = {
        "otlp": "otlpreceiver", "otlpjsonfile": "otlpjsonfilereceiver", "batch": "batchprocessor",
        "memory_limiter": "memorylimiterprocessor", "tail_sampling": "tailsamplingprocessor",
        "debug": "debugexporter", "file_storage": "filestorage", "health_check": "healthcheckextension",
        "bearertokenauth": "bearertokenauthextension",
    }  # fmt: skip
    assert factories == {package[t] for t in types} | {"otlpexporter", "otlphttpexporter"}
