"""Plugin and sink faults, each plugin installed through a REAL entry point: a distribution
(``*.dist-info`` with ``entry_points.txt``) on the child's ``sys.path``, found by
``importlib.metadata`` like any installed plugin.

- a plugin raising in every hook (lifecycle hooks, ``span_ending``, ``register_sinks``);
- a sink whose ``export`` raises;
- a sink whose ``export`` never returns.
"""

from __future__ import annotations

import json
from pathlib import Path

from _harness import (
    assert_clean,
    baseline,
    measure,
    n,
    run_workload,
)

from otel_agents.hookspecs import HOOK_NAMES

PLUGIN_MODULE = (
    '''
import threading

from otel_agents.hookspecs import hookimpl


class Boom(RuntimeError):
    pass


class RaisingPlugin:
    """Raises in every hook otel-agents calls."""
'''
    + "".join(
        f'''
    @hookimpl
    def {name}(self, {
            "usage"
            if name == "model_usage"
            else "span"
            if name == "span_ending"
            else "config"
            if name == "register_sinks"
            else "event"
        }):
        raise Boom("{name}")
'''
        for name in HOOK_NAMES
    )
    + """

class RaisingSink:
    name = "raising-sink"

    def export(self, spans):
        raise RuntimeError("sink bug: export")

    def close(self):
        raise RuntimeError("sink bug: close")


class HangingSink:
    name = "hanging-sink"

    def export(self, spans):
        threading.Event().wait()  # never returns

    def close(self):
        threading.Event().wait()


class RaisingSinkPlugin:
    @hookimpl
    def register_sinks(self, config):
        return [RaisingSink()]


class HangingSinkPlugin:
    @hookimpl
    def register_sinks(self, config):
        return [HangingSink()]
"""
)


def install_plugin(root: Path, name: str, target: str) -> dict[str, str]:
    """A distribution ``fault-plugin`` with one ``otel_agents`` entry point, importable from
    ``root``; returns the environment additions that put it on the child's path."""
    from _harness import TESTS
    from helpers_plugins import install_plugin as install

    path = install(root, "fault_plugins", PLUGIN_MODULE, {name: f"fault_plugins:{target}"}, dist="fault-plugin")
    return {"PYTHONPATH": f"{path}:{TESTS}"}


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "otel-agents" in line and "failed" in line]


def test_plugin_raising_in_every_hook(tmp_path, tmp_path_factory, home, receiver, fault_row):
    env = install_plugin(tmp_path / "plugin", "raising", "RaisingPlugin")
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k], pace=0.5, env_extra=env)
    base = baseline(tmp_path_factory.getbasetemp(), k, 0.5)
    case = measure(home, run, base, [], healthy=receiver, env_extra=env)
    logged = _warnings(run.stderr)
    fault_row(
        "4.plugin.raising",
        "Plugins and sinks",
        f"a plugin raising in every hook ({len(HOOK_NAMES)} hooks; entry point)",
        "standard; log lines about it",
        case=case,
        notes=f"{len(logged)} warning lines for {k} workflows (one per hook, rate-limited to one a minute)",
        warnings=len(logged),
    )
    assert_clean(case)
    assert 0 < len(logged) <= len(HOOK_NAMES), logged
    assert all("plugin raising" in line for line in logged), logged


def test_sink_raising(tmp_path, tmp_path_factory, home, receiver, fault_row):
    env = install_plugin(tmp_path / "plugin", "raising-sink", "RaisingSinkPlugin")
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k], pace=0.5, env_extra=env)
    base = baseline(tmp_path_factory.getbasetemp(), k, 0.5)
    case = measure(home, run, base, [], healthy=receiver, env_extra=env)
    counters = json.loads((home / "state" / "sinks.json").read_text())["sinks"]
    bad = counters.get("raising-sink", {})
    fault_row(
        "4.sink.raising",
        "Plugins and sinks",
        "a sink raising in export and close (entry point)",
        "standard (built-in sinks); the failures counted",
        case=case,
        notes=f"state/sinks.json counts {bad.get('failed_spans', 0)} failed spans in "
        f"{bad.get('failures', 0)} failed batches for it",
        failed_spans=bad.get("failed_spans", 0),
    )
    assert_clean(case)
    assert "raising-sink" in run.sinks
    # every span this run produced reached it and failed there: counted, not silent (the
    # recovery's next start adds its own)
    assert bad.get("failed_spans", 0) >= len(run.ids)


def test_sink_hanging_forever(tmp_path, tmp_path_factory, home, receiver, fault_row):
    env = install_plugin(tmp_path / "plugin", "hanging-sink", "HangingSinkPlugin")
    k = n(10, 100)
    run = run_workload(home, receiver.endpoint, [k], pace=0.5, env_extra=env)
    base = baseline(tmp_path_factory.getbasetemp(), k, 0.5)
    case = measure(home, run, base, [], healthy=receiver, env_extra=env)
    counters = json.loads((home / "state" / "sinks.json").read_text())["sinks"]
    hung = counters.get("hanging-sink", {})
    fault_row(
        "4.sink.hanging",
        "Plugins and sinks",
        "a sink whose export never returns (entry point)",
        "standard (built-in sinks); exit time",
        case=case,
        notes=f"the process exits on its deadline; {hung.get('dropped', 0)} spans counted as dropped for the hung sink",
        dropped=hung.get("dropped", 0),
    )
    assert_clean(case)
    assert "hanging-sink" in run.sinks
    assert hung.get("dropped", 0) >= len(run.ids) - 256  # all but the batch it hangs on, counted
