"""Report filters: time range, workflow template, model, status, session, machine, service.

- ``since``/``until`` select rows by their own start time (``since`` inclusive, ``until``
  exclusive; a bare date as ``until`` includes that whole day). Accepted: ``YYYY-MM-DD``,
  an ISO 8601 time (UTC unless it has an offset), or a duration back from now: ``30m``,
  ``24h``, ``7d``, ``2w``.
- ``template``, ``status``, ``session``, ``machine`` (``host.name``) and ``service`` select workflow runs; every row of a selected
  run is in the report (rows whose run is not stored yet are then left out).
- ``model`` selects runs that used the model, and within them, the steps and model calls
  on that model and the tool calls of those steps.

Each option may be given several times (any of the values matches).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

#: Workflow statuses (seed 001), and the outcome words accepted for them.
STATUSES = ("completed", "failed", "abandoned")
_STATUS_ALIASES = {"success": "completed", "succeeded": "completed", "failure": "failed", "abandon": "abandoned"}
_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


class FilterError(ValueError):
    """A filter value that cannot be understood."""


def parse_time(text: str, *, upper: bool = False, now_ns: int | None = None) -> int:
    """A time expression as ns since the epoch (see the module docstring).

    With ``upper``, a bare date means the end of that day (the next midnight, exclusive).
    """
    value = text.strip()
    now = time.time_ns() if now_ns is None else now_ns
    m = _REL.match(value)
    if m:
        return now - int(float(m.group(1)) * _UNIT_S[m.group(2)] * 1_000_000_000)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        except ValueError as exc:
            raise FilterError(f"not a date: {text!r}") from exc
        if upper:
            day += timedelta(days=1)
        return int(day.timestamp()) * 1_000_000_000
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise FilterError(f"not a time: {text!r} (use YYYY-MM-DD, an ISO 8601 time, or 30m/24h/7d/2w)") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def normalise_status(value: str) -> str:
    """``completed``, ``failed`` or ``abandoned`` (``success``/``failure`` accepted)."""
    v = value.strip().lower()
    v = _STATUS_ALIASES.get(v, v)
    if v not in STATUSES:
        raise FilterError(f"unknown status {value!r}: use one of {', '.join(STATUSES)}")
    return v


def _iso(ns: int) -> str:
    secs, rem = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + (f".{rem // 1000:06d}Z" if rem else "Z")


@dataclass(frozen=True, slots=True)
class Filters:
    """What the report covers. Empty: everything."""

    since: int | None = None
    until: int | None = None
    templates: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    machines: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        *,
        since: str | None = None,
        until: str | None = None,
        templates: Any = (),
        models: Any = (),
        statuses: Any = (),
        sessions: Any = (),
        now_ns: int | None = None,
        machines: Any = (),
        services: Any = (),
    ) -> Filters:
        """Filters from command-line strings (raises :class:`FilterError`)."""
        lo = parse_time(since, now_ns=now_ns) if since else None
        hi = parse_time(until, upper=True, now_ns=now_ns) if until else None
        if lo is not None and hi is not None and hi <= lo:
            raise FilterError("--until must be after --since")
        return cls(
            lo,
            hi,
            tuple(templates or ()),
            tuple(models or ()),
            tuple(normalise_status(s) for s in statuses or ()),
            tuple(sessions or ()),
            tuple(machines or ()),
            tuple(services or ()),
        )

    @property
    def selects_workflows(self) -> bool:
        """True when runs are selected by an attribute (template, status, session or model)."""
        return bool(self.templates or self.statuses or self.sessions or self.models or self.machines or self.services)

    @property
    def empty(self) -> bool:
        return self.since is None and self.until is None and not self.selects_workflows

    def describe(self) -> dict[str, Any]:
        """The filters as the JSON report's ``meta.filters``."""
        return {
            "since": _iso(self.since) if self.since is not None else None,
            "until": _iso(self.until) if self.until is not None else None,
            "template": list(self.templates),
            "model": list(self.models),
            "status": list(self.statuses),
            "session": list(self.sessions),
            "machine": list(self.machines),
            "service": list(self.services),
        }
