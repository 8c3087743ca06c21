"""OTLP transports with hard deadlines: our own senders over serialized protobuf.

The SDK exporters are not used: their timeouts are not dependable (REFERENCE §4: a gRPC
``timeout=0`` becomes 10 s, ``force_flush`` ignores its timeout, ``OTEL_EXPORTER_OTLP_TIMEOUT``
is read as seconds). Each ``send(body, deadline)`` returns by ``deadline`` (a
``time.monotonic()`` value) or raises ``SendError``. A refused connection fails at once.

Header values (auth tokens) are kept in the sender only: never in an error text, a log
line or a file.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

GRPC_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
#: The gRPC method of each signal (``resolve_target(config, signal)``).
GRPC_METHODS = {"traces": GRPC_METHOD, "metrics": "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"}
PROTOCOLS = ("grpc", "http/protobuf")
MAX_RETRY_AFTER_S = 300.0


class SendError(Exception):
    """A failed export. ``retry_after``: seconds the receiver asked us to wait;
    ``permanent``: resending the same data will not help (4xx other than 408/429)."""

    def __init__(self, message: str, *, retry_after: float | None = None, permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass
class Target:
    """Where and how to send: resolved from the configuration."""

    protocol: str
    endpoint: str  # http: full URL; grpc: URL with scheme, for display
    host: str
    port: int
    path: str
    secure: bool
    timeout: float
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    problems: list[str] = field(default_factory=list)
    explicit: bool = True  # False: nobody configured an endpoint, this is the protocol default
    grpc_method: str = GRPC_METHOD

    def describe(self) -> str:
        n = len(self.headers)
        extra = f", {n} header(s) set (values hidden)" if n else ""
        return f"{self.protocol} -> {self.endpoint} (timeout {self.timeout:g} s{extra})"


def parse_headers(raw: str, problems: list[str]) -> dict[str, str]:
    """``k=v,k2=v2`` (values URL-encoded), per the OTLP exporter spec. Problems never quote values."""
    out: dict[str, str] = {}
    for i, item in enumerate(raw.split(","), start=1):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        key = unquote(key.strip())
        if not sep or not key:
            problems.append(f"otlp.headers: entry {i} is not key=value; ignored")
            continue
        out[key.lower()] = unquote(value.strip())
    return out


def resolve_target(config: Any, signal: str = "traces") -> Target:
    """The OTLP target from ``otlp.*`` settings (``OTEL_EXPORTER_OTLP_*`` or config.toml).

    ``signal``: ``traces``, or ``metrics`` (a base ``OTEL_EXPORTER_OTLP_ENDPOINT`` then gets
    ``/v1/metrics``, and gRPC calls the metrics service)."""
    suffix = f"/v1/{signal}"
    problems: list[str] = []
    protocol = str(config["otlp.protocol"]).strip().lower()
    if protocol not in PROTOCOLS:
        problems.append(f"otlp.protocol {protocol!r} is not supported (grpc, http/protobuf); using http/protobuf")
        protocol = "http/protobuf"
    endpoint = str(config["otlp.endpoint"]).strip()
    source = config.sources.get("otlp.endpoint", "default") if hasattr(config, "sources") else "default"
    timeout = float(config["otlp.timeout"])
    if timeout <= 0:
        problems.append(f"otlp.timeout must be > 0, got {timeout:g}; using 10 s")
        timeout = 10.0
    headers = parse_headers(str(config["otlp.headers"] or ""), problems)
    explicit = bool(endpoint)
    if protocol == "grpc":
        if not endpoint:
            endpoint = "http://localhost:4317"
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
        u = urlsplit(endpoint)
        secure = u.scheme == "https"
        host, port = u.hostname or "localhost", _port(u, 4317, problems)
        shown = f"{u.scheme}://{_hostport(host, port)}"
        return Target(
            protocol, shown, host, port, "", secure, timeout, headers, problems, explicit, GRPC_METHODS[signal]
        )
    if not endpoint:
        endpoint = "http://localhost:4318" + suffix
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    u = urlsplit(endpoint)
    if u.scheme not in ("http", "https"):
        problems.append(f"otlp.endpoint scheme {u.scheme!r} is not http or https")
    path = u.path or ""
    if source == "OTEL_EXPORTER_OTLP_ENDPOINT":
        path = path.rstrip("/") + suffix  # the spec: a base URL for all signals
    elif path in ("", "/"):
        path = suffix
    secure = u.scheme == "https"
    host, port = u.hostname or "localhost", _port(u, 443 if secure else 4318, problems)
    shown = f"{u.scheme}://{_hostport(host, port)}{path}"  # never the query (it may hold a key)
    if u.query:
        path += "?" + u.query
    return Target(protocol, shown, host, port, path, secure, timeout, headers, problems, explicit)


def _port(u: Any, default: int, problems: list[str]) -> int:
    try:
        return u.port or default
    except ValueError:
        problems.append("otlp.endpoint has an invalid port; using the default")
        return default


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = when.timestamp() - time.time()
    return max(0.0, min(secs, MAX_RETRY_AFTER_S))


def _rejected(data: bytes) -> int:
    """``partial_success.rejected_spans`` of an ExportTraceServiceResponse (0 if none)."""
    if not data:
        return 0
    try:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        resp = ExportTraceServiceResponse.FromString(data)
        return int(resp.partial_success.rejected_spans)
    except Exception:  # noqa: BLE001 - a response we cannot read is still a 2xx
        return 0


class HttpSender:
    """OTLP/HTTP protobuf over ``http.client``, one kept-alive connection."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._conn: http.client.HTTPConnection | None = None
        self._headers = {"Content-Type": "application/x-protobuf", "User-Agent": "otel-agents"}
        self._headers.update(target.headers)

    def send(self, body: bytes, deadline: float) -> int:
        """POST ``body``; returns the number of spans the receiver rejected (partial success)."""
        reused = self._conn is not None
        try:
            return self._send_once(body, deadline)
        except SendError as exc:
            if reused and getattr(exc, "stale", False) and deadline - time.monotonic() > 0:
                return self._send_once(body, deadline)  # the kept-alive connection had closed
            raise

    def _send_once(self, body: bytes, deadline: float) -> int:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendError("no time left before the deadline")
        t = self.target
        conn = self._conn
        fresh = conn is None
        if conn is None:
            if t.secure:
                conn = http.client.HTTPSConnection(
                    t.host, t.port, timeout=remaining, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(t.host, t.port, timeout=remaining)
            self._conn = conn
        try:
            if conn.sock is None:
                conn.timeout = remaining
                conn.connect()
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
            conn.request("POST", t.path, body=body, headers=self._headers)
            conn.sock.settimeout(max(0.001, deadline - time.monotonic()))
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            err = SendError(f"{t.endpoint}: {_describe_os_error(exc)}")
            err.stale = not fresh and isinstance(  # type: ignore[attr-defined]
                exc, (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)
            )
            raise err from None
        if resp.will_close:
            self.close()
        status = resp.status
        if 200 <= status < 300:
            return _rejected(data)
        retry_after = parse_retry_after(resp.getheader("Retry-After"))
        permanent = status < 500 and status not in (408, 429)
        raise SendError(f"{t.endpoint}: HTTP {status} {resp.reason}", retry_after=retry_after, permanent=permanent)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001
                pass


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return f"{type(exc).__name__}: {exc}"


class GrpcSender:
    """OTLP/gRPC with an explicit per-call deadline; ``wait_for_ready=False`` fails fast."""

    _RETRYABLE = (
        "UNAVAILABLE",
        "RESOURCE_EXHAUSTED",
        "DEADLINE_EXCEEDED",
        "ABORTED",
        "CANCELLED",
        "OUT_OF_RANGE",
        "DATA_LOSS",
        "UNKNOWN",
        "INTERNAL",
    )

    def __init__(self, target: Target) -> None:
        self.target = target
        self._channel: Any = None
        self._call: Any = None
        self._metadata = tuple(target.headers.items())

    def _ensure(self) -> Any:
        if self._call is None:
            import grpc

            t = self.target
            addr = _hostport(t.host, t.port)
            opts = [
                ("grpc.enable_retries", 0),
                ("grpc.max_send_message_length", -1),
                ("grpc.initial_reconnect_backoff_ms", 200),
                ("grpc.max_reconnect_backoff_ms", 2000),
            ]
            if t.secure:
                self._channel = grpc.secure_channel(addr, grpc.ssl_channel_credentials(), options=opts)
            else:
                self._channel = grpc.insecure_channel(addr, options=opts)
            self._call = self._channel.unary_unary(t.grpc_method)  # bytes in, bytes out
        return self._call

    def send(self, body: bytes, deadline: float) -> int:
        import grpc

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SendError("no time left before the deadline")
        call = self._ensure()
        try:
            data = call(body, timeout=remaining, metadata=self._metadata or None, wait_for_ready=False)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = getattr(code, "name", str(code))
            retry_after = _grpc_retry_after(exc)
            details = exc.details() if hasattr(exc, "details") else ""
            raise SendError(
                f"{self.target.endpoint}: gRPC {name}: {details}"[:300],
                retry_after=retry_after,
                permanent=name not in self._RETRYABLE,
            ) from None
        return _rejected(data)

    def close(self) -> None:
        ch, self._channel, self._call = self._channel, None, None
        if ch is not None:
            try:
                ch.close()
            except Exception:  # noqa: BLE001
                pass


def _grpc_retry_after(exc: Any) -> float | None:
    """The ``RetryInfo`` delay in a gRPC error's status details, if the server sent one."""
    try:
        md = exc.trailing_metadata() or ()
        for key, value in md:
            if key == "grpc-status-details-bin":
                from google.rpc import error_details_pb2, status_pb2

                status = status_pb2.Status.FromString(value)
                for detail in status.details:
                    if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                        info = error_details_pb2.RetryInfo()
                        detail.Unpack(info)
                        d = info.retry_delay
                        delay: float = d.seconds + d.nanos / 1e9
                        return min(MAX_RETRY_AFTER_S, delay)
    except Exception:  # noqa: BLE001
        return None
    return None


def make_sender(target: Target) -> HttpSender | GrpcSender:
    return GrpcSender(target) if target.protocol == "grpc" else HttpSender(target)


def encode_protobuf(spans: Any) -> bytes:
    """An ExportTraceServiceRequest for SDK spans, serialized (the official encoder)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    payload: bytes = encode_spans(spans).SerializeToString()
    return payload
