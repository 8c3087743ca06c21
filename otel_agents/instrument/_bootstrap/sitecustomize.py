"""Put first on PYTHONPATH by ``otel-agents run``: apply the mapping, then chain on.

Python imports ``sitecustomize`` at start-up; this one installs the zero-code
instrumentation mapping (post-import hooks only, nothing is imported eagerly), removes its
own directory from ``sys.path`` and then runs the ``sitecustomize`` that would otherwise have
been loaded, if any. It never raises: the program always runs.
"""

import os
import sys


def _apply() -> None:
    try:
        from otel_agents.instrument import install_from_environment
    except Exception as exc:  # noqa: BLE001 - otel-agents not installed in this Python
        sys.stderr.write(
            f"otel-agents run: cannot import otel_agents in {sys.executable} ({exc}); running without instrumentation\n"
        )
        return
    # `otel-agents run` execs the program, so the program has the pid it recorded; Python
    # processes the program starts inherit PYTHONPATH: traced as well, but quietly.
    program = os.environ.get("OTEL_AGENTS_RUN_PID") == str(os.getpid())
    install_from_environment(announce_empty=program, quiet=not program)


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    try:
        import importlib.machinery
        import importlib.util

        spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
        if spec is None or spec.loader is None or spec.origin == __file__:
            return
        module = importlib.util.module_from_spec(spec)
        sys.modules["sitecustomize"] = module
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001
        sys.stderr.write(f"otel-agents run: the next sitecustomize failed: {exc}\n")


_apply()
_chain()
