"""The process lifecycle and the sink contract: SIGTERM chained to the application's
handler or left alone, the processor's shutdown state, a sink's stop signal, recovery given
by whoever registers the sinks, fork-safe locks."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from helpers_sinks import DEMO_RECORDS, demo_spans
from opentelemetry.sdk.trace import TracerProvider

from otel_agents import forksafe
from otel_agents.analytics.store import AnalyticsStore
from otel_agents.config import load_config
from otel_agents.default_plugins.sinks import attach_recovery, build_sinks
from otel_agents.foundation.records import records_from_spans
from otel_agents.sink import SinkProcessor, State
from otel_agents.sink_contract import Interrupted
from otel_agents.sinks.metrics import MetricsSink
from otel_agents.sinks.recover import SpoolRecovery
from otel_agents.sinks.spool import iter_records, iter_spans, spool_files

PY = sys.executable


def _wait(cond, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.002)
    return bool(cond())


def _spooled(home) -> int:
    cfg = load_config(home)
    return sum(1 for p in spool_files(cfg.spans_dir) for _o, _e, d in iter_records(p) for _s in iter_spans(d))


def _env(home, **extra: str) -> dict[str, str]:
    env = dict(
        os.environ,
        OTEL_AGENTS_HOME=str(home),
        OTEL_AGENTS_OTLP_ENABLED="false",
        OTEL_AGENTS_METRICS_ENABLED="false",
        OTEL_AGENTS_ANALYTICS_ENABLED="false",
        **extra,
    )
    env.pop("PYTEST_CURRENT_TEST", None)
    env.pop("OTEL_AGENTS_SIGTERM", None)
    env.update(extra)
    return env


def test_sigterm_flushes_then_calls_the_applications_handler(tmp_path):
    """The application's SIGTERM handler, installed before setup(), is chained, not replaced:
    the spans are in the spool when it runs (it leaves through os._exit: no atexit flush)."""
    home, marker = tmp_path / "h", tmp_path / "handled.txt"
    script = textwrap.dedent(f"""
        import os, signal, time
        def on_term(signum, frame):
            with open({str(marker)!r}, "w") as f:
                f.write(str(signum))
            os._exit(7)
        signal.signal(signal.SIGTERM, on_term)
        import otel_agents as oa
        oa.setup()
        for i in range(100):
            with oa.workflow("w", workflow_id=f"w{{i}}"):
                pass
        print("ready", flush=True)
        time.sleep(60)
    """)
    p = subprocess.Popen([PY, "-c", script], env=_env(home), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    assert p.wait(10) == 7
    assert marker.read_text() == str(int(signal.SIGTERM))
    assert _spooled(home) == 100


def test_chained_handler_that_carries_on_keeps_the_sinks_running(tmp_path):
    """An application whose handler only asks the program to stop keeps tracing until it
    does: spans ended after the SIGTERM are written too, and a second SIGTERM is chained again."""
    home = tmp_path / "h"
    script = textwrap.dedent("""
        import signal, time
        got = []
        signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
        import otel_agents as oa
        oa.setup()
        with oa.workflow("before", workflow_id="before"):
            pass
        print("ready", flush=True)
        while len(got) < 1:
            time.sleep(0.01)
        with oa.workflow("after", workflow_id="after"):
            pass
        print("again", flush=True)
        while len(got) < 2:
            time.sleep(0.01)
        print(len(got), flush=True)
    """)
    p = subprocess.Popen([PY, "-c", script], env=_env(home), stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "ready"
    p.send_signal(signal.SIGTERM)
    assert p.stdout.readline().strip() == "again"
    p.send_signal(signal.SIGTERM)
    assert p.stdout.readline().strip() == "2"
    assert p.wait(10) == 0
    assert _spooled(home) == 2


_HANDLER_AFTER_SETUP = textwrap.dedent("""
    import signal, sys
    import otel_agents as oa
    before = signal.getsignal(signal.SIGTERM)
    if sys.argv[1] == "ignored":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    oa.setup(**({"handle_signals": False} if sys.argv[1] == "opt-out" else {}))
    with oa.workflow("w", workflow_id="w"):
        pass
    now = signal.getsignal(signal.SIGTERM)
    print("dfl" if now is signal.SIG_DFL else "ign" if now is signal.SIG_IGN else "ours")
""")


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("default", {}, "ours"),
        ("opt-out", {}, "dfl"),
        ("default", {"OTEL_AGENTS_SIGTERM": "no"}, "dfl"),
        ("default", {"OTEL_AGENTS_SIGTERM": "off"}, "dfl"),
        ("default", {"OTEL_AGENTS_SIGTERM": "yes"}, "ours"),
        ("ignored", {}, "ign"),
    ],
)
def test_sigterm_handler_installed_only_when_asked(tmp_path, mode, env, expected):
    """setup(handle_signals=False) and OTEL_AGENTS_SIGTERM=no (one truth table) install
    nothing; an ignored SIGTERM stays ignored."""
    p = subprocess.run(
        [PY, "-c", _HANDLER_AFTER_SETUP, mode],
        env=_env(tmp_path / "h", **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == expected


class _Gate:
    """A durable sink that holds its batch until ``gate`` is set."""

    name = "disk"
    durable = True

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.got = 0

    def export(self, spans):
        self.entered.set()
        self.gate.wait(10)
        self.got += len(spans)


def test_shutdown_state_is_running_draining_done():
    disk = _Gate()
    proc = SinkProcessor([disk])
    tracer = TracerProvider()
    tracer.add_span_processor(proc)
    t = tracer.get_tracer("t")
    assert proc.state is State.RUNNING
    t.start_span("a").end()
    assert disk.entered.wait(10)
    closer = threading.Thread(target=proc.shutdown)
    closer.start()
    assert _wait(lambda: proc.state is State.DRAINING)
    t.start_span("late").end()  # draining, not sealed yet: still queued, and written
    assert proc.stats()["disk"].dropped == 0 and not proc.sealed
    disk.gate.set()
    closer.join(10)
    assert proc.state is State.DONE and proc.sealed
    assert disk.got == 2 and proc.stats()["disk"].spans == 2
    assert proc._lanes[0].inflight == 0
    t.start_span("refused").end()  # done: refused and counted
    assert proc.stats()["disk"].dropped == 1


class _Stopper:
    """A non-durable sink that works until its stop signal says to stop."""

    name = "stopper"

    def __init__(self, release) -> None:
        self.release = release
        self.calls: list[object] = []
        self.started = threading.Event()

    def export(self, spans, stop):
        if not self.calls:
            self.calls.append("working")
            self.started.set()
            if _wait(stop, 10):
                self.calls.append("stopped")
                self.release.set()  # the durable sink may finish now
                raise Interrupted("exiting")
        self.calls.append(len(spans))


def test_a_sink_given_a_stop_signal_stops_early_and_gets_its_batch_back():
    """At exit, while the durable sink still drains, a sink's stop signal turns True: it gives
    its batch back (not a failure) and exports it once the durable sink is done."""
    disk = _Gate()
    stopper = _Stopper(disk.gate)
    proc = SinkProcessor([disk, stopper])
    tp = TracerProvider()
    tp.add_span_processor(proc)
    for i in range(3):
        tp.get_tracer("t").start_span(f"s{i}").end()
    assert stopper.started.wait(10) and disk.entered.wait(10)
    assert stopper.calls == ["working"]  # running: the stop signal stays False
    proc.shutdown()
    assert stopper.calls == ["working", "stopped", 3]
    st = proc.stats()["stopper"]
    assert (st.spans, st.failures, st.dropped) == (3, 0, 0)
    assert proc.state is State.DONE


def test_records_and_store_stop_before_writing(make_runtime, exporter, tmp_path):
    """The foundations take the stop signal as an argument: records raise Interrupted, the
    analytics store writes nothing and says so."""
    spans = demo_spans(make_runtime, exporter)
    with pytest.raises(Interrupted):
        records_from_spans(spans, lambda: True)
    records = records_from_spans(spans, lambda: False)
    assert len(records) == DEMO_RECORDS
    store = AnalyticsStore(tmp_path / "history.db")
    try:
        stats = store.write(records, stop=lambda: True)
        assert stats.interrupted and stats.rows == {}
        assert store.conn.execute("SELECT count(*) FROM workflow_history").fetchone()[0] == 0
        stats = store.write(records, stop=lambda: False)
        assert not stats.interrupted
        assert store.conn.execute("SELECT count(*) FROM workflow_history").fetchone()[0] == 1
    finally:
        store.close()


def test_recovery_is_given_by_whoever_registers_the_sinks(monkeypatch, tmp_path):
    monkeypatch.setenv("OTEL_AGENTS_OTLP_ENABLED", "false")
    monkeypatch.setenv("OTEL_AGENTS_REPLAY_ON_START", "false")
    cfg = load_config(tmp_path / "home")
    sinks = build_sinks(cfg)
    by_name = {s.name: s for s in sinks}
    assert set(by_name) == {"spool", "metrics", "analytics"}
    recovery = by_name["metrics"].recovery
    assert isinstance(recovery, SpoolRecovery) and by_name["analytics"].recovery is recovery
    assert getattr(by_name["spool"], "recovery", None) is None
    # no spool registered: nothing to recover from
    alone = attach_recovery([MetricsSink(cfg)], cfg)
    assert alone[0].recovery is None
    proc = SinkProcessor(alone, config=cfg)
    try:
        assert [lane.recovery for lane in proc._lanes] == [None]
    finally:
        proc.shutdown()
    for s in sinks:
        s.close()


def _child_takes(lock, q) -> None:
    q.put(lock.acquire(timeout=5))


@pytest.mark.skipif(not hasattr(os, "register_at_fork"), reason="needs os.register_at_fork")
def test_fork_safe_locks_are_new_in_the_child():
    lock = forksafe.Lock()
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold, daemon=True)
    t.start()
    assert held.wait(10)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    try:
        child = ctx.Process(target=_child_takes, args=(lock, q))
        child.start()
        child.join(30)
        assert child.exitcode == 0 and q.get(timeout=5) is True
        assert lock.locked()  # the parent's is still held by its thread
    finally:
        release.set()
        t.join(10)


def test_chained_sigterm_while_spans_end_never_hangs(tmp_path):
    """SIGTERM lands while the main thread ends spans as fast as it can (often inside a lock
    the flush needs: the flush then runs on a helper thread): the application's handler still
    runs, the program ends normally, and every span it ended is in the spool."""
    home = tmp_path / "h"
    script = textwrap.dedent("""
        import signal
        got = []
        signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
        import otel_agents as oa
        oa.setup()
        n = 0
        print("ready", flush=True)
        while not got:
            with oa.workflow("w", workflow_id=f"w{n}"):
                n += 1
        print(n, flush=True)
    """)
    for _ in range(3):
        p = subprocess.Popen([PY, "-c", script], env=_env(home), stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready"
        p.send_signal(signal.SIGTERM)
        ended = int(p.stdout.readline())
        assert p.wait(10) == 0
        assert _spooled(home) == ended
        for f in spool_files(load_config(home).spans_dir):
            f.unlink()
