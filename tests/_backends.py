"""Jaeger v2 and the OpenTelemetry Collector as real processes for the end-to-end tests.

Both binaries are built by ``make backends`` (``backends/build.sh``) into ``.backends/bin``
(``OTEL_AGENTS_BACKENDS_BIN`` overrides the folder). Without them the tests skip, saying
why, except under ``CI=true``, where a missing binary fails the test.

``Jaeger`` runs Jaeger v2 with in-memory storage on free loopback ports and reads traces back
through its query API (``/api/v3``, OTLP/JSON). ``Collector`` runs our collector distribution
with files from ``collector-config/``: every address and directory those files take from the
environment (``OTELCOL_*``, ``JAEGER_OTLP_ENDPOINT``, ...) points at loopback ports and a
temporary folder, and one override turns off the collector's own metrics endpoint (a fixed
port, 8888, that parallel collectors would share).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _phoenix import _port_open, free_port
from _waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("OTEL_AGENTS_BACKENDS_BIN") or ROOT / ".backends" / "bin")
CONFIGS = ROOT / "collector-config"
READY = "Everything is ready. Begin running and processing data."
START_TIMEOUT_S = 60.0
NO_OWN_METRICS = "yaml:service::telemetry::metrics::level: none"


def binary(name: str) -> Path:
    """The path of ``jaeger`` or ``otelcol``; skips (fails under CI=true) when it is missing."""
    exe = BIN / name
    if os.access(exe, os.X_OK):
        return exe
    why = "no Go toolchain on this machine" if shutil.which("go") is None else "not built yet"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{exe} is missing ({why}): under CI=true the backend end-to-end tests must run")
    pytest.skip(f"{exe} is missing ({why}): `make backends` builds Jaeger and the collector with Go")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OTELCOL_", "PYTEST_"))}
    env.update(extra)
    return env


@dataclass
class _Process:
    """A server process whose output goes to ``workdir/<name>.log``."""

    workdir: Path
    name: str = "process"
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _spawn(self, argv: list[str], env: dict[str, str]) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def _wait_ready(self, ready: Any) -> None:
        def up() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            return bool(ready())

        wait_until(up, START_TIMEOUT_S, lambda: f"{self.name} to start:\n{self.log()[-4000:]}")

    def stop(self) -> int | None:
        """SIGTERM (a clean shutdown: queues are flushed or persisted), then the exit status."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        return proc.returncode


JAEGER_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query_port}
    grpc:
      endpoint: 127.0.0.1:{query_grpc_port}
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  batch:
    timeout: 200ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


@dataclass
class Jaeger(_Process):
    """Jaeger v2 with in-memory storage: OTLP in, the query API out, all on loopback."""

    name: str = "jaeger"
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    query_port: int = field(default_factory=free_port)
    query_grpc_port: int = field(default_factory=free_port)

    @property
    def otlp_grpc(self) -> str:
        """``host:port`` of the OTLP/gRPC receiver, as collector exporters take it."""
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> Jaeger:
        exe = binary("jaeger")
        config = self.workdir / "jaeger-config.yaml"
        self.workdir.mkdir(parents=True, exist_ok=True)
        config.write_text(JAEGER_CONFIG.format(**vars(self)))
        self._spawn([str(exe), f"--config={config}"], _clean_env())
        self._wait_ready(lambda: READY in self.log() and _port_open(self.grpc_port) and _port_open(self.query_port))
        return self

    def _get(self, path: str, **query: str) -> Any:
        url = f"http://127.0.0.1:{self.query_port}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            raise

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans of one trace (``GET /api/v3/traces/{id}``, raw: as stored), [] if unknown."""
        return _spans(self._get(f"/api/v3/traces/{trace_id}", raw_traces="true"))

    def traces(self, service: str) -> dict[str, list[dict[str, Any]]]:
        """Every trace of ``service`` in the last day, by trace id (``GET /api/v3/traces``)."""
        now = time.time()
        doc = self._get(
            "/api/v3/traces",
            **{
                "query.service_name": service,
                "query.start_time_min": _rfc3339(now - 86400),
                "query.start_time_max": _rfc3339(now + 86400),
                "query.num_traces": "10000",
                "query.raw_traces": "true",
            },
        )
        out: dict[str, list[dict[str, Any]]] = {}
        for span in _spans(doc):
            out.setdefault(span["traceId"], []).append(span)
        return out

    def wait_for_trace(self, trace_id: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The trace once at least ``count`` spans of it are stored."""
        spans: list[dict[str, Any]] = []

        def enough() -> bool:
            nonlocal spans
            spans = self.trace(trace_id)
            return len(spans) >= count

        wait_until(enough, timeout, lambda: f"{count} spans of trace {trace_id} in Jaeger (has {len(spans)})")
        return spans


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _value(v: dict[str, Any]) -> Any:
    """An OTLP/JSON AnyValue as Python."""
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


def flat_span(span: dict[str, Any], resource: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OTLP/JSON span with ``attrs`` (its attributes as a dict) and ``resource_attrs``."""
    attrs = {a["key"]: _value(a["value"]) for a in span.get("attributes", [])}
    res = {a["key"]: _value(a["value"]) for a in (resource or {}).get("attributes", [])}
    return dict(span, attrs=attrs, resource_attrs=res)


def _spans(doc: Any) -> list[dict[str, Any]]:
    if not doc:
        return []
    out = []
    for rs in (doc.get("result") or doc).get("resourceSpans") or []:
        for ss in rs.get("scopeSpans") or []:
            out += [flat_span(s, rs.get("resource")) for s in ss.get("spans") or []]
    return out


@dataclass
class Collector(_Process):
    """Our collector distribution running ``configs`` (file names in collector-config/).

    ``env`` adds to the loopback/temporary-folder environment built here; ``overrides`` are
    extra ``--config=yaml:...`` settings merged last.
    """

    name: str = "otelcol"
    configs: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()
    grpc_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    health_port: int = field(default_factory=free_port)

    @property
    def storage_dir(self) -> Path:
        return self.workdir / "file_storage"

    @property
    def otlp_http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def environment(self) -> dict[str, str]:
        return _clean_env(
            HOME=str(self.workdir / "home"),  # agent.yaml and spool-tail.yaml keep their state under $HOME
            OTELCOL_OTLP_GRPC_ENDPOINT=f"127.0.0.1:{self.grpc_port}",
            OTELCOL_OTLP_HTTP_ENDPOINT=f"127.0.0.1:{self.http_port}",
            OTELCOL_HEALTH_CHECK_ENDPOINT=f"127.0.0.1:{self.health_port}",
            OTELCOL_FILE_STORAGE_DIR=str(self.storage_dir),
            **self.env,
        )

    def argv(self) -> list[str]:
        args = [f"--config={CONFIGS / c}" for c in self.configs]
        return args + [f"--config={o}" for o in (NO_OWN_METRICS, *self.overrides)]

    def validate(self) -> subprocess.CompletedProcess[str]:
        exe = binary("otelcol")
        return subprocess.run(
            [str(exe), "validate", *self.argv()], env=self.environment(), capture_output=True, text=True, timeout=120
        )

    def start(self) -> Collector:
        exe = binary("otelcol")
        start_offset = len(self.log())
        self._spawn([str(exe), *self.argv()], self.environment())
        self._wait_ready(lambda: READY in self.log()[start_offset:])
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/", timeout=5) as resp:
                return resp.status == 200
        except OSError:
            return False
