"""Effective configuration: defaults < ``.otel-agents/config.toml`` < environment.

Standard library only. Claude Code strips ``OTEL_*`` from hook processes, so everything can
also be set in the file or as ``OTEL_AGENTS_*``. The home and the file's reading are shared
with the Claude Code hook (``otel_agents.configfile``), on/off values with every variable
(``otel_agents.flags``).

Every known setting is in ``SETTINGS``: its dotted name, type, default and the environment
variables that override it (first match wins). A value of the wrong type, or an unknown
key, gives one clear log line and the default applies. The file is data only: it is
parsed as TOML and never executed.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from otel_agents import configfile
from otel_agents.configfile import CONFIG_FILE, DEFAULT_HOME, HOME_ENV
from otel_agents.flags import flag, to_bool

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_HOME",
    "DISABLED_ENV",
    "HOME_ENV",
    "PLUGIN_SECTIONS",
    "SETTINGS",
    "Config",
    "Setting",
    "application_name",
    "load_config",
    "resolve_home",
    "sdk_disabled",
]

logger = logging.getLogger("otel_agents.config")

DISABLED_ENV = "OTEL_SDK_DISABLED"


@dataclass(frozen=True, slots=True)
class Setting:
    """One setting: dotted name, type, default, environment variables, meaning."""

    name: str
    type: type
    default: Any
    env: tuple[str, ...]
    doc: str


def _s(name: str, typ: type, default: Any, doc: str, *extra_env: str) -> Setting:
    own = "OTEL_AGENTS_" + name.upper().replace(".", "_")
    return Setting(name, typ, default, (own, *extra_env), doc)


SETTINGS: tuple[Setting, ...] = (
    _s(
        "service_name",
        str,
        "",
        "service.name of the spans; empty: the application's (its `python -m` module or entry script)",
        "OTEL_SERVICE_NAME",
    ),
    _s("capture_content", bool, False, "record prompt and tool content (redacted); off: length and hash only"),
    _s("exit_deadline", float, 0.5, "seconds process exit may wait for sinks, at most"),
    _s("otlp.enabled", bool, True, "send spans to an OTLP endpoint"),
    _s(
        "otlp.endpoint",
        str,
        "",
        "OTLP endpoint; empty: protocol default on localhost",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ),
    _s(
        "otlp.protocol",
        str,
        "http/protobuf",
        "grpc or http/protobuf",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ),
    _s(
        "otlp.headers",
        str,
        "",
        "comma-separated key=value headers (never logged)",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ),
    _s(
        "otlp.timeout",
        float,
        10.0,
        "per-request timeout in SECONDS; OTEL_EXPORTER_OTLP_TIMEOUT is read as milliseconds, per the spec",
    ),
    _s(
        "otel_metrics.exporter",
        str,
        "otlp",
        "where the GenAI metrics go: otlp, or none (off); an application's own meter provider is used as is",
        "OTEL_METRICS_EXPORTER",
    ),
    _s(
        "otel_metrics.endpoint",
        str,
        "",
        "OTLP endpoint of the metrics; empty: the spans' endpoint, with /v1/metrics over HTTP",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    ),
    _s(
        "otel_metrics.protocol",
        str,
        "",
        "grpc or http/protobuf; empty: otlp.protocol",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
    ),
    _s(
        "otel_metrics.headers",
        str,
        "",
        "headers of the metrics requests; empty: otlp.headers",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    ),
    _s(
        "otel_metrics.interval",
        float,
        60.0,
        "seconds between metric exports (and one at exit); OTEL_METRIC_EXPORT_INTERVAL is read as milliseconds",
    ),
    _s(
        "otel_metrics.temporality",
        str,
        "cumulative",
        "cumulative, delta or lowmemory",
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    ),
    _s("spool.enabled", bool, True, "append every finished span to spans/ as OTLP-JSON lines"),
    _s("spool.max_file_bytes", int, 64 * 1024 * 1024, "rotate a spool file past this size"),
    _s("spool.retention_days", int, 14, "delete delivered spool files older than this"),
    _s(
        "spool.linger",
        float,
        0.05,
        "seconds a finished span may wait in memory for others, to be written with them (0: at once)",
    ),
    _s("metrics.enabled", bool, True, "write metrics/executions_YYYY-MM-DD.jsonl"),
    _s("analytics.enabled", bool, True, "write analytics/history.db"),
    _s("analytics.record_from_execution", bool, True, "dual-write analytics from each execution record"),
    _s("live.enabled", bool, True, "keep live/<pid>.json current for `otel-agents live` and `serve`"),
    _s(
        "analytics.url",
        str,
        "",
        "postgresql://user:password@host/db: write analytics into this shared PostgreSQL instead (never logged)",
    ),
    _s(
        "replay.on_start",
        bool,
        True,
        "replay undelivered spool records in the background at start (to OTLP; to metrics/analytics what they missed)",
    ),
    _s("claude_code.idle_timeout", float, 3600.0, "seconds after which a session with no SessionEnd is closed"),
    _s(
        "claude_code.auto_drain",
        bool,
        True,
        "the hook starts a detached drain (spans built and exported) at Stop and SessionEnd",
    ),
    _s(
        "claude_code.drain_deadline",
        float,
        10.0,
        "seconds a Claude Code drain (detached, or otel-agents flush) may take, at most",
    ),
    _s("claude_code.fsync", bool, False, "fsync the session spool after every hook event"),
    _s("budget.usd", float, 0.0, "otel-agents-budget plugin: warn past this cost per workflow (0: off)"),
)
_BY_NAME = {s.name: s for s in SETTINGS}


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    """``value`` as the setting's type; raises ValueError with a clear message."""
    typ = setting.type
    if typ is bool:
        b = to_bool(value)
        if b is not None:
            return b
    elif typ is str:
        if isinstance(value, str):
            return value
    elif typ in (int, float):
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)) and (typ is float or isinstance(value, int)):
            return typ(value)
        elif isinstance(value, str):
            try:
                return typ(value.strip())
            except ValueError:
                pass
    raise ValueError(
        f"{source}: {setting.name} must be {typ.__name__}, got {value!r}; using default {setting.default!r}"
    )


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED=true``: telemetry is off; the library records, writes and logs nothing."""
    return flag(DISABLED_ENV, False)


def application_name() -> str:
    """This process's application: its ``python -m`` module, else its entry script's name.

    ``otel-agents run -- python -m pkg`` gives ``pkg``, ``python tools/fix.py`` gives ``fix``, a
    console script its command name; with neither (``python -c``), OpenTelemetry's
    ``unknown_service:<executable>``.
    """
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    name = getattr(spec, "name", None) or ""
    if name and name != "__main__":
        return name.removesuffix(".__main__")
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] not in ("", "-c", "-m", "-") else None
    if script is not None:
        stem = script.stem if script.suffix in (".py", ".pyw", ".pyz") else script.name
        if stem == "__main__":  # python pkg/__main__.py
            stem = script.resolve().parent.name
        if stem:
            return stem
    return _module_in_argv(getattr(sys, "orig_argv", [])[1:]) or f"unknown_service:{Path(sys.executable).stem}"


def _module_in_argv(args: list[str]) -> str | None:
    """The module of ``python [options] -m module ...`` (before ``runpy`` sets ``sys.argv``)."""
    it = iter(args)
    for arg in it:
        if not arg.startswith("-") or arg == "-":
            return None
        if arg == "--check-hash-based-pycs":
            next(it, None)
            continue
        for i, char in enumerate(arg[1:], 1):
            rest = arg[i + 1 :]
            if char == "m":
                return rest or next(it, None)
            if char == "c":
                return None
            if char in "WX":
                if not rest:
                    next(it, None)
                break
    return None


def _resource_service_name(env: Mapping[str, str]) -> str | None:
    """``service.name`` from ``OTEL_RESOURCE_ATTRIBUTES``, if it sets one."""
    for item in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip() == "service.name" and value.strip():
            return unquote(value.strip())
    return None


def resolve_home(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The data home: ``$OTEL_AGENTS_HOME``, else ``.otel-agents`` under ``cwd`` (default: the
    working directory), as ``configfile.resolve_home`` decides it for the hook too."""
    return Path(configfile.resolve_home(cwd))


#: Tables that hold settings (``[otlp]`` holds ``otlp.enabled``, ...).
_SECTIONS = {s.name.rsplit(".", 1)[0] for s in SETTINGS if "." in s.name}


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict) and name not in _BY_NAME:
            out.update(_flatten(v, name + "."))
        else:
            out[name] = v
    return out


@dataclass(slots=True)
class Config:
    """The effective settings, plus the raw file for plugin-specific sections."""

    home: Path
    values: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        """A setting by dotted name; for unknown names, the raw file value or ``default``."""
        if name in self.values:
            return self.values[name]
        node: Any = self.raw
        for part in name.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @property
    def spans_dir(self) -> Path:
        return self.home / "spans"

    @property
    def metrics_dir(self) -> Path:
        return self.home / "metrics"

    @property
    def analytics_db(self) -> Path:
        return self.home / "analytics" / "history.db"

    @property
    def analytics_url(self) -> str | None:
        """The shared PostgreSQL store's URL (``analytics.url``), or None: the SQLite file."""
        url = str(self.get("analytics.url") or "").strip()
        return url or None


#: Sections plugins own; keys in them are not reported as unknown.
PLUGIN_SECTIONS = {"plugins", "instrument", "tool"}


def load_config(home: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read defaults, then the home's ``config.toml``, then the environment."""
    env = os.environ if environ is None else environ
    home_path = Path(home) if home is not None else resolve_home()
    raw, unreadable = configfile.read_toml(home_path / CONFIG_FILE)
    cfg = Config(home=home_path, raw=raw)
    if unreadable:
        cfg.problems.append(unreadable)
    for s in SETTINGS:
        cfg.values[s.name] = s.default
        cfg.sources[s.name] = "default"
    if raw:
        flat = _flatten(raw)
        for name, value in flat.items():
            setting = _BY_NAME.get(name)
            if setting is None:
                if name in _SECTIONS:
                    cfg.problems.append(
                        f"{home_path / CONFIG_FILE}: {name} must be a table ([{name}] with "
                        f"{', '.join(sorted(s.name for s in SETTINGS if s.name.startswith(name + '.')))}), "
                        f"got {type(value).__name__}; ignored, using the defaults"
                    )
                elif name.split(".", 1)[0] not in PLUGIN_SECTIONS:
                    cfg.problems.append(f"{home_path / CONFIG_FILE}: unknown key {name!r} ignored")
                continue
            try:
                cfg.values[name] = _coerce(setting, value, str(home_path / CONFIG_FILE))
                cfg.sources[name] = "config.toml"
            except ValueError as exc:
                cfg.problems.append(str(exc))
    for s in SETTINGS:
        for var in s.env:
            if var in env and not (s.type is bool and not env[var].strip()):  # empty: unset, as flag()
                value = env[var]
                try:
                    cfg.values[s.name] = _coerce(s, value, var)
                    cfg.sources[s.name] = var
                except ValueError as exc:
                    cfg.problems.append(str(exc))
                break
    # The spec says milliseconds; the Python SDK reads seconds (a 10000 becomes a 2.8 h hang).
    # We follow the spec, and only when our own setting was not given.
    for var in ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT"):
        if var in env and cfg.sources["otlp.timeout"] in ("default", "config.toml"):
            try:
                cfg.values["otlp.timeout"] = float(env[var]) / 1000.0
                cfg.sources["otlp.timeout"] = var
            except ValueError:
                cfg.problems.append(f"{var}: must be milliseconds, got {env[var]!r}; using default")
            break
    var = "OTEL_METRIC_EXPORT_INTERVAL"  # milliseconds, per the spec
    if var in env and env[var].strip() and cfg.sources["otel_metrics.interval"] in ("default", "config.toml"):
        try:
            cfg.values["otel_metrics.interval"] = float(env[var]) / 1000.0
            cfg.sources["otel_metrics.interval"] = var
        except ValueError:
            cfg.problems.append(f"{var}: must be milliseconds, got {env[var]!r}; using default")
    if not cfg.values["service_name"]:
        # Not set: OTEL_RESOURCE_ATTRIBUTES's service.name, else the application's own name.
        resource_name = _resource_service_name(env)
        cfg.values["service_name"] = resource_name or application_name()
        cfg.sources["service_name"] = "OTEL_RESOURCE_ATTRIBUTES" if resource_name else "default (the application)"
    for problem in () if sdk_disabled() else cfg.problems:
        if problem not in _logged:  # once per process: plugins may load the config again
            _logged.add(problem)
            logger.warning("otel-agents config: %s", problem)
    return cfg


_logged: set[str] = set()
