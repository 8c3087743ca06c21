"""Fixtures of the fault suite, and the results file the table in docs/reliability.md is made from.

``OTEL_AGENTS_FAULTS=fast`` (default, ``make test``) or ``soak`` (``make reliability``) picks
the sizes. Every case adds a row (``fault_row``); at the end of the session the rows, with
each test's outcome, are merged into ``build/faults/results-<mode>.json`` (by key, so a
partial run updates only its rows). ``tests/faults/report.py`` renders the table.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _harness import MODE, ROOT, STORES, Case

RESULTS_DIR = Path(os.environ.get("OTEL_AGENTS_FAULTS_RESULTS", ROOT / "build" / "faults"))
_rows: list[dict[str, Any]] = []
_outcomes: dict[str, str] = {}
_reasons: dict[str, str] = {}


def results_path(mode: str = MODE) -> Path:
    return RESULTS_DIR / f"results-{mode}.json"


def _fmt_ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.1f} ms"


def case_figure(case: Case, stores: tuple[str, ...] = STORES) -> str:
    """One cell: the standard measures of a workflow case."""
    s = case.summary()
    parts = [f"{s['exceptions']} exceptions"]
    wt = s["workflow_thread"]
    if wt:
        cpu = f", {_fmt_ms(wt.get('cpu_ms'))} CPU" if "cpu_ms" in wt else ""
        parts.append(
            f"workflow thread {_fmt_ms(wt['median_ms'])} median{cpu}, worst {wt['max_ms']:.0f} ms "
            f"(first {wt['first_ms']:.0f} ms)"
        )
    if s["exit_s"] is not None:
        parts.append(f"exit {s['exit_s']:.2f} s")
    lost = {k: case.after[k]["lost"] for k in stores}
    dup = {k: case.after[k]["dup"] for k in stores}
    parts.append(f"after recovery lost {sum(lost.values())}, duplicated {sum(dup.values())} ({', '.join(stores)})")
    resent = case.after["receiver"].get("resent", 0) if "receiver" in stores else 0
    if resent:
        parts.append(f"resent after an acknowledgement the ledger missed: {resent}")
    live_missed = {k: case.live[k]["lost"] for k in stores if case.live[k]["lost"]}
    if live_missed:
        parts.append("missed live: " + ", ".join(f"{k} {v}" for k, v in live_missed.items()))
    parts.append(f"{s['corrupt_lines']} corrupt / {s['torn_lines']} torn lines")
    return "; ".join(parts)


@pytest.fixture
def fault_row(request: pytest.FixtureRequest):
    """``fault_row(key, group, fault, measured, figure, case=None, **data)``: one table row."""

    def add(
        key: str,
        group: str,
        fault: str,
        measured: str,
        figure: str | None = None,
        *,
        case: Case | None = None,
        notes: str = "",
        **data: Any,
    ) -> None:
        row = {
            "key": key,
            "group": group,
            "fault": fault,
            "measured": measured,
            "figure": figure if figure is not None else (case_figure(case) if case else ""),
            "notes": notes,
            "nodeid": request.node.nodeid,
            "mode": MODE,
            "data": {**(case.summary() if case else {}), **data},
            "time": time.time(),
        }
        _rows.append(row)

    return add


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def receiver():
    from _otlp_receiver import HttpReceiver

    with HttpReceiver() as r:
        yield r


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call" or (rep.when == "setup" and rep.outcome != "passed"):
        if hasattr(rep, "wasxfail"):
            status = "xfail" if rep.skipped else "xpass"
            _reasons[item.nodeid] = str(rep.wasxfail).removeprefix("reason: ")
        else:
            status = rep.outcome
        _outcomes[item.nodeid] = status


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not _rows:
        return
    path = results_path()
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        old = {}
    rows = {r["key"]: r for r in old.get("rows", [])}
    for r in _rows:
        r["status"] = _outcomes.get(r["nodeid"], "unknown")
        r["reason"] = _reasons.get(r["nodeid"], "")
        rows[r["key"]] = r
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "mode": MODE,
        "updated": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count()},
        "rows": sorted(rows.values(), key=lambda r: r["key"]),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)
