"""Input faults for the native hook (``claude_code/native/hook.c``): the hook fuzz suite of
``test_input.py``, run against the built C program, with the Python hook as the oracle.

- **through the program's fast path** (``--frames``: each payload handled by a forked child
  exactly as one hook process handles its stdin): every payload of the fuzz (10,000+; 50,000
  at soak sizes, the 10 MB payloads included) goes to the native hook and, in this process, to
  the Python hook (``capture.handle``) in a second home. A payload the native hook hands over
  is then given to the Python hook in the native home too (what the hand-over runs). Both
  homes must hold the same spool files, byte for byte apart from the receive time, and log the
  same problems, case by case. The payloads are Claude Code's, Codex CLI's and Gemini CLI's
  (``test_input.agent_payloads``), each through the program started for its CLI
  (``otel-agents-hook codex --frames``) against ``otel-agents hook codex`` (``capture.handle(...,
  agent=)``); the 10 MB payloads go through all three;
- **as separate processes**: hundreds of real runs of the program (hand-overs included, which
  exec the Python hook), plus 10 MB payloads, the CLIs in turn: exit 0, nothing printed, every time.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from _harness import SOAK, child_env, n
from _native import build_native
from hypothesis import HealthCheck, given, settings, strategies as st
from test_input import PER_EXAMPLE, agent_payloads, big_payloads, cases, expand, json_values

from otel_agents.claude_code import capture

FRAME_CASES = n(10_000, 50_000)
PROCESS_CASES = n(300, 2_000)
T_PREFIX = re.compile(rb'^\{"t":\d+,')
#: The CLIs the native hook has rules for (its first argument; Claude Code's takes none).
CLIS = ("claude-code", "codex", "gemini")


def _agent_cases(agent: str) -> Any:
    """``test_input.cases`` with the payload objects of one agent CLI."""
    ints = st.integers(min_value=0, max_value=2**32)
    return st.tuples(agent_payloads[agent], json_values, st.binary(max_size=1024), ints, st.integers(1, 200_000))


#: (cli, case): every CLI's payloads, in about equal numbers
cli_cases = st.one_of(
    cases.map(lambda c: ("claude-code", c)),
    *(_agent_cases(a).map(lambda c, a=a: (a, c)) for a in CLIS[1:]),
)
#: (cli, one of the case's payloads): the separate processes
cli_raw_payloads = cli_cases.map(lambda x: (x[0], expand(x[1])[x[1][3] % PER_EXAMPLE]))


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> Path:
    return build_native(tmp_path_factory)


class Log:
    """The problems logged to a home's hook.log since the last call (rotation followed)."""

    def __init__(self, home: Path) -> None:
        self.path = Path(capture.spool_root(home)) / capture.LOG_FILE
        self.ino, self.size = 0, 0

    def new(self) -> list[str]:
        try:
            st = os.stat(self.path)
        except OSError:
            return []
        start = self.size if st.st_ino == self.ino and st.st_size >= self.size else 0
        kinds = []
        if start == 0 and self.ino and st.st_ino != self.ino:  # rotated: the rest of the old file first
            old = self.path.with_name(self.path.name + ".1")
            with open(old, "rb") as f:
                f.seek(self.size)
                kinds += [json.loads(line)["kind"] for line in f.read().splitlines()]
        with open(self.path, "rb") as f:
            f.seek(start)
            kinds += [json.loads(line)["kind"] for line in f.read().splitlines()]
        self.ino, self.size = st.st_ino, st.st_size
        return kinds


def python_hook(raw: bytes, home: Path, cli: str = "claude-code") -> None:
    """What ``otel-agents hook [codex|gemini]`` does with ``raw`` (``capture.main`` less stdin)."""
    try:
        capture.handle(raw, time.time_ns(), str(home), spawn=False, agent=None if cli == "claude-code" else cli)
    except Exception as exc:  # noqa: BLE001 - as capture.main
        capture.log_problem(str(home), "internal", f"{type(exc).__name__}: {exc}", raw)


def spool(home: Path) -> dict[str, list[bytes]]:
    """Every CLI's spool files (``<cli>/sessions/<session>.jsonl``), receive times taken out."""
    return {
        str(p.relative_to(home)): [T_PREFIX.sub(b"{", x) for x in p.read_bytes().splitlines()]
        for p in sorted(home.glob("*/sessions/*.jsonl"))
    }


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch):
    for name in ("OTEL_AGENTS_CAPTURE_CONTENT", "OTEL_AGENTS_CLAUDE_CODE_FSYNC", "AGENTS_OTEL_PARENT"):
        monkeypatch.delenv(name, raising=False)


def test_native_hook_fuzz_matches_the_python_hook(hook, tmp_path, fault_row) -> None:
    homes = {"native": tmp_path / "native", "python": tmp_path / "python"}
    logs = {k: Log(v) for k, v in homes.items()}
    env = child_env(homes["native"], None)
    procs = {
        cli: subprocess.Popen(
            [str(hook), *([cli] if cli != "claude-code" else []), "--frames"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        for cli in CLIS
    }
    stats: dict[str, Any] = {"cases": 0, "native": 0, "python": 0, "big": 0, "mismatch": [], **dict.fromkeys(CLIS, 0)}

    def one(raw: bytes, cli: str, big: bool = False) -> None:
        proc = procs[cli]
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(struct.pack(">Q", len(raw)) + raw)
        proc.stdin.flush()
        answer = proc.stdout.readline().decode().strip()
        assert answer in ("native", "python"), (answer, cli, raw[:300])
        if answer == "python":
            python_hook(raw, homes["native"], cli)
        python_hook(raw, homes["python"], cli)
        stats[answer] += 1
        stats[cli] += 1
        stats["big" if big else "cases"] += 1
        a, b = logs["native"].new(), logs["python"].new()
        if a != b:
            stats["mismatch"].append((raw[:300], a, b))

    @settings(
        max_examples=FRAME_CASES // (PER_EXAMPLE + 1) + 1,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(cli_cases)
    def fuzz(cli_case: tuple[str, tuple[Any, Any, bytes, int, int]]) -> None:
        cli, case = cli_case
        for raw in expand(case):
            one(raw, cli)
        one(json.dumps(case[0], ensure_ascii=False).encode("utf-8", "surrogatepass"), cli)  # raw UTF-8 text

    try:
        fuzz()
        for _name, raw in big_payloads():
            for cli in CLIS:
                one(raw, cli, big=True)
    finally:
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(60)
    same = spool(homes["native"]) == spool(homes["python"])
    lines = sum(len(v) for v in spool(homes["native"]).values())
    total = stats["cases"] + stats["big"]
    fault_row(
        "6.input.native_hook_fuzz",
        "Input",
        f"fuzzed hook payloads through the native hook: {total:,} cases",
        "the native hook beside the Python hook on every payload: spool files and problems logged",
        f"{total:,} payloads ({stats['big']} of 10 MB; Claude Code {stats['claude-code']:,}, Codex CLI "
        f"{stats['codex']:,}, Gemini CLI {stats['gemini']:,}): {stats['native']:,} handled natively, "
        f"{stats['python']:,} handed to the Python hook; {lines:,} spool lines, "
        f"{'identical' if same else 'DIFFERENT'} to the Python hook's; "
        f"{len(stats['mismatch'])} cases logged other problems",
        cases=total,
    )
    assert total >= FRAME_CASES
    assert min(stats[cli] for cli in CLIS) > total // 5, {cli: stats[cli] for cli in CLIS}
    assert {Path(k).parts[0] for k in spool(homes["native"])} == set(CLIS)
    assert not stats["mismatch"], stats["mismatch"][:5]
    a, b = spool(homes["native"]), spool(homes["python"])
    diffs = [
        (k, x, y) for k in sorted(set(a) | set(b)) for x, y in zip(a.get(k, []), b.get(k, []), strict=False) if x != y
    ]
    assert same, (sorted(set(a) ^ set(b))[:5], [(k, x[:600], y[:600]) for k, x, y in diffs[:3]])
    # the corpus is adversarial (a payload in seven is not UTF-8, one is UTF-16, one raw bytes or
    # nesting deeper than the native hook parses): those go to the Python hook by design
    assert stats["native"] > total // 3
    assert all(proc.returncode == 0 for proc in procs.values())


def test_native_hook_as_separate_processes(hook, tmp_path) -> None:
    """Real runs of the program (hand-overs exec the Python hook): exit 0, print nothing."""
    collected: list[tuple[str, bytes]] = []

    @settings(
        max_examples=PROCESS_CASES,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(cli_raw_payloads)
    def collect(cli_raw: tuple[str, bytes]) -> None:
        collected.append(cli_raw)

    collect()
    payloads = collected + [(CLIS[i % 3], raw) for i, (_n, raw) in enumerate(big_payloads())]
    env = child_env(tmp_path / "home", None)

    def run(cli_raw: tuple[str, bytes]) -> tuple[int, bytes]:
        cli, raw = cli_raw
        cmd = [str(hook)] if cli == "claude-code" else [str(hook), cli]
        p = subprocess.run(cmd, input=raw, capture_output=True, env=env, timeout=120, check=False)
        return p.returncode, p.stdout + p.stderr

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(run, payloads))
    bad = [
        (cli, raw[:200], rc, out[:200]) for (cli, raw), (rc, out) in zip(payloads, results, strict=True) if rc or out
    ]
    assert len(results) >= PROCESS_CASES * 0.9 and not bad, bad[:5]
    log = Path(capture.spool_root(tmp_path / "home")) / capture.LOG_FILE
    kinds = [json.loads(line)["kind"] for line in log.read_bytes().splitlines()] if log.exists() else []
    assert "internal" not in kinds
