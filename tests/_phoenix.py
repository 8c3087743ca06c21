"""Arize Phoenix as a real OTLP backend for end-to-end tests (and rotel as a relay).

Phoenix lives in its own virtual environment (``.phoenix-venv``, made by ``make phoenix``;
``PHOENIX_VENV`` overrides the path) so its ~850 MB of dependencies never mix with ours.
The session-scoped ``phoenix`` fixture starts it on free loopback ports and stops it at
the end; it yields a ``Phoenix`` with ``http_endpoint`` (``http://127.0.0.1:PORT/v1/traces``),
``grpc_endpoint`` (``http://127.0.0.1:PORT``) and ``spans(project)`` reading spans back
through Phoenix's REST API. Note: Phoenix binds its gRPC port on ALL interfaces (only the
HTTP port follows ``PHOENIX_HOST``); nothing is sent to it but loopback traffic.

Phoenix keeps one row per span id: sending a span twice does not show as a duplicate
there, so exactly-once is checked against counting receivers in the unit tests.

Use it from a test module with ``from _phoenix import phoenix  # noqa: F401`` (the
``tests/e2e`` conftest does this already).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PHOENIX_VENV = Path(os.environ.get("PHOENIX_VENV", ROOT / ".phoenix-venv"))
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _missing(what: str) -> None:
    """Skip, except in CI, where a missing receiver is a broken setup, not a reason to skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} is missing: `make test` installs it (make phoenix)")
    pytest.skip(f"{what} is not installed: run `make phoenix`")


@dataclass
class Phoenix:
    """A running Phoenix server."""

    http_port: int
    grpc_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def http_endpoint(self) -> str:
        return f"{self.base_url}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.base_url + path, timeout=30) as resp:
            return json.load(resp)

    def projects(self) -> list[str]:
        return [p["name"] for p in self._get("/v1/projects")["data"]]

    def spans(self, project: str = "default") -> list[dict[str, Any]]:
        """Every span of ``project`` (REST: ``GET /v1/projects/{project}/spans``), all pages."""
        out: list[dict[str, Any]] = []
        cursor = None
        name = urllib.parse.quote(project, safe="")
        while True:
            query = {"limit": "1000"}
            if cursor:
                query["cursor"] = cursor
            try:
                page = self._get(f"/v1/projects/{name}/spans?{urllib.parse.urlencode(query)}")
            except urllib.error.HTTPError as exc:
                if exc.code == 404:  # no span for this project yet
                    return out
                raise
            out += page.get("data") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return out

    def wait_for_spans(self, project: str, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The project's spans once at least ``count`` arrived (Phoenix ingests asynchronously)."""
        deadline = time.monotonic() + timeout
        spans = self.spans(project)
        while len(spans) < count and time.monotonic() < deadline:
            time.sleep(0.5)
            spans = self.spans(project)
        return spans

    def log_tail(self) -> str:
        try:
            return (self.workdir / "phoenix.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""


def start_phoenix() -> Phoenix:
    exe = PHOENIX_VENV / "bin" / "phoenix"
    if not exe.exists():
        _missing(f"Phoenix ({exe})")
    workdir = Path(tempfile.mkdtemp(prefix="phoenix-"))
    ph = Phoenix(free_port(), free_port(), workdir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "PHOENIX_", "PYTEST_"))}
    env.update(
        PHOENIX_WORKING_DIR=str(workdir),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(ph.http_port),
        PHOENIX_GRPC_PORT=str(ph.grpc_port),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    log = open(workdir / "phoenix.log", "wb")
    ph.proc = subprocess.Popen(
        [str(exe), "serve"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ph.proc.poll() is not None:
            raise RuntimeError(f"Phoenix exited with {ph.proc.returncode}:\n{ph.log_tail()}")
        try:
            with urllib.request.urlopen(ph.base_url + "/healthz", timeout=2) as resp:
                if resp.status == 200 and _port_open(ph.grpc_port):
                    return ph
        except OSError:
            pass
        time.sleep(0.5)
    stop_phoenix(ph)
    raise RuntimeError(f"Phoenix did not start within {START_TIMEOUT_S:.0f} s:\n{ph.log_tail()}")


def stop_phoenix(ph: Phoenix) -> None:
    proc = ph.proc
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    shutil.rmtree(ph.workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def phoenix() -> Iterator[Phoenix]:
    """A Phoenix server on loopback for the whole session."""
    ph = start_phoenix()
    try:
        yield ph
    finally:
        stop_phoenix(ph)


# --- rotel: a real collector binary, relaying to Phoenix ------------------------------------
def rotel_binary() -> Path | None:
    """``rotel-agent`` from the wheel in the Phoenix venv (``make phoenix`` tries to install it)."""
    for sp in sorted((PHOENIX_VENV / "lib").glob("python*/site-packages/rotel/rotel-agent")):
        if os.access(sp, os.X_OK):
            return sp
    return None


@dataclass
class Rotel:
    """A running rotel relay: OTLP in on loopback, OTLP/gRPC out to ``upstream``."""

    grpc_port: int
    http_port: int
    workdir: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/v1/traces"

    @property
    def grpc_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.grpc_port}"

    def start(self, upstream_grpc: str) -> Rotel:
        exe = rotel_binary()
        assert exe is not None
        log = open(self.workdir / "rotel.out", "ab")
        self.proc = subprocess.Popen(
            [
                str(exe),
                "start",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{self.grpc_port}",
                "--otlp-http-endpoint",
                f"127.0.0.1:{self.http_port}",
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                upstream_grpc,
                "--pid-file",
                str(self.workdir / "rotel.pid"),
                "--log-file",
                str(self.workdir / "rotel.log"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"rotel exited: {(self.workdir / 'rotel.out').read_text(errors='replace')}")
            if _port_open(self.http_port) and _port_open(self.grpc_port):
                return self
            time.sleep(0.1)
        raise RuntimeError("rotel did not open its ports within 30 s")

    def stop(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # rotel flushes what it holds, then exits
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.proc = None


@pytest.fixture
def rotel(tmp_path: Path) -> Iterator[Rotel]:
    """A rotel relay, NOT started: ``rotel.start(phoenix.grpc_endpoint)``. Skips if the
    rotel wheel did not install on this machine."""
    if rotel_binary() is None:
        pytest.skip("the rotel wheel is not installed here (make phoenix installs it where a wheel exists)")
    r = Rotel(free_port(), free_port(), tmp_path)
    try:
        yield r
    finally:
        r.stop()
