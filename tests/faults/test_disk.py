"""Disk faults: disk full (a tiny tmpfs when one can be mounted, else RLIMIT_FSIZE), the spool
directory read-only, the spool file deleted while in use; for the demo executor and for the
real ``otel-agents hook``.

When the disk is full there is nowhere to put a span: what the executor produced meanwhile
is lost from the disk stores (the spool, the metrics JSONL, the analytics store), and
counted; the collector still receives it (docs/reliability.md, "Disk full"). Everything
before and after the fault must be complete, and every file must still parse.
"""

from __future__ import annotations

import contextlib
import json
import resource
import time
from pathlib import Path

import pytest
from _harness import (
    BLOCKED_S,
    EXIT_DEADLINE,
    EXIT_SLACK,
    OTEL_AGENTS,
    SOAK,
    Child,
    analytics_ids,
    assert_clean,
    baseline,
    child_env,
    cli,
    measure,
    metrics_ids,
    n,
    run_workload,
    scan_home,
    spool_ids,
    wait_stored,
)
from _mounts import ReadOnly, can_mount, fill, tmpfs

from otel_agents.claude_code import capture

#: Room for the first phase (and its WAL, the spool and metrics files) before it fills up.
TMPFS_BYTES = (64 if SOAK else 8) * 1024 * 1024


def _largest(home: Path, pattern: str) -> int:
    sizes = [p.stat().st_size for p in home.glob(pattern)]
    return max(sizes) if sizes else 0


def _disk_full_context(how: str, tmp_path: Path):
    if how == "tmpfs":
        if not can_mount():
            pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN); the RLIMIT_FSIZE case covers it")
        return tmpfs(tmp_path / "home", TMPFS_BYTES)
    return contextlib.nullcontext(tmp_path / "home")


@pytest.fixture(scope="module", params=["tmpfs", "rlimit"])
def disk_full(request, tmp_path_factory):
    """Phase 1 healthy, phase 2 disk full, phase 3 space again; the collector is up."""
    from _otlp_receiver import HttpReceiver

    how = request.param
    tmp_path = tmp_path_factory.mktemp(f"disk-full-{how}")
    k = n(5, 50)
    with _disk_full_context(how, tmp_path) as home, HttpReceiver() as receiver:
        filler = home / "filler.bin"

        def full():
            wait_stored(home, run_ids())  # phase 1 is on disk before the disk fills
            if how == "tmpfs":
                fill(filler)
                return None
            spool = _largest(home, "spans/spans-*.jsonl")
            metrics = _largest(home, "metrics/executions_*.jsonl")
            return {"rlimit_fsize": min(spool, metrics) + 100}

        def space_again():  # phase 2's failures have happened: the child settled its sinks
            if how == "tmpfs":
                filler.unlink()
                return None
            return {"rlimit_fsize": None}

        child = Child(
            {"phases": [k, k, k], "prefix": "wf", "pace": 0.5, "settle": True}, child_env(home, receiver.endpoint)
        )
        run_ids = lambda: set(child.result.ids)  # noqa: E731 - what the child reported so far
        try:
            for heal in (full, space_again, None):
                assert child.phase().get("settled", True), "the sinks did not settle within 30 s"
                if heal is not None:
                    child.go(heal())
            run = child.finish()
        finally:
            child.kill()
        base = baseline(tmp_path_factory.getbasetemp(), 3 * k, 0.5)
        case = measure(home, run, base, [], healthy=receiver)
        stored = {"spool": spool_ids(home), "metrics": metrics_ids(home), "analytics": analytics_ids(home)}
        yield how, run, case, stored


def test_disk_full_loses_only_what_came_while_full(disk_full, fault_row):
    how, run, case, stored = disk_full
    p1, p2, p3 = (set(p["ids"]) for p in run.phases)
    missing = {s: case.after[s]["lost"] for s in stored}
    fault_row(
        f"2.disk.full.{how}",
        "Disk",
        "disk full ("
        + (f"{TMPFS_BYTES >> 20} MiB tmpfs filled up" if how == "tmpfs" else "RLIMIT_FSIZE")
        + "), then space again",
        "standard; disk stores: spans produced while full",
        case=case,
        notes=f"{len(p2)} spans produced while the disk was full: the collector got all of them; on disk they "
        f"are lost (spool {missing['spool']}, metrics {missing['metrics']}, analytics "
        f"{missing['analytics']}); everything before and after is complete. Torn lines: see the next row",
        while_full=len(p2),
    )
    assert run.exceptions == 0, run.errors
    assert max(run.durations[1:]) < BLOCKED_S
    assert run.exit_s < EXIT_DEADLINE + EXIT_SLACK
    assert case.after["receiver"]["lost"] == 0 and case.after["receiver"]["dup"] == 0
    outside = p1 | p3 | set(case.recovery.next_ids)
    for store, got in stored.items():
        assert not (outside - set(got)), f"{store} lost spans from outside the full phase"
        assert case.after[store]["dup"] == 0
    assert not case.scan.bad_databases


def test_disk_full_leaves_no_corrupt_line(disk_full, fault_row):
    how, run, case, stored = disk_full
    fault_row(
        f"2.disk.full.{how}.lines",
        "Disk",
        f"disk full ({how}): files after the fault",
        "lines that do not parse, torn last lines, SQLite integrity_check",
        f"{case.scan.corrupt} corrupt lines, {case.scan.torn} torn last lines, "
        f"{len(case.scan.bad_databases)} damaged databases",
        problems=case.scan.problems[:5],
    )
    assert case.scan.corrupt == 0 and case.scan.torn == 0, case.scan.problems


def test_spool_directory_read_only(tmp_path, tmp_path_factory, receiver, fault_row):
    """Phase 1: ``spans/`` read-only (bind mount as root); phase 2: writable again."""
    home = tmp_path / "home"
    ro = ReadOnly(home / "spans")
    if not ro.effective:
        ro.undo()
        pytest.skip("cannot make a directory read-only for this user")
    k = n(10, 100)
    try:
        run = run_workload(
            home, receiver.endpoint, [k, k], heal=[ro.undo], pace=0.5, settle=True
        )  # phase 1 has met the read-only directory before it is undone
    finally:
        ro.undo()
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k, 0.5)
    p1, p2 = (set(p["ids"]) for p in run.phases)
    case = measure(home, run, base, [], healthy=receiver)
    fault_row(
        "2.disk.spool_read_only",
        "Disk",
        f"spool directory read-only ({ro.how}), then writable",
        "standard; spool: spans produced while read-only",
        case=case,
        notes=f"{len(p1)} spans produced while spans/ was read-only: not in the spool (nowhere to "
        f"write), all delivered to the collector, metrics and analytics complete",
        how=ro.how,
        while_read_only=len(p1),
    )
    assert case.after["spool"]["lost"] <= len(p1)
    assert not (p2 - set(spool_ids(home))), "the spool did not resume once writable"
    assert_clean(case, stores=("metrics", "analytics", "receiver"))


def test_spool_file_deleted_while_in_use(tmp_path, tmp_path_factory, fault_row):
    """Phase 1 writes; the spool file is deleted; phase 2 must land in a file again. The
    collector is down (refused), so the spool is the only copy."""
    from _otlp_receiver import HttpReceiver, free_port

    home = tmp_path / "home"
    k = n(10, 100)
    deleted: list[str] = []

    def delete():  # phase 1 is in the spool file: the child settled its sinks
        for p in sorted((home / "spans").glob("spans-*.jsonl")):
            p.unlink()
            deleted.append(p.name)

    run = run_workload(home, f"http://127.0.0.1:{free_port()}/v1/traces", [k, k], heal=[delete], pace=0.5, settle=True)
    base = baseline(tmp_path_factory.getbasetemp(), 2 * k, 0.5)
    p1, p2 = (set(p["ids"]) for p in run.phases)
    with HttpReceiver() as rec:
        case = measure(home, run, base, [], healthy=rec, expected=p2)
    fault_row(
        "2.disk.spool_deleted",
        "Disk",
        "spool file deleted while in use (collector down)",
        "standard, for the spans produced after the deletion",
        case=case,
        notes=f"deleted {deleted}; {case.live['spool']['lost']} of {len(p2)} later spans missing from the spool",
        deleted=deleted,
    )
    assert deleted
    assert_clean(case)


# --- the hook ---------------------------------------------------------------------------------------
SID = "fault-disk-session"


def _hook(home: Path, event: dict, preexec=None) -> tuple[int, bytes, float]:
    import subprocess

    env = child_env(home, None)
    t0 = time.monotonic()
    p = subprocess.run(
        [OTEL_AGENTS, "hook"],
        input=json.dumps(event).encode(),
        capture_output=True,
        env=env,
        timeout=60,
        preexec_fn=preexec,
    )
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def _event(i: int) -> dict:
    return {
        "session_id": SID,
        "transcript_path": "/nonexistent/t.jsonl",
        "cwd": "/p",
        "hook_event_name": "PreToolUse" if i % 2 == 0 else "PostToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": f"echo {i}", "pad": "p" * 300},
        "tool_use_id": f"toolu_{i // 2:04d}",
    }


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_hook_disk_full(tmp_path, fault_row, how):
    """Hook events before, during and after a full disk: exit 0, silent; every event before
    and after is spooled and read back by the drain; no line swallows another."""
    before, during, after = 6, 6, 6
    with _disk_full_context(how, tmp_path) as home:
        filler = home / "filler.bin"
        rcs, outputs, times = [], [], []
        for i in range(before):
            rc, out, dt = _hook(home, _event(i))
            rcs.append(rc), outputs.append(out), times.append(dt)
        spool = Path(capture.session_spool(home, SID))
        if how == "tmpfs":
            fill(filler)
            preexec = None
        else:
            limit = spool.stat().st_size + 40  # the next line is cut short after 40 bytes

            def preexec():
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

        for i in range(before, before + during):
            rc, out, dt = _hook(home, _event(i), preexec)
            rcs.append(rc), outputs.append(out), times.append(dt)
        if how == "tmpfs":
            filler.unlink()
        for i in range(before + during, before + during + after):
            rc, out, dt = _hook(home, _event(i))
            rcs.append(rc), outputs.append(out), times.append(dt)
        lines = spool.read_bytes().split(b"\n")
        tail = lines.pop()
        good = bad = 0
        ids = []
        for line in lines:
            if not line:
                continue
            try:
                rec = json.loads(line)
                ids.append(rec["e"]["tool_use_id"] + ":" + rec["e"]["hook_event_name"])
                good += 1
            except (ValueError, KeyError):
                bad += 1
        wanted = [
            f"{_event(i)['tool_use_id']}:{_event(i)['hook_event_name']}"
            for i in [*range(before), *range(before + during, before + during + after)]
        ]
        missing = [w for w in wanted if w not in ids]
        flush = cli(["flush", "--quiet", "--timeout", "5"], child_env(home, None))
        scan = scan_home(home)
    fault_row(
        f"2.disk.full.hook.{how}",
        "Disk",
        "disk full under `otel-agents hook` (" + ("tmpfs" if how == "tmpfs" else "RLIMIT_FSIZE") + ")",
        "exit codes, output, hook time, events before/after the fault read back, corrupt lines",
        f"{sum(r != 0 for r in rcs)} non-zero exits of {len(rcs)}; {sum(bool(o) for o in outputs)} printed; "
        f"slowest hook {max(times) * 1000:.0f} ms; {len(missing)} of {len(wanted)} events outside the "
        f"fault missing; {bad} corrupt / {int(bool(tail))} torn spool lines; drain exit {flush.returncode}",
        nonzero=sum(r != 0 for r in rcs),
        missing=missing,
        corrupt=bad,
        torn=bool(tail),
    )
    assert rcs == [0] * len(rcs)
    assert not any(outputs)
    assert not missing, missing
    assert bad == 0 and not tail
    assert flush.returncode == 0, flush.stdout + flush.stderr
    assert scan.corrupt == 0 and scan.torn == 0, scan.problems
