"""The project hook launcher: a committed ``.claude/settings.json`` names no machine's paths.

``install-hooks claude-code`` (project scope) writes ``.claude/hooks/otel-agents-hook``, a
small POSIX ``sh`` script committed with the project, and the settings entry runs it as
``"$CLAUDE_PROJECT_DIR"/.claude/hooks/otel-agents-hook`` (Claude Code sets that variable for
hooks). On each machine the launcher runs that machine's ``otel-agents hook``: the
executable ``install-hooks`` recorded in ``.claude/settings.local.json`` (personal, not
committed; ``env.OTEL_AGENTS_HOOK_PATH``), else the ``otel-agents`` on ``PATH``. Where
neither exists it reads the event, prints nothing and exits 0, as a tracing hook must.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: The launcher's path in the project, and the command the committed settings run.
RELATIVE_PATH = Path(".claude") / "hooks" / "otel-agents-hook"
COMMAND = '"$CLAUDE_PROJECT_DIR"/' + RELATIVE_PATH.as_posix()
#: The ``env`` key of ``.claude/settings.local.json`` holding this machine's executable.
PATH_ENV = "OTEL_AGENTS_HOOK_PATH"
#: The ``env`` key holding this machine's native hook (``native.NATIVE_ENV``), tried first.
NATIVE_ENV = "OTEL_AGENTS_NATIVE_HOOK"
#: The launcher's first lines: how a file is recognised as ours (to update or remove it).
MARKER = "# otel-agents: Claude Code hook launcher"

SCRIPT = f"""#!/bin/sh
{MARKER} (written by `otel-agents install-hooks claude-code`).
# Commit it with .claude/settings.json: it holds no machine's paths. It runs this machine's
# native hook ({NATIVE_ENV}), else its `otel-agents hook`: the ones recorded in
# .claude/settings.local.json ({PATH_ENV}; personal, not committed), else the one on PATH.
# Where otel-agents is not installed it reads the event, prints nothing and exits 0.
# Shell built-ins only until the hook runs: no process is started to read the settings.
case $0 in */*) here=${{0%/*}} ;; *) here=. ;; esac
local_settings="$here/../settings.local.json"
native=${{{NATIVE_ENV}:-}}
bin=${{{PATH_ENV}:-}}
if [ -f "$local_settings" ] && {{ [ -z "$native" ] || [ -z "$bin" ]; }}; then
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      *'"{NATIVE_ENV}"'*:*'"'*)
        [ -n "$native" ] || {{ v=${{line#*'"{NATIVE_ENV}"'*:*'"'}}; native=${{v%%'"'*}}; }} ;;
      *'"{PATH_ENV}"'*:*'"'*)
        [ -n "$bin" ] || {{ v=${{line#*'"{PATH_ENV}"'*:*'"'}}; bin=${{v%%'"'*}}; }} ;;
    esac
  done < "$local_settings" 2>/dev/null
fi
if [ -n "$native" ] && [ -x "$native" ]; then
  exec "$native" "$@" 2>/dev/null
fi
if [ -z "$bin" ] || [ ! -x "$bin" ]; then
  bin=$(command -v otel-agents 2>/dev/null) || bin=
fi
if [ -z "$bin" ]; then
  [ -t 0 ] || cat >/dev/null 2>&1
  exit 0
fi
case ${{bin##*/}} in
  python*) "$bin" -m otel_agents hook "$@" 2>/dev/null ;;
  *) "$bin" hook "$@" 2>/dev/null ;;
esac
exit 0
"""


def this_executable() -> str:
    """This machine's ``otel-agents`` (or, without the console script, its Python)."""
    argv0 = sys.argv[0] if sys.argv and sys.argv[0] else ""
    if os.path.basename(argv0) == "otel-agents" and os.path.exists(argv0):
        return os.path.abspath(argv0)
    script = Path(sys.executable).parent / "otel-agents"
    if script.exists():
        return str(script)
    return shutil.which("otel-agents") or sys.executable


def launcher_path(project_dir: str | os.PathLike[str] | None) -> Path:
    return Path(project_dir or os.getcwd()) / RELATIVE_PATH


def is_launcher(path: Path) -> bool:
    """Whether ``path`` is a launcher we wrote."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(512)
    except OSError:
        return False


def write(project_dir: str | os.PathLike[str] | None) -> bool:
    """Write (or update) the launcher, mode 0755; returns whether the file changed.

    A file of the same name that is not ours is left alone: ``FileExistsError``.
    """
    path = launcher_path(project_dir)
    if path.exists() and not is_launcher(path):
        raise FileExistsError(f"{path} exists and was not written by otel-agents; not changed")
    try:
        if path.read_text(encoding="utf-8") == SCRIPT and os.access(path, os.X_OK):
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(SCRIPT, encoding="utf-8")
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)
    return True


def remove(project_dir: str | os.PathLike[str] | None) -> bool:
    """Delete the launcher if it is ours (and its directory, if that leaves it empty)."""
    path = launcher_path(project_dir)
    if not is_launcher(path):
        return False
    path.unlink()
    try:
        path.parent.rmdir()
    except OSError:
        pass
    return True


#: What ``.gitignore`` should hold in a project that captures Claude Code sessions.
IGNORED = (".otel-agents/", ".claude/settings.local.json")


def missing_ignores(project_dir: str | os.PathLike[str] | None) -> list[str]:
    """The entries of ``IGNORED`` the project's ``.gitignore`` does not list."""
    try:
        lines = (Path(project_dir or os.getcwd()) / ".gitignore").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        lines = []
    listed = {line.strip().lstrip("/").rstrip("/") for line in lines}
    return [entry for entry in IGNORED if entry.rstrip("/") not in listed]
