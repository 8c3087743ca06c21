"""The ``patterns`` section and ``otel-agents patterns mark``, on a small history whose expected
values were computed by hand (below), checked in JSON, text, CSV and HTML.

The history (times after 2027-01-15T08:00:00Z; each step's tool calls start 1, 2, 3 s into it):

====== ===== ================ ============================= ========= ===============
run    day   phase/step       tools                         cost      in / out tokens
====== ===== ================ ============================= ========= ===============
run-1  0     build/edit       Read a.py, Edit a.py, Bash    $0.10     1000 / 100
run-1  0     build/test       Bash pytest, pytest           $0.02      200 / 20
run-2  1     build/edit       Read b.py, Edit b.py, Bash    $0.20     2000 / 200
run-2  1     build/lint       Bash pytest, pytest           $0.04      400 / 40
run-2  1     build/commit     Bash git, git                 $0.05      100 / 10   (once: no pattern)
run-3  9     debug/fix        Read c.py, Edit c.py, Bash    $0.30     3000 / 300
run-3  9     debug/mystery    Grep, Read                    unknown     50 / 5    (2 unpriced calls)
run-3  9     debug/once       Glob, Read                    $0.50      500 / 50   (once: no pattern)
run-3  9     debug/single     Read                          $1.00     1000 / 100  (one call: no sequence)
run-4  9     debug/mystery    Grep, Read                    $0.01 + 1  60 / 6    (1 unpriced call)
run-4  9     debug/docs       Read x.md, Edit x.md, Bash    $0.40      400 / 40   (once: *.md, no pattern)
run-1  0     build/ask        WebSearch, WebFetch           unknown     70 / 7    (1 unpriced call)
run-2  1     build/ask        WebSearch, WebFetch           unknown     30 / 3    (1 unpriced call)
====== ===== ================ ============================= ========= ===============

("Bash pytest": a Bash call whose program is pytest, ``tool_calls.executable``; "Read a.py": a
Read of a file of type ``*.py``, ``tool_calls.file_types``.) The edits of a.py, b.py and c.py
are one pattern, ``Read(*.py)→Edit(*.py)→Bash``; the edit of x.md is another sequence, seen once.
Period: 2027-01-15 .. 2027-01-24 = 10 days. Saving = occurrences * 30 / 10 * cost/occurrence * 0.5.

- Read(*.py)→Edit(*.py)→Bash (id 1f5b48601c14 = sha256[:12]): 3 occurrences, 3 workflows, steps
  build/edit (2), debug/fix (1); tokens 6000 + 600 = 6600; cost 0.10 + 0.20 + 0.30 = $0.60; per
  occurrence $0.20; 9.0 per month; saving 9 * 0.20 * 0.5 = $0.90. First seen day 0 at 08:00:01,
  last day 9 at 08:01:41.
- Bash(pytest)→Bash(pytest) (6e561644af75): 2 occurrences, 2 workflows, build/lint (1), build/test (1); tokens 600 + 60
  = 660; cost $0.06; per occurrence $0.03; 6.0 per month; saving 6 * 0.03 * 0.5 = $0.09.
- Grep→Read (37bd62244cd4): 2 occurrences, 2 workflows, debug/mystery (2); tokens 110 + 11 = 121;
  cost $0.01 + 3 unpriced calls: saving unknown; 6.0 per month.
- WebSearch→WebFetch (92b5574c8030): 2 occurrences, 2 workflows, build/ask (2); tokens 100 + 10 = 110;
  every model call unpriced: cost unknown (never $0), saving unknown; 6.0 per month. First seen
  day 0 at 08:00:41 (run-1's third step), last day 1 at 08:01:01 (run-2's fourth step).
- 4 patterns, 9 step attempts in them; order by saving, unknown savings last (then occurrences,
  then sequence): Read(*.py)→Edit(*.py)→Bash, Bash(pytest)→Bash(pytest), Grep→Read, WebSearch→WebFetch.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from report_history import DAY, History

from otel_agents.analytics.decisions import load, mark
from otel_agents.report import build_report, render

P1, P2, P3, P4 = "1f5b48601c14", "6e561644af75", "37bd62244cd4", "92b5574c8030"
EDIT_PY = "Read(*.py)\u2192Edit(*.py)\u2192Bash"
ARROW = "\u2192"

STEPS = (  # run, day, phase, step, tools, cost, unpriced calls, input tokens, output tokens
    ("run-1", 0, "build", "edit", ("Read a.py", "Edit a.py", "Bash"), 0.10, 0, 1000, 100),
    ("run-1", 0, "build", "test", ("Bash pytest", "Bash pytest"), 0.02, 0, 200, 20),
    ("run-2", 1, "build", "edit", ("Read b.py", "Edit b.py", "Bash"), 0.20, 0, 2000, 200),
    ("run-2", 1, "build", "lint", ("Bash pytest", "Bash pytest"), 0.04, 0, 400, 40),
    ("run-2", 1, "build", "commit", ("Bash git", "Bash git"), 0.05, 0, 100, 10),
    ("run-3", 9, "debug", "fix", ("Read c.py", "Edit c.py", "Bash"), 0.30, 0, 3000, 300),
    ("run-3", 9, "debug", "mystery", ("Grep", "Read"), None, 2, 50, 5),
    ("run-3", 9, "debug", "once", ("Glob", "Read"), 0.50, 0, 500, 50),
    ("run-3", 9, "debug", "single", ("Read",), 1.00, 0, 1000, 100),
    ("run-4", 9, "debug", "mystery", ("Grep", "Read"), 0.01, 1, 60, 6),
    ("run-4", 9, "debug", "docs", ("Read x.md", "Edit x.md", "Bash"), 0.40, 0, 400, 40),
    ("run-1", 0, "build", "ask", ("WebSearch", "WebFetch"), None, 1, 70, 7),
    ("run-2", 1, "build", "ask", ("WebSearch", "WebFetch"), None, 1, 30, 3),
)


def _history() -> History:
    h = History()
    runs: dict[str, tuple[str, str, float]] = {}
    offsets: dict[str, float] = {}
    for run, day, phase, step, tools, cost, unpriced, inp, out in STEPS:
        if run not in runs:
            t0 = day * DAY + (100 if run == "run-3" else 0)
            w = h.workflow(run, t0, t0 + 500)
            runs[run] = (w, h.phase(run, w, phase, t0, t0 + 500), t0)
            offsets[run] = t0
        _w, p, _t0 = runs[run]
        start = offsets[run]
        offsets[run] += 20
        s = h.step(run, p, phase, step, start, start + 10, cost=cost, unpriced=unpriced, calls=unpriced + 1)
        h.records[-1].update(input_tokens=inp, output_tokens=out)
        for i, tool in enumerate(tools):
            name, _, arg = tool.partition(" ")
            file_type = "*" + arg[arg.index(".") :] if "." in arg else None  # as argforms.file_types
            h.tool(
                run,
                s,
                name,
                start + 1 + i,
                start + 1.5 + i,
                args=f"{run}{step}{i}",
                executable=None if file_type else arg or None,
                file_types=file_type,
            )
    return h


@pytest.fixture()
def store(tmp_path):
    return _history().store(tmp_path / "history.db")


EXPECTED = [
    {
        "id": P1,
        "sequence": EDIT_PY,
        "length": 3,
        "occurrences": 3,
        "first_seen": "2027-01-15T08:00:01.000000Z",
        "last_seen": "2027-01-24T08:01:41.000000Z",
        "workflows": 3,
        "workflow_ids": ["run-1", "run-2", "run-3"],
        "steps": [
            {"phase": "build", "step": "edit", "occurrences": 2},
            {"phase": "debug", "step": "fix", "occurrences": 1},
        ],
        "input_tokens": 6000,
        "output_tokens": 600,
        "tokens": 6600,
        "cost_usd": 0.6,
        "unpriced_model_calls": 0,
        "cost_per_occurrence_usd": 0.2,
        "monthly_occurrences": 9.0,
        "projected_monthly_saving_usd": 0.9,
        "status": None,
        "note": None,
        "decided_at": None,
    },
    {
        "id": P2,
        "sequence": f"Bash(pytest){ARROW}Bash(pytest)",
        "length": 2,
        "occurrences": 2,
        "first_seen": "2027-01-15T08:00:21.000000Z",
        "last_seen": "2027-01-16T08:00:21.000000Z",
        "workflows": 2,
        "workflow_ids": ["run-1", "run-2"],
        "steps": [
            {"phase": "build", "step": "lint", "occurrences": 1},
            {"phase": "build", "step": "test", "occurrences": 1},
        ],
        "input_tokens": 600,
        "output_tokens": 60,
        "tokens": 660,
        "cost_usd": 0.06,
        "unpriced_model_calls": 0,
        "cost_per_occurrence_usd": 0.03,
        "monthly_occurrences": 6.0,
        "projected_monthly_saving_usd": 0.09,
        "status": None,
        "note": None,
        "decided_at": None,
    },
    {
        "id": P3,
        "sequence": f"Grep{ARROW}Read",
        "length": 2,
        "occurrences": 2,
        "first_seen": "2027-01-24T08:00:01.000000Z",
        "last_seen": "2027-01-24T08:02:01.000000Z",
        "workflows": 2,
        "workflow_ids": ["run-3", "run-4"],
        "steps": [{"phase": "debug", "step": "mystery", "occurrences": 2}],
        "input_tokens": 110,
        "output_tokens": 11,
        "tokens": 121,
        "cost_usd": 0.01,
        "unpriced_model_calls": 3,
        "cost_per_occurrence_usd": None,
        "monthly_occurrences": 6.0,
        "projected_monthly_saving_usd": None,
        "status": None,
        "note": None,
        "decided_at": None,
    },
    {
        "id": P4,
        "sequence": f"WebSearch{ARROW}WebFetch",
        "length": 2,
        "occurrences": 2,
        "first_seen": "2027-01-15T08:00:41.000000Z",
        "last_seen": "2027-01-16T08:01:01.000000Z",
        "workflows": 2,
        "workflow_ids": ["run-1", "run-2"],
        "steps": [{"phase": "build", "step": "ask", "occurrences": 2}],
        "input_tokens": 100,
        "output_tokens": 10,
        "tokens": 110,
        "cost_usd": None,
        "unpriced_model_calls": 2,
        "cost_per_occurrence_usd": None,
        "monthly_occurrences": 6.0,
        "projected_monthly_saving_usd": None,
        "status": None,
        "note": None,
        "decided_at": None,
    },
]


def test_patterns_json_has_the_hand_computed_values(store):
    p = build_report(store, use_cache=False, sections=("patterns",))["patterns"]
    assert p["assumptions"] == {
        "saving_share": 0.5,
        "days_per_month": 30,
        "period_days": 10,
        "min_occurrences": 2,
        "min_length": 2,
        "formula": "saving = occurrences * days_per_month / period_days * (cost_usd / occurrences) * saving_share",
    }
    assert (p["patterns"], p["step_attempts_in_patterns"]) == (4, 9)
    assert p["top"] == EXPECTED
    assert json.loads(render(build_report(store, use_cache=False, sections=("patterns",)), "json"))["patterns"] == p


def test_a_decision_is_recorded_and_shown(store):
    decided = mark(store, P2, "approved", "one lint-and-test tool")
    assert load(store) == {
        P2: {"status": "approved", "note": "one lint-and-test tool", "decided_at": decided["decided_at"]}
    }
    mark(store, P2, "implemented")  # the latest decision replaces the earlier one
    top = build_report(store, sections=("patterns",))["patterns"]["top"]
    assert [(x["id"], x["status"], x["note"]) for x in top] == [
        (P1, None, None),
        (P2, "implemented", None),
        (P3, None, None),
        (P4, None, None),
    ]
    with pytest.raises(ValueError, match="unknown status"):
        mark(store, P1, "maybe")
    with pytest.raises(ValueError, match="not a pattern id"):
        mark(store, "Read", "candidate")


def test_patterns_text_and_html(store):
    mark(store, P2, "approved", "lint tool")
    report = build_report(store, use_cache=False, sections=("patterns",))
    text = render(report, "text")
    assert "== Patterns ==" in text
    assert (
        "4 patterns (a tool sequence of 2+ calls in 2+ step attempts), 9 step attempts. Projected saving per month = "
        "occurrences x 30 / 10 days covered x cost per occurrence x 0.5 (assumption: a tool doing the sequence saves "
        "50% of the model cost of the steps it occurs in)."
    ) in text
    lines = text.splitlines()
    i = lines.index("Repeated tool-call patterns, most valuable first")
    body = [" ".join(line.split()) for line in lines[i + 3 : i + 8]]
    assert body == [
        f"{P1} {EDIT_PY} 3 3 build/edit (2), debug/fix (1) 2027-01-15T08:00:01 2027-01-24T08:01:41 "
        "6,600 $0.6000 9.00 $0.9000 -",
        f"{P2} Bash(pytest){ARROW}Bash(pytest) 2 2 build/lint (1), build/test (1) 2027-01-15T08:00:21 2027-01-16T08:00:21 "
        "660 $0.0600 6.00 $0.0900 approved: lint tool",
        f"{P3} Grep{ARROW}Read 2 2 debug/mystery (2) 2027-01-24T08:00:01 2027-01-24T08:02:01 "
        "121 $0.0100 + 3 unpriced 6.00 unknown (unpriced) -",
        f"{P4} WebSearch{ARROW}WebFetch 2 2 build/ask (2) 2027-01-15T08:00:41 2027-01-16T08:01:01 "
        "110 unknown (2 unpriced) 6.00 unknown (unpriced) -",
    ]
    html = render(report, "html")
    assert "<h2>Patterns</h2>" in html
    assert "30 / 10 days covered x cost per occurrence x 0.5" in html
    for cells in (
        (P1, EDIT_PY, "3", "3", "6,600", "$0.6000", "9.00", "$0.9000", "-"),
        (P2, f"Bash(pytest){ARROW}Bash(pytest)", "2", "2", "660", "$0.0600", "6.00", "$0.0900", "approved: lint tool"),
        (P3, f"Grep{ARROW}Read", "2", "2", "121", "$0.0100 + 3 unpriced", "6.00", "unknown (unpriced)", "-"),
        (P4, f"WebSearch{ARROW}WebFetch", "2", "2", "110", "unknown (2 unpriced)", "6.00", "unknown (unpriced)"),
    ):
        for c in cells:
            assert f">{c}</td>" in html, c


def test_patterns_csv_from_the_command_line(store, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "otel_agents", "patterns", "--db", str(store), "mark", P1, "candidate", "--note", "x,y"],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [sys.executable, "-m", "otel_agents", "report", "--db", str(store), "--section", "patterns", "-f", "csv", "-q"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    got = list(csv.DictReader(io.StringIO(out)))
    assert [{k: v for k, v in r.items() if k != "decided_at"} for r in got] == [
        {
            "id": P1,
            "sequence": EDIT_PY,
            "length": "3",
            "occurrences": "3",
            "first_seen": "2027-01-15T08:00:01.000000Z",
            "last_seen": "2027-01-24T08:01:41.000000Z",
            "workflows": "3",
            "workflow_ids": "run-1;run-2;run-3",
            "steps": "build/edit:2;debug/fix:1",
            "input_tokens": "6000",
            "output_tokens": "600",
            "tokens": "6600",
            "cost_usd": "0.6",
            "unpriced_model_calls": "0",
            "cost_per_occurrence_usd": "0.2",
            "monthly_occurrences": "9",
            "projected_monthly_saving_usd": "0.9",
            "saving_share": "0.5",
            "period_days": "10",
            "status": "candidate",
            "note": "x,y",
        },
        {
            "id": P2,
            "sequence": f"Bash(pytest){ARROW}Bash(pytest)",
            "length": "2",
            "occurrences": "2",
            "first_seen": "2027-01-15T08:00:21.000000Z",
            "last_seen": "2027-01-16T08:00:21.000000Z",
            "workflows": "2",
            "workflow_ids": "run-1;run-2",
            "steps": "build/lint:1;build/test:1",
            "input_tokens": "600",
            "output_tokens": "60",
            "tokens": "660",
            "cost_usd": "0.06",
            "unpriced_model_calls": "0",
            "cost_per_occurrence_usd": "0.03",
            "monthly_occurrences": "6",
            "projected_monthly_saving_usd": "0.09",
            "saving_share": "0.5",
            "period_days": "10",
            "status": "",
            "note": "",
        },
        {
            "id": P3,
            "sequence": f"Grep{ARROW}Read",
            "length": "2",
            "occurrences": "2",
            "first_seen": "2027-01-24T08:00:01.000000Z",
            "last_seen": "2027-01-24T08:02:01.000000Z",
            "workflows": "2",
            "workflow_ids": "run-3;run-4",
            "steps": "debug/mystery:2",
            "input_tokens": "110",
            "output_tokens": "11",
            "tokens": "121",
            "cost_usd": "0.01",
            "unpriced_model_calls": "3",
            "cost_per_occurrence_usd": "-",
            "monthly_occurrences": "6",
            "projected_monthly_saving_usd": "-",
            "saving_share": "0.5",
            "period_days": "10",
            "status": "",
            "note": "",
        },
        {
            "id": P4,
            "sequence": f"WebSearch{ARROW}WebFetch",
            "length": "2",
            "occurrences": "2",
            "first_seen": "2027-01-15T08:00:41.000000Z",
            "last_seen": "2027-01-16T08:01:01.000000Z",
            "workflows": "2",
            "workflow_ids": "run-1;run-2",
            "steps": "build/ask:2",
            "input_tokens": "100",
            "output_tokens": "10",
            "tokens": "110",
            "cost_usd": "-",
            "unpriced_model_calls": "2",
            "cost_per_occurrence_usd": "-",
            "monthly_occurrences": "6",
            "projected_monthly_saving_usd": "-",
            "saving_share": "0.5",
            "period_days": "10",
            "status": "",
            "note": "",
        },
    ]
    assert got[0]["decided_at"] and got[1]["decided_at"] == ""
    bad = subprocess.run(
        [sys.executable, "-m", "otel_agents", "patterns", "--db", str(store), "mark", P1, "maybe"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "invalid choice: 'maybe'" in bad.stderr


def test_the_program_of_a_shell_call_reaches_the_store_and_the_pattern(make_runtime, exporter, tmp_path):
    """``tool_call(executable=...)`` (``process.executable.name``) is kept as ``tool_calls.executable``
    (the program only, never the command line) and tells Bash(pytest) from Bash(git)."""
    import sqlite3

    import otel_agents as oa
    from otel_agents.config import load_config
    from otel_agents.sinks.analytics import AnalyticsSink

    make_runtime()
    for i in range(2):
        wf = oa.new_workflow("job", workflow_id=f"wf-{i}").start()
        step = wf.phase("build").start().step("coder").start()
        for program in ("pytest", "git"):
            with step.tool_call("Bash", arguments={"command": f"{program} --secret-{i}"}, executable=program):
                pass
        step.stop()
        wf.stop()
    home = tmp_path / "home"
    sink = AnalyticsSink(load_config(home))
    try:
        sink.export(list(exporter.get_finished_spans()))
    finally:
        sink.close()
    store = home / "analytics" / "history.db"
    with sqlite3.connect(store) as conn:
        got = conn.execute(
            "SELECT workflow_id, tool_name, executable FROM tool_calls ORDER BY workflow_id, start_unix_nano"
        )
        assert got.fetchall() == [
            ("wf-0", "Bash", "pytest"),
            ("wf-0", "Bash", "git"),
            ("wf-1", "Bash", "pytest"),
            ("wf-1", "Bash", "git"),
        ]
    top = build_report(store, use_cache=False, sections=("patterns",))["patterns"]["top"]
    assert [(x["sequence"], x["occurrences"], x["workflows"]) for x in top] == [(f"Bash(pytest){ARROW}Bash(git)", 2, 2)]


def test_file_types_of_captured_arguments_make_one_pattern(make_runtime, exporter, tmp_path):
    """With content capture on, a file tool's arguments give its file types (``tool_calls.file_types``,
    never the path): ``Edit a.py`` and ``Edit b.py`` are one pattern, ``Edit notes.md`` another.
    With capture off the arguments are not kept, so neither are their file types."""
    import sqlite3

    import otel_agents as oa
    from otel_agents.config import load_config
    from otel_agents.sinks.analytics import AnalyticsSink

    def run(capture: bool, home_name: str) -> tuple[list[tuple], list[tuple]]:
        exporter.clear()
        environ = {"OTEL_AGENTS_CAPTURE_CONTENT": "true" if capture else "false"}
        make_runtime(config=load_config(tmp_path / "cfg", environ=environ))
        for i, name in enumerate(("a.py", "src/b.PY", "notes.md", "c.py")):
            wf = oa.new_workflow("job", workflow_id=f"wf-{i}").start()
            step = wf.phase("build").start().step("coder").start()
            with step.tool_call("Edit", arguments={"file_path": f"/work/{name}", "old_string": "x"}):
                pass
            with step.tool_call("Read", arguments={"paths": [f"/work/{name}", "README.md", "Makefile"]}):
                pass
            with step.tool_call("Bash", arguments={"command": "pytest -q"}, executable="pytest"):
                pass
            step.stop()
            wf.stop()
        home = tmp_path / home_name
        sink = AnalyticsSink(load_config(home))
        try:
            sink.export(list(exporter.get_finished_spans()))
        finally:
            sink.close()
        store = home / "analytics" / "history.db"
        with sqlite3.connect(store) as conn:
            stored = conn.execute(
                "SELECT workflow_id, tool_name, executable, file_types FROM tool_calls"
                " WHERE workflow_id IN ('wf-1', 'wf-2') ORDER BY workflow_id, start_unix_nano"
            ).fetchall()
        top = build_report(store, use_cache=False, sections=("patterns",))["patterns"]["top"]
        return stored, [(x["sequence"], x["occurrences"], x["workflow_ids"]) for x in top]

    stored, patterns = run(True, "on")
    assert stored == [
        ("wf-1", "Edit", None, "*.py"),
        ("wf-1", "Read", None, "*.md *.py"),
        ("wf-1", "Bash", "pytest", None),
        ("wf-2", "Edit", None, "*.md"),
        ("wf-2", "Read", None, "*.md"),
        ("wf-2", "Bash", "pytest", None),
    ]
    assert patterns == [(f"Edit(*.py){ARROW}Read(*.md *.py){ARROW}Bash(pytest)", 3, ["wf-0", "wf-1", "wf-3"])]
    stored, patterns = run(False, "off")
    assert [r[3] for r in stored] == [None] * 6
    assert patterns == [(f"Edit{ARROW}Read{ARROW}Bash(pytest)", 4, ["wf-0", "wf-1", "wf-2", "wf-3"])]


@pytest.mark.parametrize(
    ("arguments", "tool", "expected"),
    [
        ('{"file_path": "/w/a.py"}', "Edit", "*.py"),
        ('{"file_path": "/w/A.Py", "paths": ["x.md", "dir/", ".env", "Makefile"]}', "Read", "*.md *.py"),
        ('{"pattern": "**/*.ts", "path": "src"}', "Glob", "*.ts"),
        ('{"pattern": "def main.py", "path": "src"}', "Grep", None),  # a regex, not a file
        (
            '{"input": "*** Begin Patch\\n*** Update File: a/b.rs\\n*** Add File: c.toml\\n"}',
            "apply_patch",
            "*.rs *.toml",
        ),
        ('{"command": "cat a.py"}', "Bash", None),  # a shell command: its program, not its files
        ("not json", "Edit", None),
        ('["a.py"]', "Edit", None),
        (None, "Edit", None),
    ],
)
def test_file_types_normalise_the_arguments(arguments, tool, expected):
    from otel_agents.foundation.argforms import file_types

    assert file_types(arguments, tool) == expected


def test_patterns_and_decisions_on_postgresql(pg_url, tmp_path):
    """The same history in a PostgreSQL store: the same patterns; ``patterns mark`` with the URL
    records the decision there (migration 6 ran on PostgreSQL), and the report shows it."""
    from otel_agents.analytics.postgres import PgAnalyticsStore
    from otel_agents.report import ReportEngine

    pg = PgAnalyticsStore(pg_url)
    try:
        pg.write(_history().records)
        with pg.session() as conn:
            # every migration ran, 6 (the decisions) included
            assert conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == [
                (v,) for v in range(1, 8)
            ]
    finally:
        pg.close()
    done = subprocess.run(
        [sys.executable, "-m", "otel_agents", "patterns", "--db", pg_url, "mark", P3, "rejected", "--note", "rare"],
        capture_output=True,
        text=True,
    )
    assert (done.returncode, done.stdout) == (0, f"pattern {P3}: rejected (rare)\n"), done.stderr
    with ReportEngine(pg_url, cache_dir=tmp_path / "cache") as engine:
        p = engine.report(sections=("patterns",))["patterns"]
    decided = p["top"][2].pop("decided_at")
    assert decided and decided.endswith("Z")
    expected = [dict(x) for x in EXPECTED]
    expected[2].update(status="rejected", note="rare")  # P3
    del expected[2]["decided_at"]
    assert (p["patterns"], p["step_attempts_in_patterns"], p["top"]) == (4, 9, expected)


def test_the_cached_patterns_follow_new_rows_and_equal_a_fresh_computation(tmp_path):
    """The unfiltered report reads the patterns the cache keeps (``pattern_stats``), updated at
    each sync for the sequences whose steps changed. Here the first sync lacks run-4, the tool
    calls of run-2's ``build/ask`` (its sequence appears later) and run-1's ``build/ask`` step row
    (its tools come first, their step's cost later); after the second sync the patterns are the
    hand-computed ones, as computed from scratch over the step attempts."""
    from otel_agents.analytics.store import AnalyticsStore
    from otel_agents.report import ReportEngine
    from otel_agents.report.patterns import pattern_id, patterns_section

    h = _history()
    ask = {r["record_id"] for r in h.records if r.get("step_name") == "ask" and r["kind"] == "step"}
    run1_ask = next(r["record_id"] for r in h.records if r["record_id"] in ask and r["workflow_id"] == "run-1")
    run2_ask = next(r["record_id"] for r in h.records if r["record_id"] in ask and r["workflow_id"] == "run-2")

    def later(r: dict) -> bool:
        return r["workflow_id"] == "run-4" or r["record_id"] == run1_ask or r.get("parent_id") == run2_ask

    db = tmp_path / "history.db"

    def sync(batch: list[dict]) -> tuple[dict, bool]:
        st = AnalyticsStore(db)
        try:
            st.write(batch)
        finally:
            st.close()
        with ReportEngine(db) as engine:
            p = engine.report(sections=("patterns",))["patterns"]
            cur = engine.con.cursor()
            engine.scope.views(cur)
            assert p == patterns_section(cur, top=10, precomputed=False)
        return p, engine.sync.rebuilt

    p, rebuilt = sync([r for r in h.records if not later(r)])
    assert rebuilt and [(x["id"], x["occurrences"]) for x in p["top"]] == [(P1, 3), (P2, 2)]  # Grep→Read once yet
    p, rebuilt = sync([r for r in h.records if later(r)])  # most patterns change: all recomputed
    assert not rebuilt
    assert (p["patterns"], p["step_attempts_in_patterns"], p["top"]) == (4, 9, EXPECTED)
    # one more run, day 9: its build/commit repeats run-2's Bash(git)→Bash(git) ($0.05, 100 / 10 tokens
    # each): only that pattern is computed again. 2 occurrences, $0.10, 220 tokens, 6 a month,
    # saving 6 x 0.05 x 0.5 = $0.15; second most valuable. Read(*.py)→... and the others unchanged.
    n = len(h.records)
    t0 = 9 * DAY + 200
    w = h.workflow("run-5", t0, t0 + 500)
    s = h.step("run-5", h.phase("run-5", w, "build", t0, t0 + 500), "build", "commit", t0, t0 + 10, cost=0.05, calls=1)
    h.records[-1].update(input_tokens=100, output_tokens=10)
    for i in range(2):
        h.tool("run-5", s, "Bash", t0 + 1 + i, t0 + 1.5 + i, args=f"git{i}", executable="git")
    p, rebuilt = sync(h.records[n:])
    assert not rebuilt and (p["patterns"], p["step_attempts_in_patterns"]) == (5, 11)
    assert [x["id"] for x in p["top"]] == [P1, pattern_id(f"Bash(git){ARROW}Bash(git)"), P2, P3, P4]
    assert p["top"][0] == EXPECTED[0] and p["top"][2:] == EXPECTED[1:]
    git = p["top"][1]
    assert (git["occurrences"], git["first_seen"], git["last_seen"], git["workflow_ids"], git["steps"]) == (
        2,
        "2027-01-16T08:00:41.000000Z",
        "2027-01-24T08:03:21.000000Z",
        ["run-2", "run-5"],
        [{"phase": "build", "step": "commit", "occurrences": 2}],
    )
    assert (git["tokens"], git["cost_usd"], git["monthly_occurrences"], git["projected_monthly_saving_usd"]) == (
        220,
        0.1,
        6.0,
        0.15,
    )


def test_a_filtered_report_computes_its_own_patterns(store):
    """``--since 2027-01-16``: day 1 to day 9 (9 days). Read(*.py)→Edit(*.py)→Bash occurs in run-2
    and run-3 ($0.20 + $0.30 = $0.50, 5000 + 500 tokens): 2 x 30 / 9 = 6.666667 a month, $0.25
    each, saving 2 x 30 / 9 x 0.25 x 0.5 = $0.83333333 (costs to 8 decimals). Grep→Read as
    unfiltered but 6.666667 a month.
    Bash(pytest)→Bash(pytest) and WebSearch→WebFetch occur once each from day 1: no pattern."""
    from otel_agents.report import Filters

    p = build_report(store, Filters.parse(since="2027-01-16"), use_cache=False, sections=("patterns",))["patterns"]
    assert (p["assumptions"]["period_days"], p["patterns"], p["step_attempts_in_patterns"]) == (9, 2, 4)
    first = {
        **EXPECTED[0],
        "occurrences": 2,
        "first_seen": "2027-01-16T08:00:01.000000Z",
        "workflows": 2,
        "workflow_ids": ["run-2", "run-3"],
        "steps": [
            {"phase": "build", "step": "edit", "occurrences": 1},
            {"phase": "debug", "step": "fix", "occurrences": 1},
        ],
        "input_tokens": 5000,
        "output_tokens": 500,
        "tokens": 5500,
        "cost_usd": 0.5,
        "cost_per_occurrence_usd": 0.25,
        "monthly_occurrences": 6.666667,
        "projected_monthly_saving_usd": 0.83333333,  # costs are rounded to 8 decimals
    }
    assert p["top"] == [first, {**EXPECTED[2], "monthly_occurrences": 6.666667}]
