"""Every collector configuration in collector-config/ loads in the real OpenTelemetry
Collector (``otelcol validate``) and really starts (ready, health check answering, OTLP ports
open), alone and merged the way docs/deploy.md runs them, on loopback ports with its
file_storage directory in a temporary folder. A clean shutdown exits 0."""

from __future__ import annotations

import pytest
from _backends import Collector
from _phoenix import _port_open, free_port

pytestmark = pytest.mark.e2e

# (configs, what they need from the environment besides the loopback ports and folders)
CASES = {
    "jaeger": (("jaeger.yaml",), {}),
    "tempo": (("tempo.yaml",), {}),
    "jaeger+tempo": (("jaeger.yaml", "tempo.yaml"), {}),
    "tail-sampling": (("tail-sampling.yaml",), {}),
    "agent": (("agent.yaml",), {"GATEWAY_TOKEN": "a-token"}),
    "spool-tail": (("spool-tail.yaml",), {}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_validates_and_starts(case, tmp_path):
    configs, extra = CASES[case]
    gateway = f"127.0.0.1:{free_port()}"  # nothing listens: starting must not need the backend
    env = {
        "JAEGER_OTLP_ENDPOINT": gateway,
        "TEMPO_OTLP_ENDPOINT": gateway,
        "GATEWAY_ENDPOINT": gateway,
        "OTEL_AGENTS_SPANS": str(tmp_path / "spans"),
        **extra,
    }
    col = Collector(workdir=tmp_path / "col", configs=configs, env=env)
    checked = col.validate()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    col.start()
    try:
        # no line logged at level error (warnings: the exporter cannot reach its closed port)
        assert [line for line in col.log().splitlines() if "\terror\t" in line] == []
        if "otlp" in _receivers(configs):
            assert _port_open(col.grpc_port) and _port_open(col.http_port)
        if case not in ("agent", "spool-tail"):  # the files with a health_check extension
            assert col.healthy()
        # the queue (and, for spool-tail, the read positions) live in the folder given
        state = col.storage_dir if case not in ("agent", "spool-tail") else col.workdir / "home"
        assert any(p.is_file() for p in state.rglob("*")), sorted(state.rglob("*"))
    finally:
        assert col.stop() == 0, col.log()[-3000:]


def _receivers(configs: tuple[str, ...]) -> set[str]:
    return {"otlpjsonfile"} if configs == ("spool-tail.yaml",) else {"otlp"}


def test_a_broken_config_is_refused(tmp_path):
    """The check above has teeth: the collector refuses an unknown component type."""
    col = Collector(
        workdir=tmp_path,
        configs=("jaeger.yaml",),
        overrides=("yaml:exporters::kafka/x::brokers: [localhost:9092]",),
        env={"JAEGER_OTLP_ENDPOINT": "127.0.0.1:1"},
    )
    checked = col.validate()
    assert checked.returncode != 0
    assert "kafka" in checked.stdout + checked.stderr
