"""The native hook: ``native/hook.c`` built on this machine, the Python hook as the fallback.

``hook.c`` is a small C program (C library only) with the contract of ``otel-agents hook``
(``capture``): it reduces and spools an event in about a millisecond, and hands to the Python
hook whatever it cannot reproduce byte for byte (content capture on, a stale cached
``config.toml``, a parent context, input that is not plain UTF-8 JSON). The source ships in
the package; ``build`` compiles it with the machine's C compiler (``$CC``, else ``cc``,
``gcc``, ``clang``; linked statically where the C library allows) into this environment
(``sys.prefix/libexec/otel-agents``), telling it this interpreter and package (for the
hand-over and the detached drain) through a generated header. Where no compiler exists or the
build fails, it says why and the Python hook is used. One program serves Claude Code, Codex
CLI and Gemini CLI: its first argument names the CLI (``otel-agents-hook codex``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from otel_agents.claude_code.capture import _PACKAGE_ROOT, AGENT_DRAIN_PROGRAM, DRAIN_PROGRAM

SOURCE = Path(__file__).parent / "native" / "hook.c"
#: The ``env`` key of ``.claude/settings.local.json`` holding this machine's native hook.
NATIVE_ENV = "OTEL_AGENTS_NATIVE_HOOK"
#: What the native hook runs to hand a payload over (argv[1]: the package's directory; argv[2]:
#: the agent CLI it was started for, ``claude-code`` unless the hook entry names another: ``codex``
#: and ``gemini`` are spooled as ``otel-agents hook codex|gemini`` spools them, any other name as
#: Claude Code's, as ``otel-agents hook`` does).
HOOK_PROGRAM = (
    "import sys\n"
    "if not getattr(sys.flags, 'safe_path', False): del sys.path[0]\n"
    "if sys.argv[1] not in sys.path: sys.path.append(sys.argv[1])\n"
    "from otel_agents.claude_code.capture import main\n"
    "from otel_agents.commands.hook import AGENTS\n"
    "sys.exit(main(sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] in AGENTS else None))\n"
)


def default_path() -> Path:
    """Where ``build`` puts the program: this environment's ``libexec/otel-agents``."""
    return Path(sys.prefix) / "libexec" / "otel-agents" / "otel-agents-hook"


def compiler() -> str | None:
    """The C compiler to use: ``$CC``, else the first of ``cc``, ``gcc``, ``clang`` on PATH."""
    env = os.environ.get("CC")
    if env and shutil.which(env):
        return shutil.which(env)
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _c_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f'\\x{b:02x}""' for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


def header(python: str | None = None) -> str:
    """The generated header: this interpreter, this package, and the three Python programs."""
    return (
        f"#define OA_PYTHON {_c_string(python or sys.executable)}\n"
        f"#define OA_PACKAGE_ROOT {_c_string(_PACKAGE_ROOT)}\n"
        f"#define OA_DRAIN_PROGRAM {_c_string(DRAIN_PROGRAM)}\n"
        f"#define OA_AGENT_DRAIN_PROGRAM {_c_string(AGENT_DRAIN_PROGRAM)}\n"
        f"#define OA_HOOK_PROGRAM {_c_string(HOOK_PROGRAM)}\n"
    )


def build(dest: str | os.PathLike[str] | None = None, cc: str | None = None) -> tuple[Path | None, str]:
    """Compile ``hook.c`` to ``dest`` (atomically replaced); ``(path, message)``, or
    ``(None, why not)`` when there is no compiler or the build fails."""
    cc = cc or compiler()
    if cc is None:
        return None, "no C compiler found (cc, gcc or clang; or set CC)"
    target = Path(dest) if dest is not None else default_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="otel-agents-hook-") as tmp:
            h = Path(tmp) / "config.h"
            h.write_text(header(), encoding="utf-8")
            out = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            base = [cc, "-O2", "-std=c99", "-include", str(h), "-o", str(out), str(SOURCE), "-lm"]
            # linked statically where the C library allows it (no dynamic loader at each start:
            # about a third less time per event), else as usual
            for cmd in ([*base, "-static"], base):
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
                if proc.returncode == 0:
                    break
            if proc.returncode != 0:
                out.unlink(missing_ok=True)
                return None, f"{cc} failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
            os.chmod(out, 0o755)
            os.replace(out, target)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"cannot build it: {type(exc).__name__}: {exc}"
    return target, f"built the native hook {target} with {cc}"


def installed(path: str | os.PathLike[str] | None = None) -> Path | None:
    """The native hook at ``path`` (default: ``default_path()``) if it is there and executable."""
    p = Path(path) if path else default_path()
    return p if p.is_file() and os.access(p, os.X_OK) else None


def hook_in_use(project_dir: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Which hook runs the events here: ``{"hook": "native", "path": ...}`` when the project's
    ``.claude/settings.local.json`` records a native hook that runs (the launcher's
    ``OTEL_AGENTS_NATIVE_HOOK``) or a settings file's hook command is this environment's native
    hook (``--local``, ``--user``), else ``{"hook": "python", "path": ...}``."""
    import json

    claude = Path(project_dir or os.getcwd()) / ".claude"
    files = [claude / "settings.local.json", claude / "settings.json", Path.home() / ".claude" / "settings.json"]
    for i, f in enumerate(files):
        try:
            data = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        env = data.get("env") if isinstance(data, dict) else None
        recorded = env.get(NATIVE_ENV) if i == 0 and isinstance(env, dict) else None
        if isinstance(recorded, str) and installed(recorded) is not None:
            return {"hook": "native", "path": recorded}
        if str(default_path()) in json.dumps(data.get("hooks") if isinstance(data, dict) else None) and installed():
            return {"hook": "native", "path": str(default_path())}
    return {"hook": "python", "path": str(Path(sys.executable).parent / "otel-agents")}


def agent_hook_in_use(agent: str, project_dir: str | os.PathLike[str] | None = None) -> dict[str, str] | None:
    """Which hook Codex CLI or Gemini CLI (``agent``) runs here: the project's configuration
    file first, then the user's (``agent_cli.install.config_path``). ``{"hook": "native" |
    "python", "path": ...}`` for the first entry that runs ours, ``None`` when neither has one."""
    import json
    import shlex

    from otel_agents.agent_cli.install import config_path
    from otel_agents.claude_code.settings import is_ours

    for path in (config_path(agent, os.fspath(project_dir or os.getcwd())), config_path(agent)):
        try:
            hooks = json.loads(path.read_text(encoding="utf-8")).get("hooks")
        except (OSError, ValueError, AttributeError):
            continue
        groups = [g for v in hooks.values() if isinstance(v, list) for g in v] if isinstance(hooks, dict) else []
        entries = [h for g in groups if isinstance(g, dict) and isinstance(g.get("hooks"), list) for h in g["hooks"]]
        for h in entries:
            command = h.get("command") if isinstance(h, dict) else None
            if not is_ours(command):
                continue
            exe = shlex.split(command)[0]
            if os.path.basename(exe) == default_path().name and installed(exe) is not None:
                return {"hook": "native", "path": exe, "config": str(path)}
            return {"hook": "python", "path": exe, "config": str(path)}
    return None
