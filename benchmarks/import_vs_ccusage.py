"""``otel-agents import claude-code`` against ccusage, on the same transcripts, side by side.

Lays the recorded sessions of ``../shared/fixtures/claude-code/real`` out as a Claude Code
config directory (``projects/<project>/<session>.jsonl``), ``--copies`` times over (each copy
with its own session, message and request ids, so neither tool dedupes one copy against
another), then times, as real subprocesses, ``ccusage claude session --json --offline``
(``make bench`` installs ccusage 20.0.24 under ``.ccusage/``) and ``otel-agents import
claude-code`` into a fresh data home with the default sinks (span spool, metrics JSONL,
analytics SQLite; no collector). Then compares, per session, the tokens and the cost of
ccusage's summary and of the analytics store.

Last lines: ``import_seconds: X``, ``ccusage_seconds: Y``, ``sessions_matching: N/M``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLI = str(Path(sys.executable).parent / "otel-agents")
CCUSAGE = str(REPO / ".ccusage" / "node_modules" / ".bin" / "ccusage")


def fixtures() -> Path:
    for p in REPO.parents[:3]:
        if (p / "shared" / "fixtures" / "claude-code" / "real").is_dir():
            return p / "shared" / "fixtures" / "claude-code" / "real"
    sys.exit("no ../shared/fixtures/claude-code/real next to this repository")


def lay_out(config: Path, copies: int) -> dict[str, str]:
    """Write the transcripts; returns file stem -> session id (ccusage names sessions by file)."""
    names: dict[str, str] = {}
    for c in range(copies):
        for folder in sorted(p for p in fixtures().iterdir() if (p / "transcript.jsonl").is_file()):
            project = config / "projects" / f"-bench-{folder.name.rsplit('-', 1)[0]}"
            project.mkdir(parents=True, exist_ok=True)
            lines = []
            sid = None
            for line in (folder / "transcript.jsonl").read_text().splitlines():
                e = json.loads(line)
                if c:
                    if isinstance(e.get("sessionId"), str):
                        e["sessionId"] = f"{e['sessionId'][:-4]}c{c:03d}"
                    if isinstance(e.get("requestId"), str):
                        e["requestId"] += f"-c{c}"
                    msg = e.get("message")
                    if isinstance(msg, dict) and isinstance(msg.get("id"), str):
                        msg["id"] += f"-c{c}"
                sid = e.get("sessionId") or sid
                lines.append(json.dumps(e, ensure_ascii=False, separators=(",", ":")))  # ccusage greps "usage":{
            stem = str(sid)
            (project / f"{stem}.jsonl").write_text("\n".join(lines) + "\n")
            names[stem] = stem
    return names


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0, p.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=3, help="copies of the recorded sessions (default 3)")
    ap.add_argument("--runs", type=int, default=3, help="timed runs of each tool; the median is shown")
    ns = ap.parse_args()
    if not os.path.exists(CCUSAGE):
        sys.exit(f"{CCUSAGE} is missing: run `make bench` (it installs ccusage with npm)")
    tmp = Path(tempfile.mkdtemp(prefix="import-bench-"))
    try:
        config = tmp / "claude"
        lay_out(config, ns.copies)
        base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "CLAUDE_"))}
        base["CLAUDE_CONFIG_DIR"] = str(config)
        cc_times, imp_times = [], []
        cc_out = ""
        for i in range(ns.runs):
            t, cc_out = timed([CCUSAGE, "claude", "session", "--json", "--offline"], base)
            cc_times.append(t)
            home = tmp / f"home-{i}"
            env = {**base, "OTEL_AGENTS_HOME": str(home), "OTEL_AGENTS_OTLP_ENABLED": "false"}
            t, _ = timed([CLI, "import", "claude-code", "--quiet"], env)
            imp_times.append(t)
        ours = {
            r[0]: r[1:]
            for r in sqlite3.connect(tmp / "home-0" / "analytics" / "history.db").execute(
                "SELECT workflow_id, sum(input_tokens - cache_read_tokens - cache_write_tokens), sum(output_tokens),"
                " sum(cache_read_tokens), sum(cache_write_tokens), sum(cost_usd), count(cost_usd) = count(*)"
                " FROM model_calls GROUP BY workflow_id"
            )
        }
        theirs = {s["sessionId"]: s for s in json.loads(cc_out)["sessions"]}
        print(f"{'session':<40} {'tokens (in/out/read/write)':>44}  {'ccusage USD':>11}  {'ours USD':>11}")
        same = 0
        for sid in sorted(theirs):
            s, o = theirs[sid], ours.get(sid)
            toks = (s["inputTokens"], s["outputTokens"], s["cacheReadTokens"], s["cacheCreationTokens"])
            mine = tuple(o[:4]) if o else None
            cost = f"{o[4]:.6f}" if o and o[5] else "unpriced"
            ok = mine == toks and (not o[5] or abs(o[4] - s["totalCost"]) < 1e-6 or cost == "unpriced")
            same += ok
            print(
                f"{sid[:40]:<40} {'/'.join(map(str, toks)):>44}  {s['totalCost']:>11.6f}  {cost:>11}"
                + ("" if ok else "  DIFFERS")
            )
        print("unpriced: genai-prices has no price for the model (tokens exact, cost unknown); ccusage gives it a cost")
        print(f"import_seconds: {statistics.median(imp_times):.2f}")
        print(f"ccusage_seconds: {statistics.median(cc_times):.2f}")
        print(f"sessions_matching: {same}/{len(theirs)}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
