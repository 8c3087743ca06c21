"""Input faults for the native hook (``claude_code/native/hook.c``): the hook fuzz suite of
``test_input.py``, run against the built C program, with the Python hook as the oracle.

- **through the program's fast path** (``--frames``: each payload handled by a forked child
  exactly as one hook process handles its stdin): every payload of the fuzz (10,000+; 50,000
  at soak sizes, the 10 MB payloads included) goes to the native hook and, in this process, to
  the Python hook (``capture.handle``) in a second home. A payload the native hook hands over
  is then given to the Python hook in the native home too (what the hand-over runs). Both
  homes must hold the same spool files, byte for byte apart from the receive time, and log the
  same problems, case by case;
- **as separate processes**: hundreds of real runs of the program (hand-overs included, which
  exec the Python hook), plus 10 MB payloads: exit 0, nothing printed, every time.
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
from hypothesis import HealthCheck, given, settings
from test_input import PER_EXAMPLE, big_payloads, cases, expand, raw_payloads

from otel_agents.claude_code import capture

FRAME_CASES = n(10_000, 50_000)
PROCESS_CASES = n(300, 2_000)
T_PREFIX = re.compile(rb'^\{"t":\d+,')


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


def python_hook(raw: bytes, home: Path) -> None:
    """What ``otel-agents hook`` does with ``raw`` (``capture.main`` less stdin)."""
    try:
        capture.handle(raw, time.time_ns(), str(home), spawn=False)
    except Exception as exc:  # noqa: BLE001 - as capture.main
        capture.log_problem(str(home), "internal", f"{type(exc).__name__}: {exc}", raw)


def spool(home: Path) -> dict[str, list[bytes]]:
    root = Path(capture.spool_root(home)) / "sessions"
    return {p.name: [T_PREFIX.sub(b"{", x) for x in p.read_bytes().splitlines()] for p in sorted(root.iterdir())}


@pytest.fixture(autouse=True)
def _plain_env(monkeypatch):
    for name in ("OTEL_AGENTS_CAPTURE_CONTENT", "OTEL_AGENTS_CLAUDE_CODE_FSYNC", "AGENTS_OTEL_PARENT"):
        monkeypatch.delenv(name, raising=False)


def test_native_hook_fuzz_matches_the_python_hook(hook, tmp_path, fault_row) -> None:
    homes = {"native": tmp_path / "native", "python": tmp_path / "python"}
    logs = {k: Log(v) for k, v in homes.items()}
    env = child_env(homes["native"], None)
    proc = subprocess.Popen([str(hook), "--frames"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
    stats: dict[str, Any] = {"cases": 0, "native": 0, "python": 0, "big": 0, "mismatch": []}

    def one(raw: bytes, big: bool = False) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(struct.pack(">Q", len(raw)) + raw)
        proc.stdin.flush()
        answer = proc.stdout.readline().decode().strip()
        assert answer in ("native", "python"), (answer, raw[:300])
        if answer == "python":
            python_hook(raw, homes["native"])
        python_hook(raw, homes["python"])
        stats[answer] += 1
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
    @given(cases)
    def fuzz(case: tuple[Any, Any, bytes, int, int]) -> None:
        for raw in expand(case):
            one(raw)
        one(json.dumps(case[0], ensure_ascii=False).encode("utf-8", "surrogatepass"))  # raw UTF-8 text

    try:
        fuzz()
        for _name, raw in big_payloads():
            one(raw, big=True)
    finally:
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
        f"{total:,} payloads ({stats['big']} of 10 MB): {stats['native']:,} handled natively, "
        f"{stats['python']:,} handed to the Python hook; {lines:,} spool lines, "
        f"{'identical' if same else 'DIFFERENT'} to the Python hook's; "
        f"{len(stats['mismatch'])} cases logged other problems",
        cases=total,
    )
    assert total >= FRAME_CASES
    assert not stats["mismatch"], stats["mismatch"][:5]
    a, b = spool(homes["native"]), spool(homes["python"])
    diffs = [
        (k, x, y) for k in sorted(set(a) | set(b)) for x, y in zip(a.get(k, []), b.get(k, []), strict=False) if x != y
    ]
    assert same, (sorted(set(a) ^ set(b))[:5], [(k, x[:600], y[:600]) for k, x, y in diffs[:3]])
    # the corpus is adversarial (a payload in seven is not UTF-8, one is UTF-16, one raw bytes or
    # nesting deeper than the native hook parses): those go to the Python hook by design
    assert stats["native"] > total // 3
    assert proc.returncode == 0


def test_native_hook_as_separate_processes(hook, tmp_path) -> None:
    """Real runs of the program (hand-overs exec the Python hook): exit 0, print nothing."""
    collected: list[bytes] = []

    @settings(
        max_examples=PROCESS_CASES,
        deadline=None,
        database=None,
        derandomize=not SOAK,
        suppress_health_check=list(HealthCheck),
    )
    @given(raw_payloads)
    def collect(raw: bytes) -> None:
        collected.append(raw)

    collect()
    payloads = collected + [raw for _n, raw in big_payloads()]
    env = child_env(tmp_path / "home", None)

    def run(raw: bytes) -> tuple[int, bytes]:
        p = subprocess.run([str(hook)], input=raw, capture_output=True, env=env, timeout=120, check=False)
        return p.returncode, p.stdout + p.stderr

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(run, payloads))
    bad = [(raw[:200], rc, out[:200]) for raw, (rc, out) in zip(payloads, results, strict=True) if rc or out]
    assert len(results) >= PROCESS_CASES * 0.9 and not bad, bad[:5]
    log = Path(capture.spool_root(tmp_path / "home")) / capture.LOG_FILE
    kinds = [json.loads(line)["kind"] for line in log.read_bytes().splitlines()] if log.exists() else []
    assert "internal" not in kinds
