"""``otel-agents install-hooks claude-code`` and ``otel-agents uninstall-hooks claude-code``.

Merges otel-agents' ``hook`` command into Claude Code's settings for every hook event
(``--project``: ``.claude/settings.json``, the default; ``--local``:
``.claude/settings.local.json``; ``--user``: ``~/.claude/settings.json``), keeping every
other hook; idempotent. Uninstall removes exactly ours.

The project file is committed, so it names no machine's paths: its entries run the
project's launcher (``otel_agents.claude_code.launcher``), and this machine's executable is
recorded in ``.claude/settings.local.json`` only.

``install-hooks codex|gemini`` merges into those CLIs' files (``agent_cli.install``). Every
agent's entries run the native hook where it builds (``claude_code.native``; ``--python``: the
Python hook), else the Python hook, saying why.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main(args: list[str], prog: str = "otel-agents install-hooks") -> int:
    uninstalling = prog.endswith("uninstall-hooks")
    parser = argparse.ArgumentParser(
        prog=prog,
        description=("Remove otel-agents hooks from" if uninstalling else "Install otel-agents hooks into")
        + " Claude Code settings.",
    )
    parser.add_argument("agent", choices=["claude-code", "codex", "gemini"], help="the agent whose settings to change")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--project",
        dest="scope",
        action="store_const",
        const="project",
        help=".claude/settings.json in the project, committed (default): the entries run "
        ".claude/hooks/otel-agents-hook, which runs each machine's otel-agents",
    )
    scope.add_argument(
        "--local",
        dest="scope",
        action="store_const",
        const="local",
        help=".claude/settings.local.json in the project (not committed)",
    )
    scope.add_argument("--user", dest="scope", action="store_const", const="user", help="~/.claude/settings.json")
    parser.add_argument("--dir", help="project directory (default: the current directory)")
    if not uninstalling:
        parser.add_argument(
            "--command",
            help="hook command line (default: this installation's `otel-agents hook`; "
            "--project: the project's launcher)",
        )
        parser.add_argument("--timeout", type=int, help="seconds Claude Code waits for the hook at most (default 3)")
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument(
            "--native",
            dest="native",
            action="store_const",
            const=True,
            help="build and install the native hook (C; the default where a C compiler is found), "
            "falling back to the Python hook where it cannot be built",
        )
        kind.add_argument("--python", dest="native", action="store_const", const=False, help="the Python hook only")
    ns = parser.parse_args(args)
    if ns.agent != "claude-code":
        return _agent_cli(ns, uninstalling, prog)

    from otel_agents.claude_code import launcher, settings

    where = ns.scope or "project"
    path = settings.settings_path(where, ns.dir)
    local = settings.settings_path("local", ns.dir)
    try:
        if uninstalling:
            n = settings.uninstall(path)
            if where == "project":
                launcher.remove(ns.dir)
                settings.unset_env(local, launcher.PATH_ENV)
                settings.unset_env(local, launcher.NATIVE_ENV)
            print(f"removed {n} otel-agents hook(s) from {path}" if n else f"no otel-agents hooks in {path}")
            return 0
        command = ns.command
        native_hook = _native_hook(ns.native, prog) if command is None else None
        if where == "project" and command is None:
            changed = launcher.write(ns.dir)
            changed |= settings.set_env(local, launcher.PATH_ENV, launcher.this_executable())
            if native_hook is not None:
                changed |= settings.set_env(local, launcher.NATIVE_ENV, str(native_hook))
            else:
                changed |= bool(settings.unset_env(local, launcher.NATIVE_ENV))
            command = launcher.COMMAND
        else:
            changed = False
            if native_hook is not None:
                import shlex

                command = shlex.quote(str(native_hook))
        changed |= settings.install(path, command, ns.timeout or settings.DEFAULT_TIMEOUT)
    except (settings.SettingsError, FileExistsError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    events = len(settings.EVENTS)
    print(
        f"installed otel-agents hooks for {events} events in {path}"
        if changed
        else f"otel-agents hooks already installed in {path}"
    )
    if command == launcher.COMMAND:
        print(
            f"  they run {launcher.RELATIVE_PATH}: commit it with {path.name}; it runs each machine's "
            f"otel-agents and does nothing where none is installed"
        )
        print(f"  this machine's otel-agents is recorded in {local} (personal, not committed)")
        if settings.has_ours(local):
            print(
                f"  note: {local} runs otel-agents hook too, so each event would be captured twice: "
                "`otel-agents uninstall-hooks claude-code --local` removes those"
            )
    if where != "user":
        missing = launcher.missing_ignores(ns.dir)
        if missing:
            print(
                f"hint: add {' and '.join(missing)} to the project's .gitignore: they hold this machine's "
                f"captured sessions and settings (printf '%s\\n' {' '.join(missing)} >> .gitignore)"
            )
    return 0


def _agent_cli(ns: argparse.Namespace, uninstalling: bool, prog: str) -> int:
    """Codex CLI (``hooks.json``) and Gemini CLI (``settings.json``): user file, or the
    project's with ``--project``/``--dir``. The entries run the native hook where it builds
    (``<native hook> codex``), else this installation's ``otel-agents hook codex``."""
    import shlex

    from otel_agents.agent_cli import install

    project = ns.dir or (os.getcwd() if ns.scope in ("project", "local") else None)
    path = install.config_path(ns.agent, project)
    try:
        if uninstalling:
            n = install.uninstall(path)
            print(f"removed {n} otel-agents hook(s) from {path}" if n else f"no otel-agents hooks in {path}")
            return 0
        command = ns.command
        if command is None:
            native_hook = _native_hook(ns.native, prog)
            command = shlex.quote(str(native_hook)) if native_hook is not None else None
        changed = install.install(ns.agent, path, command, ns.timeout or install.DEFAULT_TIMEOUT_S)
    except install.SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    print(f"installed otel-agents hooks in {path}" if changed else f"otel-agents hooks already installed in {path}")
    if ns.agent == "codex":
        print(
            "  Codex runs them only once you trust them: open codex, run /hooks and trust the otel-agents entries "
            "(editing an entry, its timeout included, needs trusting again)"
        )
    return 0


def _native_hook(wanted: bool | None, prog: str) -> Path | None:
    """The native hook's path when it is wanted (``None``: wherever a compiler exists) and
    builds; else ``None``, saying why when it was asked for or a compiler was there."""
    if wanted is False:
        return None
    from otel_agents.claude_code import native

    if wanted is None and native.compiler() is None:
        print("no C compiler found: installing the Python hook (`--native` once one is installed)")
        return None
    path, message = native.build()
    if path is None:
        print(f"{prog}: the native hook could not be built ({message}); installing the Python hook", file=sys.stderr)
        return None
    print(message)
    return path
