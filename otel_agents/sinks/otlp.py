"""The OTLP sink: gRPC or HTTP/protobuf to a collector, never on the workflow's thread.

Configured by the standard ``OTEL_EXPORTER_OTLP_*`` variables or ``[otlp]`` in
config.toml (see ``transport.resolve_target``). Each batch is sent once, with a hard
deadline: ``otlp.timeout`` normally, the exit deadline once the process is exiting. After
a failure the sink stops trying for a while (1 s doubling to 60 s, or what ``Retry-After``
/ gRPC ``RetryInfo`` asked), so a dead collector costs one refused connection, not one per
batch, and never extends exit. Undelivered spans stay in the spool; replay sends them, in
the background at the next start (``replay.on_start``) or as soon as the collector answers
again, or on ``otel-agents replay``.

Every delivered batch's span ids go to the delivery ledger, under the shared senders' lock,
after dropping any span a concurrent replay delivered meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from otel_agents import threads
from otel_agents.sink_contract import DeliveryError
from otel_agents.sinks.transport import SendError, Target, encode_protobuf, make_sender, resolve_target

MIN_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
REPLAY_START_DELAY_S = 1.0


class OtlpSink:
    """Send finished spans to an OTLP receiver; record what arrived in the ledger."""

    name = "otlp"
    max_batch = 256
    linger = 0.05

    def __init__(self, config: Any) -> None:
        self.config = config
        self.target: Target = resolve_target(config)
        # nobody configured an endpoint: a missing local collector is normal, not worth a
        # warning on every run (doctor and describe() still show it)
        self._quiet = not self.target.explicit
        self.spool = bool(config["spool.enabled"])
        self.recoverable = self.spool  # what we miss is in the spool for replay
        self.replay_on_start = bool(config["replay.on_start"]) and self.spool
        self._sender: Any = None
        self._ledger: Any = None
        self._tail: Any = None
        if self.spool:
            from otel_agents.sinks.ledger import Ledger, LedgerTail

            self._ledger = Ledger(config.home)
            self._tail = LedgerTail(self._ledger)
        self._retry_at = 0.0
        self._backoff = 0.0
        self._last_failure = ""
        self._needs_replay = False
        self._shutdown_deadline: float | None = None
        self._stop = threading.Event()
        self._replay_thread: threading.Thread | None = None
        self.delivered = 0
        self.not_delivered = 0
        self.skipped_replayed = 0

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """On the sink's thread: import what sending needs, and schedule the background
        replay of older undelivered spans."""
        from opentelemetry.exporter.otlp.proto.common import trace_encoder  # noqa: F401

        if self.target.protocol == "grpc":
            import grpc  # noqa: F401
        if self.replay_on_start:
            self._start_replay(delay=REPLAY_START_DELAY_S)

    def begin_shutdown(self, deadline: float) -> None:
        self._shutdown_deadline = deadline
        self._stop.set()

    def after_fork(self) -> None:
        self._sender = None  # a gRPC channel or socket must not cross a fork
        self._stop = threading.Event()
        self._replay_thread = None
        self._shutdown_deadline = None
        if self._ledger is not None:
            from otel_agents.sinks.ledger import Ledger, LedgerTail

            self._ledger = Ledger(self.config.home)
            self._tail = LedgerTail(self._ledger)

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
        if self._ledger is not None:
            self._ledger.close()

    def describe(self) -> str:
        text = f"{self.delivered} spans delivered to {self.target.describe()}"
        if not self.target.explicit:
            text += " (the default: no endpoint configured; set OTEL_EXPORTER_OTLP_ENDPOINT)"
        if self.not_delivered:
            text += f"; {self.not_delivered} not delivered ({self._last_failure})" + (
                "; they are in the spool: `otel-agents replay` sends them" if self.spool else ""
            )
        return text

    # --- export ---------------------------------------------------------------------------
    def export(self, spans: Sequence[Any]) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            self.not_delivered += len(spans)
            raise DeliveryError(
                f"not sent, receiver unavailable ({self._last_failure}); next try in {self._retry_at - now:.1f} s",
                quiet=self._quiet,
            )
        deadline = now + self.target.timeout
        if self._shutdown_deadline is not None:
            deadline = min(deadline, self._shutdown_deadline)
        if self._sender is None:
            self._sender = make_sender(self.target)
        if self._ledger is None:
            self._send(spans, deadline)
            return
        with self._ledger.send_lock(exclusive=False, deadline=deadline) as got:
            if not got:
                self.not_delivered += len(spans)
                raise DeliveryError("not sent: a replay held the senders' lock until the deadline")
            seen = self._tail.refresh()
            if seen:
                fresh = [s for s in spans if f"{s.context.span_id:016x}" not in seen]
                self.skipped_replayed += len(spans) - len(fresh)
                spans = fresh
                if not spans:
                    return
            self._send(spans, deadline)
            try:
                self._ledger.append(f"{s.context.span_id:016x}" for s in spans)
            except OSError as exc:
                raise DeliveryError(
                    f"delivered, but the ledger could not record it ({exc}); a replay may send these spans again"
                ) from exc
        if self._needs_replay and not self._stop.is_set():
            self._needs_replay = False
            self._start_replay(delay=0.0)

    def _send(self, spans: Sequence[Any], deadline: float) -> None:
        body = encode_protobuf(spans)
        try:
            rejected = self._sender.send(body, deadline)
        except SendError as exc:
            self.not_delivered += len(spans)
            self._last_failure = str(exc)
            if not exc.permanent:
                self._backoff = min(MAX_BACKOFF_S, max(MIN_BACKOFF_S, self._backoff * 2))
                wait = exc.retry_after if exc.retry_after is not None else self._backoff
                self._retry_at = time.monotonic() + wait
            self._needs_replay = self.spool
            raise DeliveryError(str(exc), quiet=self._quiet) from None
        self._backoff = 0.0
        self._retry_at = 0.0
        self.delivered += len(spans) - rejected
        if rejected:
            self.not_delivered += rejected
            self._last_failure = f"receiver rejected {rejected} spans (partial success)"

    # --- replay ---------------------------------------------------------------------------
    def _start_replay(self, delay: float) -> None:
        t = self._replay_thread
        if t is not None and t.is_alive():
            return
        from otel_agents.sinks.replay import background_replay

        t = threading.Thread(
            target=background_replay, args=(self.config, self._stop, delay), name="otel-agents-replay", daemon=True
        )
        self._replay_thread = t
        threads.start(t)
