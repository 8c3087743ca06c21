"""Security checks.

- every file the tools leave in a data home is 0600 and every directory 0700, even with
  ``umask 000`` (a demo, a Claude Code session through the real hook, drains, reports,
  replay, reconcile, doctor);
- no prompt or tool content is stored by default: every byte of every file is searched for
  the demo's and the fixture session's prompt, tool inputs, tool results and error texts;
- redaction: API keys, bearer tokens, passwords in URLs and commands, ``.env`` content, in
  ``otel_agents.redact`` and end to end (the hook and the core API with capture on);
- SQL is parameterized: a static check over the source for SQL text built with f-strings,
  ``%``, ``+`` or ``.format``; what is interpolated must be an identifier or SQL fragment
  made from constants (allow-listed below, each reviewed), never a value;
- configuration never executes code: TOML only, no ``eval``/``exec``/``pickle``/``yaml``/
  shell in the source, and a malicious config.toml run through every command;
- OTLP headers (auth tokens) never reach a log, a file or the output, at DEBUG logging,
  against refusing, rejecting (401), busy (503) and hung collectors;
- ``transcript_path`` is only ever read: a transcript, a file that is not one, a symlink, a
  FIFO, keep their content, size, mode and mtime, and nothing is created next to them.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _harness import OTEL_AGENTS, ROOT, SOAK, child_env, cli, run_workload, wait_home_idle
from _otlp_receiver import HttpReceiver, HungSocket, free_port
from _waiting import wait_until

from otel_agents.redact import REDACTED, redact

FIXTURE = ROOT / "tests" / "fixtures" / "claude-code" / "basic-session"
SRC = ROOT / "otel_agents"


def _umask0() -> None:
    os.umask(0)


def _run(args: list[str], env: dict[str, str], stdin: bytes | None = None, timeout: float = 180):
    return subprocess.run(
        [OTEL_AGENTS, *args], env=env, input=stdin, capture_output=True, timeout=timeout, preexec_fn=_umask0
    )


def _events(transcript: Path, session_id: str | None = None) -> list[dict]:
    out = []
    for line in (FIXTURE / "events.jsonl").read_text().splitlines():
        e = json.loads(line.replace("{FIXTURE_DIR}/transcript.jsonl", str(transcript)))
        if session_id:
            e["session_id"] = session_id
        out.append(e)
    return out


@pytest.fixture(scope="module")
def session_home(tmp_path_factory):
    """A data home after a demo, a Claude Code session, drains, reports, replay, reconcile
    and doctor, every process with umask 000."""
    root = tmp_path_factory.mktemp("security")
    home = root / "home"
    transcripts = root / "transcripts"
    transcripts.mkdir()
    shutil.copy(FIXTURE / "transcript.jsonl", transcripts / "transcript.jsonl")
    env = child_env(home, f"http://127.0.0.1:{free_port()}/v1/traces", OTEL_AGENTS_CLAUDE_CODE_AUTO_DRAIN="1")
    outputs = []
    outputs.append(_run(["demo", "--pace", "0"], env))
    for e in _events(transcripts / "transcript.jsonl"):
        outputs.append(_run(["hook"], env, json.dumps(e).encode()))
    wait_home_idle(home)  # the detached drains started at Stop and SessionEnd have exited
    for args in (
        ["flush"],
        ["report"],
        ["report", "--format", "html"],
        ["report", "--format", "csv"],
        ["reconcile"],
        ["reconcile", "--from-spool"],
        ["replay", "--quiet"],
        ["doctor"],
        ["flush", "--status"],
    ):
        outputs.append(_run(args, env))
    wait_home_idle(home)  # a detached drain may still be finishing
    return home, root, outputs


def test_files_0600_and_directories_0700(session_home, fault_row):
    home, _root, outputs = session_home
    assert outputs[0].returncode == 0, outputs[0].stderr[-2000:]
    bad = []
    files = dirs = 0
    for dirpath, dirnames, filenames in os.walk(home):
        for d in [dirpath, *(os.path.join(dirpath, n) for n in dirnames)]:
            mode = stat.S_IMODE(os.lstat(d).st_mode)
            if mode != 0o700:
                bad.append(f"{os.path.relpath(d, home)}/ {oct(mode)}")
        dirs += 1
        for n in filenames:
            p = os.path.join(dirpath, n)
            files += 1
            mode = stat.S_IMODE(os.lstat(p).st_mode)
            if mode != 0o600:
                bad.append(f"{os.path.relpath(p, home)} {oct(mode)}")
    bad = sorted(set(bad))
    fault_row(
        "7.security.modes",
        "Security",
        "file modes with umask 000 (demo, hook session, drains, reports, replay, reconcile, doctor)",
        "files not 0600, directories not 0700",
        f"{len(bad)} of {files} files / {dirs} directories wrong" + (f": {bad[:6]}" if bad else ""),
        bad=bad,
    )
    assert files > 12
    assert not bad, bad


def _content_strings() -> list[str]:
    """The prompt, tool inputs, results, error texts and messages of the fixture session and
    the demo (longer than 6 characters, so they cannot occur by chance)."""
    found: set[str] = set()

    def walk(v):
        if isinstance(v, str):
            if len(v) > 6 and "/home/dev/shop-api" != v:
                found.add(v)
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for e in _events(Path("/t.jsonl")):
        for k in ("prompt", "tool_input", "tool_response", "error", "last_assistant_message", "message"):
            walk(e.get(k))
    from otel_agents.demo import PLAN

    for spec in PLAN:
        for _tool, args in spec["tools"]:
            walk(args)
    return sorted(found)


def test_no_prompt_or_tool_content_stored_by_default(session_home, fault_row):
    home, _root, _outputs = session_home
    needles = _content_strings()
    hits = []
    nfiles = 0
    for p in home.rglob("*"):
        if p.is_file():
            nfiles += 1
            data = p.read_bytes()
            for s in needles:
                for enc in (s.encode("utf-8"), json.dumps(s)[1:-1].encode(), s.encode("utf-16-le")):
                    if enc in data:
                        hits.append((str(p.relative_to(home)), s))
    fault_row(
        "7.security.content",
        "Security",
        "prompt and tool content stored by default",
        f"occurrences of {len(needles)} prompt/tool/result/error strings in every byte of {nfiles} files "
        "(UTF-8, JSON-escaped, UTF-16)",
        f"{len(hits)} found",
        hits=hits[:10],
    )
    assert len(needles) >= 15
    assert not hits, hits[:10]


# --- redaction --------------------------------------------------------------------------------------------
SECRETS = {
    "anthropic key": (
        "export ANTHROPIC_API_KEY=sk-ant-api03-AbCdEf0123456789xyzXYZ_abcdefgh",
        "sk-ant-api03-AbCdEf0123456789",
    ),
    "openai key inline": (
        "client = OpenAI(api_key='sk-proj-AbCdEfGh0123456789AbCdEfGh')",
        "sk-proj-AbCdEfGh0123456789",
    ),
    "aws access key": ("aws configure set aws_access_key_id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    "aws secret": ("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
    "github token": (
        "git clone https://ghp_0123456789abcdefghijABCDEFGHIJ012345@github.com/o/r",
        "ghp_0123456789abcdefghij",
    ),
    "slack token": ("SLACK=xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "xoxb-123456789012"),
    "google key": ("key=AIzaSyA-0123456789abcdefghijklmnopqrstu", "AIzaSyA-0123456789abcdefghij"),
    "jwt": (
        "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJzdWIiOiIxMjM0NTY3ODkwIn0",
    ),
    "bearer header": ("curl -H 'Authorization: Bearer abcDEF123456789ghiJKL' https://api", "abcDEF123456789ghiJKL"),
    "basic header": ("Authorization: Basic dXNlcjpodW50ZXIy", "dXNlcjpodW50ZXIy"),
    "password in URL": ("psql postgres://admin:hunter2secret@db.internal:5432/app", "hunter2secret"),
    "password in redis URL": ("redis://:s3cr3tPassw0rd@cache:6379/0", "s3cr3tPassw0rd"),
    "--password=": ("mysql --user=root --password=TopSecret123 app", "TopSecret123"),
    "--password value": ("deploy --password 'Quoted Secret 9'", "Quoted Secret 9"),
    "--token": ("gh auth login --token ghs_notarealtokenbutlong123", "ghs_notarealtokenbutlong123"),
    "--api-key": ("tool --api-key=abcdef0123456789 run", "abcdef0123456789"),
    "env assignment in a command": ("PGPASSWORD=hunter2 psql -h db", "hunter2"),
    "json password": ('{"user": "bob", "password": "correct horse battery"}', "correct horse battery"),
    "yaml secret": ("db:\n  password: pa55word-in-yaml\n", "pa55word-in-yaml"),
    "private key": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1234567890abcdef\n-----END RSA PRIVATE KEY-----",
        "MIIEpAIBAAKCAQEA1234567890abcdef",
    ),
}

DOTENV = """# .env
DATABASE_URL=postgres://app:db-pass-123@localhost/app
API_KEY=live_0123456789abcdef
SECRET_KEY="django-insecure-very-secret"
export STRIPE_SECRET_KEY='sk_live_notreal0123456789'
GITHUB_TOKEN=ghp_abcdefghijklmnopqrstuvwxyz0123456789
OPENAI_API_KEY=sk-abcdefghijklmnopqrstuvwxyz012345
AUTH_TOKEN: tok-0123456789
DEBUG=true
PORT=8080
"""
DOTENV_SECRETS = [
    "db-pass-123",
    "live_0123456789abcdef",
    "django-insecure-very-secret",
    "sk_live_notreal0123456789",
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "sk-abcdefghijklmnopqrstuvwxyz012345",
    "tok-0123456789",
]


@pytest.mark.parametrize("name", list(SECRETS))
def test_redact_removes_secrets(name):
    text, secret = SECRETS[name]
    out = redact(text)
    assert secret not in out, out
    assert REDACTED in out


def test_redact_takes_linear_time_on_hostile_text():
    for text in (
        "a" * 200_000,
        "PASSWORD" * 25_000,
        "x://" * 50_000,
        '\\"' * 100_000,
        "-p " * 70_000,
        "TOKEN=" + "\\" * 200_000,
        "-----BEGIN RSA PRIVATE KEY-----" + "A" * 200_000,
    ):
        t0 = time.perf_counter()
        redact(text)
        assert time.perf_counter() - t0 < 2.0, text[:40]


def test_redact_dotenv_and_keeps_the_rest():
    out = redact(DOTENV)
    for s in DOTENV_SECRETS:
        assert s not in out, (s, out)
    for kept in ("DEBUG=true", "PORT=8080", "DATABASE_URL=postgres://app:", "# .env"):
        assert kept in out, (kept, out)
    assert (
        redact("pytest -q tests/test_cart.py && git diff --stat") == "pytest -q tests/test_cart.py && git diff --stat"
    )


def test_redaction_end_to_end_with_capture_on(tmp_path, receiver, fault_row):
    """Capture on: the hook's spool and the core API's spans hold no secret, everywhere."""
    home = tmp_path / "home"
    env = child_env(home, receiver.endpoint, OTEL_AGENTS_CAPTURE_CONTENT="1")
    everything = "\n".join(t for t, _s in SECRETS.values()) + "\n" + DOTENV
    secrets = [s for _t, s in SECRETS.values()] + DOTENV_SECRETS
    sid = "redaction-session"
    base = {"session_id": sid, "transcript_path": "/nonexistent/t.jsonl", "cwd": "/p"}
    for e in (
        {"hook_event_name": "UserPromptSubmit", "prompt": everything},
        {
            "hook_event_name": "PreToolUse",
            "tool_name": "Bash",
            "tool_use_id": "toolu_r",
            "tool_input": {"command": everything},
        },
        {
            "hook_event_name": "PostToolUseFailure",
            "tool_name": "Bash",
            "tool_use_id": "toolu_r",
            "tool_input": {"command": everything},
            "error": everything,
        },
        {"hook_event_name": "Stop", "last_assistant_message": everything},
        {"hook_event_name": "SessionEnd", "reason": "exit"},
    ):
        assert cli(["hook"], env, stdin=json.dumps({**base, **e}).encode()).returncode == 0
    flush = cli(["flush"], env)
    script = (
        "import otel_agents as oa, sys\n"
        "text = sys.stdin.read()\n"
        "with oa.workflow('redact', workflow_id='wf-redact') as wf:\n"
        "    with wf.phase('p', number=1) as ph:\n"
        "        with ph.step('s', agent='a') as st:\n"
        "            with st.tool_call('Bash', call_id='t1', arguments={'command': text}) as tc:\n"
        "                tc.set_result({'stdout': text})\n"
        "            st.fail(RuntimeError(text))\n"
    )
    api = subprocess.run(
        [sys.executable, "-c", script], input=everything.encode(), env=env, capture_output=True, timeout=120
    )
    hits = []
    for p in home.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            hits += [(str(p.relative_to(home)), s) for s in secrets if s.encode() in data]
    at_receiver = b"".join(str(h).encode() for h in receiver.headers)
    fault_row(
        "7.security.redaction",
        "Security",
        "secrets in content with capture on (hook and core API)",
        f"{len(secrets)} secrets (keys, tokens, URL and command passwords, .env) in every file of the home",
        f"{len(hits)} found",
        hits=hits[:10],
    )
    assert flush.returncode == 0 and api.returncode == 0, (flush.stdout, api.stderr[-2000:])
    assert receiver.requests > 0 and at_receiver is not None
    spool = home / "claude-code" / "sessions" / f"{sid}.jsonl"
    assert b"[REDACTED]" in spool.read_bytes()  # the text was captured, redacted
    assert not hits, hits


# --- SQL ----------------------------------------------------------------------------------------------------
_SQL = re.compile(
    r"\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|PRAGMA|WHERE|VALUES|ATTACH|DETACH|LOAD|SET|"
    r"FROM|JOIN|REPLACE)\b"
)

#: What may be interpolated into SQL text, per file: identifiers, placeholder lists and SQL
#: fragments built from constants in the same module (each reviewed). A value never is:
#: values are bound parameters (``?``, ``$1``). Calls to ``int()`` are always fine.
SQL_ALLOWED: dict[str, set[str]] = {
    # column lists of constant tables; "?" placeholders
    "analytics/aggregate.py": {"', '.join(c + ' = ?' for c in cols)", "marks", "table", '",".join("?" * len(chunk))'},
    # fixed table names of _DAY_TABLES
    "analytics/schema.py": {"table"},
    # runs nested under a step: table, key and column names from the module's constants
    "analytics/nested.py": {
        "_CHILD",
        "table",
        "', '.join(n + ' = ?' for n in names)",
        "kcol",
        "', '.join(cols)",
        "col",
        "kind",
    },
    # _TABLES: names, keys and columns from the row builders (constants); "?" placeholders
    "analytics/store.py": {"name", "', '.join(cols)", "', '.join('?' * len(cols))", "key", "updates"},
    # NONE / _CYCLES are module constants; expr from a fixed list of column expressions
    "report/attempts.py": {"NONE", "_CYCLES", "expr"},
    # cache tables (TABLE specs: constants), placeholder lists, paths we computed (quoted)
    "report/cache.py": {
        # per-run tables of the scores and outcomes sections: constant columns, fixed table names
        "RUN_OUTCOMES_COLUMNS",
        "RUN_STEPS_COLUMNS",
        "latest_sql('oc')",
        "latest_sql(rows)",
        "per_run_sql('wf')",
        "run_steps_sql('steps_logical')",
        "run_steps_sql(steps)",
        "scored_sql('wf', 'run_steps')",
        # _source_rows: an int or a quoted literal (postgres_query takes no parameters); the
        # parameter's DuckDB type; a constant column name
        "_quote(inner.replace('?', literal))",
        "kind",
        "'seq' if pg is not None else 'rowid'",
        "logical.COLUMNS",
        "logical.TASK_COLUMNS",
        "', '.join(parts)",
        "t.source",
        "t.name",
        "t.key",
        "_sqlite_select(t)",
        "_quote(str(store))",
        "cols",
        "where",
        "', '.join(names)",
        "_typed(t)",
        "_quote(inner)",
        "_NESTED_SELECT",
        "source",
        "sets",
        "name",
        "src",
        "logical.select_sql(source)",
        "logical.tasks_sql(wfs, sts)",
        "marks",
        "params",
        "table",
        "logical.select_sql('st')",
        "logical.tasks_sql('wf', 'st')",
        "logical.wall_sql('steps_logical')",
        "logical.wall_sql(steps)",
        "RUN_TOOLS_COLUMNS",
        "RUN_MODELS_COLUMNS",
        "run_tools_sql('tc')",
        "run_models_sql('mc')",
        "sql(rows)",
        # the patterns: a constant expression of constant column names; the module's SQL over a
        # constant table name or a subquery of constants
        "pname",
        "PATTERN_COLUMNS",
        "stats_sql('step_tools')",
        "stats_sql(touched)",
    },
    # the patterns: module constants (numbers, column lists, ORDER BY), the subqueries they build
    # over constant table and view names
    "report/patterns.py": {
        "LISTED",
        "src",
        "MIN_LENGTH",
        "_AGG",
        "MIN_OCCURRENCES",
        "occ",
        "agg",
        "totals",
        "ORDER",
        "stats_sql('v_step_tools', details=False)",
    },
    # STEP_COLUMNS / TASK_COLUMNS: constant (column, expression) pairs
    "report/csvout.py": {"', '.join(expr for _c, expr in cols)"},
    # the extension path we computed, quoted
    "report/duck.py": {"quoted", "path.as_posix().replace(chr(39), chr(39) * 2)"},
    # a constant column name of a constant pair
    "report/cost.py": {"col"},
    # the store's PostgreSQL URL, and ids, as quoted literals (postgres_query takes no
    # parameters); table, key and column names from the cache's TABLE specs; an int bound
    "report/pgsource.py": {
        "cols",
        "t.source",
        "t.name",
        "t.key",
        "_quote(inner)",
        "', '.join((_quote(x) for x in chunk))",
        "_quote(self.url)",
        "where",
    },
    # fixed view names; an int read back from DuckDB
    "report/engine.py": {"v", "threads"},
    # scores, trends, outcomes: fragments built from module constants (known names, thresholds,
    # fixed view and column names); values are bound
    "report/outcomes.py": {
        "' OR '.join((f'{n} IS NOT NULL' for n in _NUM))",
        "', '.join((_pair(e, a) for e, a, _k, _d in pairs))",
        "', '.join((f\"'{n}'\" for n in OUTCOMES))",
        "', '.join((f'p.{n}' for n in _NUM))",
        "', '.join(cols)",
        "NONE",
        "_RATES",
        "act",
        "both",
        "cols",
        "est",
        "n",
        "picks",
        "runs",
        "source",
    },
    "report/scores.py": {
        "', '.join((_dist(k) for k in _KINDS))",
        "NONE",
        "_SCORE.format(x='w.cost', m='med_c')",
        "_SCORE.format(x='w.dur', m='med_d')",
        "_Z.format(x='w.cost', k='c', **z)",
        "_Z.format(x='w.dur', k='d', **z)",
        "flag",
        "flags",
        "runs",
        "source",
        "steps",
    },
    "report/trends.py": {
        "NONE",
        "TREND_DAYS",
        "TREND_DAYS - 1",
        "TREND_DAYS // 2",
        "_AGG",
        "_CSV_AGG",
        "_CSV_DOW",
        "_CSV_HOUR",
        "_CSV_MODEL",
        "_CSV_TEMPLATE",
        "_CSV_WINDOW",
        "_TS",
        "col",
        "list(WEEKDAYS)",
    },
    "report/errors.py": {"NONE", "', '.join(cols)", "view", "', '.join(f'({c})' for c in cols)"},
    "report/latency.py": {
        "key_sql",
        "stat_columns(col)",
        "sql_from",
        "NONE",
        "stat_columns('idle_time_seconds')",
        "stat_columns('idle')",
        "stat_columns('duration_seconds')",
    },
    "report/logical.py": {"source", "key_match('s', 'g')", "key_match('fx', 'g')", "workflows", "steps", "a", "b"},
    # the scope's alias (pid + counter), fixed table/view names, conditions over those
    "report/views.py": {
        '" AND ".join(conds)',
        "a",
        "model",
        "self.alias",
        "col",
        "table",
        "_where(wf_conds)",
        "logical.select_sql('v_st')",
        "logical.tasks_sql('v_wf', 'v_st')",
        "view",
        "_where(conds)",
        "logical.wall_sql(f'{a}.lg_selected')",
        "scored_sql('v_wf', steps)",
    },
}


def _canonical(expr: str) -> str:
    """``expr`` as ``ast.unparse`` spells it: the allow-list does not depend on quoting or layout."""
    return ast.unparse(ast.parse(expr, mode="eval").body)


def _sql_interpolations() -> list[tuple[str, int, str]]:
    """(file, line, expression) of everything interpolated into SQL-looking text."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        src = path.read_text()
        tree = ast.parse(src)
        consts = {
            t.id: n.value.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        rel = str(path.relative_to(SRC))
        for node in ast.walk(tree):
            text, exprs = "", []
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                exprs = [v.value for v in node.values if isinstance(v, ast.FormattedValue)]
            elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
                sides = (node.left, node.right)
                strs = [x.value for x in sides if isinstance(x, ast.Constant) and isinstance(x.value, str)]
                if strs:
                    text = "".join(strs)
                    exprs = [x for x in sides if not isinstance(x, ast.Constant)]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
                recv = node.func.value
                if isinstance(recv, ast.Constant) and isinstance(recv.value, str):
                    text = recv.value
                elif isinstance(recv, ast.Name) and recv.id in consts:
                    text = consts[recv.id]
                exprs = [*node.args, *(k.value for k in node.keywords)]
            if not text or not _SQL.search(text):
                continue
            for e in exprs:
                if isinstance(e, ast.Constant):
                    continue
                if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "int":
                    continue
                out.append((rel, node.lineno, _canonical(ast.unparse(e))))
    return out


def test_sql_is_parameterized_everywhere(fault_row):
    found = _sql_interpolations()
    allowed = {f: {_canonical(e) for e in exprs} for f, exprs in SQL_ALLOWED.items()}
    bad = [(f, line, e) for f, line, e in found if e not in allowed.get(f, set())]
    calls = 0
    for path in SRC.rglob("*.py"):
        calls += len(re.findall(r"\.(execute|executemany|executescript|sql)\(", path.read_text()))
    fault_row(
        "7.security.sql",
        "Security",
        "SQL built from values (static check over otel_agents/)",
        f"interpolations into SQL text across {calls} execute calls; each must be an allow-listed "
        "identifier or constant fragment",
        f"{len(found)} interpolations, {len(bad)} not allow-listed",
        bad=bad,
    )
    assert calls > 50 and found
    assert not bad, "SQL text built from something not reviewed (bind values as parameters): " + repr(bad)


def test_the_sql_check_catches_values():
    """The check itself: a value formatted into SQL is found."""
    import tempfile

    sample = (
        "def f(conn, name):\n    conn.execute(f\"SELECT * FROM t WHERE name = '{name}'\")\n"
        '    conn.execute("DELETE FROM t WHERE id = %s" % name)\n'
        '    conn.execute("SELECT " + name)\n'
    )
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "mod.py"
        p.write_text(sample)
        global SRC
        old, SRC = SRC, Path(d)
        try:
            found = _sql_interpolations()
        finally:
            SRC = old
    assert [e for _f, _l, e in found] == ["name", "name", "name"]


# --- config never executes code -------------------------------------------------------------------------------
_DANGEROUS_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input"}
_DANGEROUS_MODULES = {"pickle", "cPickle", "marshal", "shelve", "yaml", "dill", "jsonpickle"}
#: Reviewed sites, by file and call (any other site fails the test). Zero-code instrumentation
#: compiles fixed templates, never configuration text: frames.py a one-line call of its own
#: placeholder names at the caller's line (so frame-inspecting code sees the caller), inplace.py
#: a trampoline whose parameters are the identifiers of the wrapped function's own code object.
_REVIEWED = {
    ("instrument/frames.py", "compile"),
    ("instrument/frames.py", "eval"),
    ("instrument/inplace.py", "compile"),
}


def test_source_has_no_code_execution_paths(fault_row):
    found = []
    for path in sorted(SRC.rglob("*.py")):
        tree = ast.parse(path.read_text())
        rel = str(path.relative_to(SRC))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _DANGEROUS_CALLS:
                if (rel, node.func.id) not in _REVIEWED:
                    found.append((rel, node.lineno, node.func.id))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                if (
                    node.func.attr in ("system", "popen")
                    and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "os"
                ):
                    found.append((rel, node.lineno, f"os.{node.func.attr}"))
                for kw in node.keywords:
                    if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                        found.append((rel, node.lineno, "shell="))
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for n in names:
                    if n.split(".")[0] in _DANGEROUS_MODULES:
                        found.append((rel, node.lineno, f"import {n}"))
    fault_row(
        "7.security.no_eval",
        "Security",
        "code execution paths in the source (static)",
        "eval/exec/compile/__import__, os.system/popen, shell=, pickle/marshal/shelve/yaml imports",
        f"{len(found)} found",
        found=found,
    )
    assert not found, found


def test_malicious_config_executes_nothing(tmp_path, fault_row):
    pwn = tmp_path / "pwned"
    pwn.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    payloads = [
        f"__import__('os').system('touch {pwn}/eval')",
        f"$(touch {pwn}/shell)",
        f"`touch {pwn}/backtick`",
        "{0.__class__.__mro__}",
        "%(x)s%s",
        f"exec(open('{pwn}/x').read())",
    ]
    (home / "config.toml").write_text(
        f'service_name = "{payloads[0]}"\n'
        f'capture_content = "{payloads[1]}"\n'
        f'exit_deadline = "{payloads[2]}"\n'
        f'budget = {{ usd = "{payloads[0]}" }}\n'
        "[otlp]\n"
        f'endpoint = "http://127.0.0.1:1/{payloads[1]}{payloads[2]}"\n'
        f'headers = "x={payloads[3]},y={payloads[4]}"\n'
        f'protocol = "{payloads[5]}"\n'
        "[claude_code]\n"
        f'drain_deadline = "{payloads[0]}"\n'
        "[[instrument.workflow]]\n"
        'target = "victim_mod:run"\n'
        f'name = "{payloads[0]}"\n'
        'workflow_id = "().__class__.__base__.__subclasses__()"\n'
        f"when = \"open('{pwn}/when', 'w')\"\n"
        "[[instrument.step]]\n"
        'target = "victim_mod:step"\n'
        f'name = "{payloads[5]}"\n'
    )
    (tmp_path / "victim_mod.py").write_text("def step():\n    return 1\n\ndef run():\n    return step()\n")
    env = child_env(home, None)
    env.pop("OTEL_AGENTS_OTLP_ENABLED")
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    results = {}
    results["demo"] = _run(["demo", "--pace", "0", "--quiet"], env)
    results["doctor"] = _run(["doctor"], env)
    results["hook"] = _run(
        ["hook"],
        env,
        json.dumps({"session_id": "m", "hook_event_name": "Stop", "transcript_path": str(tmp_path / "none")}).encode(),
    )
    results["flush"] = _run(["flush"], env)
    results["report"] = _run(["report"], env)
    results["replay"] = _run(["replay", "--quiet"], env)
    results["run"] = subprocess.run(
        [OTEL_AGENTS, "run", "--", sys.executable, "-c", "import victim_mod; victim_mod.run()"],
        env=env,
        capture_output=True,
        timeout=120,
        cwd=tmp_path,
    )
    workload = run_workload(home, None, [1], env_extra={"PYTHONPATH": env["PYTHONPATH"]})
    wait_home_idle(home)  # a detached drain the Stop started (if the config turned it on) has exited
    created = sorted(p.name for p in pwn.iterdir())
    fault_row(
        "7.security.config_exec",
        "Security",
        "a malicious config.toml (Python, shell, format strings, "
        "instrument expressions) through demo, doctor, hook, flush, report, replay, run and an executor",
        "files the payloads would create; executor exceptions",
        f"{len(created)} created; executor exceptions {workload.exceptions}; exit codes "
        + ", ".join(f"{k} {v.returncode}" for k, v in results.items()),
        created=created,
    )
    assert not created, created
    assert workload.exceptions == 0
    assert results["hook"].returncode == 0 and results["run"].returncode == 0, results["run"].stderr[-2000:]


# --- OTLP headers -------------------------------------------------------------------------------------------------
TOKEN = "SECRET-TOKEN-0123456789abcdef"
KEY = "SECRET-KEY-fedcba9876543210"


def test_otlp_headers_never_reach_a_log_or_a_file(tmp_path, fault_row):
    headers = f"authorization=Bearer%20{TOKEN},x-api-key={KEY}"
    leaks = []
    outputs = 0
    delivered_with_header = False
    from _otlp_receiver import GrpcReceiver

    with (
        HttpReceiver() as ok,
        HttpReceiver() as r401,
        HttpReceiver() as r503,
        HungSocket() as hung,
        GrpcReceiver() as gok,
        GrpcReceiver() as gbusy,
    ):
        r401.mode, r401.status = "status", 401
        r503.mode, r503.status, r503.retry_after = "status", 503, "1"
        gbusy.mode = "status"  # UNAVAILABLE
        refused = f"http://127.0.0.1:{free_port()}"
        cases = [
            ("ok", "http/protobuf", ok.endpoint),
            ("refused", "http/protobuf", refused + "/v1/traces"),
            ("401", "http/protobuf", r401.endpoint),
            ("503", "http/protobuf", r503.endpoint),
            ("hung", "http/protobuf", f"http://127.0.0.1:{hung.port}/v1/traces"),
            ("ok", "grpc", gok.endpoint),
            ("unavailable", "grpc", gbusy.endpoint),
            ("refused", "grpc", refused),
            ("hung", "grpc", f"http://127.0.0.1:{hung.port}"),
        ]
        if not SOAK:  # the fast run: one of each kind of failure per protocol
            cases = [
                c
                for c in cases
                if (c[0], c[1])
                in {
                    ("ok", "http/protobuf"),
                    ("refused", "http/protobuf"),
                    ("401", "http/protobuf"),
                    ("hung", "http/protobuf"),
                    ("ok", "grpc"),
                    ("unavailable", "grpc"),
                }
            ]
        for name, protocol, ep in cases:
            home = tmp_path / f"home-{name}-{protocol.split('/')[0]}"
            extra = {"OTEL_EXPORTER_OTLP_HEADERS": headers, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": protocol}
            run = run_workload(home, ep, [2], debug_log=True, env_extra=extra)
            env = child_env(home, ep, **extra)
            texts = [run.stdout, run.stderr]
            clis = (
                (["doctor", "--json"], ["replay"])
                if protocol == "grpc"
                else (["doctor"], ["doctor", "--json"], ["replay"], ["flush", "--status"])
            )
            for args in clis:
                p = cli(args, env)
                texts += [p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")]
            outputs += len(texts)
            for t in texts:
                for secret in (TOKEN, KEY):
                    if secret in t:
                        leaks.append((name, protocol, "output", t[max(0, t.find(secret) - 80) :][:160]))
            for p in home.rglob("*"):
                if p.is_file():
                    data = p.read_bytes()
                    for secret in (TOKEN, KEY):
                        if secret.encode() in data:
                            leaks.append((name, protocol, str(p.relative_to(home))))
        delivered_with_header = all(
            any(h.get("authorization") == f"Bearer {TOKEN}" and h.get("x-api-key") == KEY for h in r.headers)
            for r in (ok, gok)
        )
    fault_row(
        "7.security.headers",
        "Security",
        "OTLP auth headers at DEBUG logging (collector ok, refused, 401, 503, hung; HTTP and gRPC)",
        f"the two secrets in {outputs} outputs (stdout/stderr of "
        f"executors, doctor, replay, flush) and every file of {len(cases)} homes",
        f"{len(leaks)} found; the collector did receive them: {delivered_with_header}",
        leaks=leaks[:10],
    )
    assert delivered_with_header  # the headers were really in use
    assert not leaks, leaks[:10]


# --- transcript_path --------------------------------------------------------------------------------------------
def _snapshot(paths: list[Path]) -> dict[str, tuple]:
    out = {}
    for p in paths:
        st = os.lstat(p)
        entry: tuple = (stat.S_IMODE(st.st_mode), stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, st.st_ino)
        if stat.S_ISLNK(st.st_mode):
            entry += (os.readlink(p),)
        elif stat.S_ISREG(st.st_mode):
            entry += (hashlib.sha256(p.read_bytes()).hexdigest(),)
        out[str(p)] = entry
    return out


def _clock_past(paths: list[Path], scratch: Path) -> None:
    """Wait until the file system stamps a new file (in ``scratch``) later than every one of ``paths``."""
    probe = scratch / "clock-probe"
    newest = max(os.lstat(p).st_mtime_ns for p in paths)

    def later() -> bool:
        probe.write_bytes(b"")
        return os.lstat(probe).st_mtime_ns > newest

    wait_until(later, 5, "the file system clock to move")
    probe.unlink()


def test_transcript_path_is_only_ever_read(tmp_path, fault_row):
    d = tmp_path / "outside"
    d.mkdir()
    transcript = d / "transcript.jsonl"
    shutil.copy(FIXTURE / "transcript.jsonl", transcript)
    victim = d / "notes.txt"
    victim.write_text("not a transcript: an important file\n" * 100)
    victim_db = d / "data.db"
    import sqlite3

    with sqlite3.connect(victim_db) as c:
        c.execute("CREATE TABLE t (x)")
        c.execute("INSERT INTO t VALUES (1)")
    target = d / "target.jsonl"
    shutil.copy(FIXTURE / "transcript.jsonl", target)
    link = d / "link.jsonl"
    link.symlink_to(target)
    fifo = d / "pipe.jsonl"
    os.mkfifo(fifo)
    os.chmod(transcript, 0o644)
    for p in (victim, victim_db, target):
        os.chmod(p, 0o640)
    watched = [d, transcript, victim, victim_db, target, link, fifo]
    _clock_past(watched, tmp_path)  # so that a later write shows in st_mtime_ns, whatever its granularity
    before = _snapshot(watched)
    listing = sorted(os.listdir(d))
    home = tmp_path / "home"
    env = child_env(home, None)
    paths = {"transcript": transcript, "not-a-transcript": victim, "sqlite": victim_db, "symlink": link, "fifo": fifo}
    for name, path in paths.items():
        for e in _events(path, session_id=f"s-{name}"):
            if e["hook_event_name"] == "Stop":
                e["agent_transcript_path"] = str(victim)
            assert cli(["hook"], env, stdin=json.dumps(e).encode()).returncode == 0
    t0 = time.monotonic()
    flush = cli(["flush", "--timeout", "10"], env, timeout=60)
    flush_s = time.monotonic() - t0
    flush2 = cli(["flush", "--timeout", "10"], env, timeout=60)
    after = _snapshot(watched)
    changed = [p for p in before if before[p] != after[p]]
    new = sorted(set(os.listdir(d)) - set(listing))
    fault_row(
        "7.security.transcript",
        "Security",
        "transcript_path pointing at a transcript, another file, a "
        "SQLite database, a symlink and a FIFO (drained twice)",
        "content, size, mode, mtime, inode of each, files created beside them, drain time with the FIFO",
        f"{len(changed)} changed, {len(new)} created; drain {flush_s:.1f} s (exit {flush.returncode})",
        changed=changed,
        new=new,
    )
    assert flush.returncode == 0 and flush2.returncode == 0, flush.stdout + flush.stderr
    assert not changed, changed
    assert not new, new
    assert flush_s < 10
