"""``otel-agents run [options] -- command ...``: run a program with zero-code instrumentation.

The program's Python loads ``otel_agents/instrument/_bootstrap/sitecustomize.py`` first (its
directory goes first on ``PYTHONPATH``), which applies the ``[instrument]`` mapping with wrapt
post-import hooks. The command replaces this process (``exec``), so its exit code, signals
and stdio are the program's own. With ``--summary`` it runs the program as a child instead
(same exit code; Ctrl-C and SIGTERM reach it) and then says on stderr where its telemetry
went: trace ids, files, how to view the report.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys

PID_ENV = "OTEL_AGENTS_RUN_PID"
_BOOTSTRAP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "instrument", "_bootstrap")


def child_environment(
    environ: dict[str, str] | None = None,
    *,
    config: str | None = None,
    spans_file: str | None = None,
    recipes: list[str] | None = None,
) -> dict[str, str]:
    """The environment the program runs with: our sitecustomize first on PYTHONPATH."""
    from otel_agents.instrument.mapping import FILE_ENV, RECIPES_ENV
    from otel_agents.instrument.spans_file import SPANS_FILE_ENV

    env = dict(os.environ if environ is None else environ)
    parts = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and os.path.abspath(p) != _BOOTSTRAP]
    env["PYTHONPATH"] = os.pathsep.join([_BOOTSTRAP, *parts])
    if config:
        env[FILE_ENV] = os.path.abspath(config)
    if spans_file:
        env[SPANS_FILE_ENV] = os.path.abspath(spans_file)
    if recipes:
        env[RECIPES_ENV] = ",".join([*env.get(RECIPES_ENV, "").split(","), *recipes]).strip(",")
    env[PID_ENV] = str(os.getpid())  # exec keeps the pid: the program knows it is the program
    return env


def check(config: str | None, recipes: list[str] | None = None) -> int:
    """Apply the mapping as a real run does, import each target module, and report: what is
    wrapped, what cannot be, and what would never fire (a decorator kept the original)."""
    import importlib
    import logging

    from otel_agents.instrument import installer, load_mapping, problems

    logging.getLogger("otel_agents.instrument").disabled = True  # printed below instead
    env = child_environment(config=config, recipes=recipes)
    sys.path.insert(0, os.getcwd())
    mapping = load_mapping(environ=env)
    print("sources: " + (", ".join(mapping.sources) or "none found"))
    if not mapping.enabled:
        print("instrumentation disabled (enabled = false)")
    inst = installer.install(mapping)
    ok = True
    try:
        for target, rules in mapping.by_target().items():
            events = "+".join(r.event for r in rules)
            binding = inst.bindings[target] if inst is not None else None
            try:
                importlib.import_module(target.module)  # the post-import hook wraps, as in a run
            except Exception as exc:  # noqa: BLE001 - reporting is the point
                status = f"NOT IMPORTABLE ({type(exc).__name__}: {exc})"
            else:
                if binding is None or not binding.patched:
                    status = "NOT FOUND (see the problem below)"
                elif inst is not None and (reason := inst.diagnose(binding)):
                    status = f"WILL NOT FIRE: {reason}"
                else:
                    status = "ok (wrapped in place)" if binding.in_place else "ok"
            if not status.startswith("ok"):
                ok = ok and all(r.origin.startswith("recipe ") for r in rules)
            print(f"  {target.spec:<50} {events:<24} {status}")
    finally:
        if inst is not None:
            inst.report_at_exit = False
        installer.uninstall()
    found = problems()
    for p in found:
        print(f"problem: {p}")
    return 0 if ok and not found else 1


def run_with_summary(
    executable: str, command: list[str], *, config: str | None, spans_file: str | None, recipes: list[str] | None
) -> int:
    """Run ``command`` as a child, then print where its telemetry went; the child's exit code."""
    import signal
    import subprocess
    import tempfile
    import time

    from otel_agents.commands.where import summary
    from otel_agents.config import load_config, sdk_disabled
    from otel_agents.instrument.spans_file import read_records

    with tempfile.TemporaryDirectory(prefix="otel-agents-run-") as tmp:
        records_file = spans_file or os.path.join(tmp, "spans.jsonl")
        since = time.time_ns()
        child = subprocess.Popen(
            [executable, *command[1:]], env=child_environment(config=config, spans_file=records_file, recipes=recipes)
        )
        # Ctrl-C reaches the child through the terminal; a SIGTERM sent to us is passed on.
        previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, signal.SIG_IGN),
            signal.SIGTERM: signal.signal(signal.SIGTERM, lambda *_: child.terminate()),
        }
        try:
            code = child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if sdk_disabled():
            return _exit_code(code)
        records = read_records(records_file) if os.path.exists(records_file) else []
        sys.stdout.flush()
        print("\n" + summary(load_config(), list(records), since), file=sys.stderr, flush=True)
    return _exit_code(code)


def _exit_code(code: int) -> int:
    """A child's return code as a shell reports it (killed by signal N: 128 + N)."""
    return 128 - code if code < 0 else code


def main(args: list[str], prog: str = "otel-agents run") -> int:
    from otel_agents.instrument.mapping import recipe_names

    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a program with zero-code instrumentation from the [instrument] mapping "
        "(.otel-agents/config.toml, or [tool.otel-agents.instrument] in pyproject.toml).",
        epilog="example: otel-agents run -- python -m my_executor --issue 42",
    )
    parser.add_argument("--config", metavar="FILE", help="read the mapping from this TOML file too")
    parser.add_argument("--spans-file", metavar="FILE", help="also append every finished span to FILE as JSON lines")
    parser.add_argument(
        "--recipe",
        action="append",
        metavar="NAME",
        help="also apply a shipped mapping for a framework (repeatable): " + ", ".join(recipe_names()),
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="apply the mapping as a run would (imports the target modules), report what would not fire, and exit",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="after the program, say where its telemetry went (trace ids, files, the report)",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the program to run, after --")
    ns = parser.parse_args(args)
    command = list(ns.command)
    if command and command[0] == "--":
        command = command[1:]
    if ns.check:
        return check(ns.config, ns.recipe)
    if not command:
        parser.print_usage(sys.stderr)
        print(f"{prog}: give the program to run, e.g. {prog} -- python my_executor.py", file=sys.stderr)
        return 2
    executable = shutil.which(command[0])
    if executable is None:
        print(f"{prog}: command not found: {command[0]}", file=sys.stderr)
        return 127
    if ns.summary:
        return run_with_summary(executable, command, config=ns.config, spans_file=ns.spans_file, recipes=ns.recipe)
    env = child_environment(config=ns.config, spans_file=ns.spans_file, recipes=ns.recipe)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.name == "nt":  # pragma: no cover - no exec on Windows
        import subprocess

        return subprocess.call([executable, *command[1:]], env=env)
    os.execve(executable, command, env)
    return 0  # pragma: no cover
