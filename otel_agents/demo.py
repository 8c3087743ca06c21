"""A realistic example executor, instrumented by hand with the public API.

An SDLC workflow for one issue: plan, build, test, review. Several agents, tool calls,
token usage on two models, and one failure (the first test run times out) followed by a
successful retry. Everything is deterministic (token counts, outcomes), so tests can
assert exact totals; only the times are real.
"""

from __future__ import annotations

import time
from typing import Any

import otel_agents as oa

SONNET = "claude-sonnet-4-5"
HAIKU = "claude-haiku-4-5"
PROVIDER = "anthropic"

#: (phase, agent, model, [(tool, arguments)], usage (input incl. cache, output, cache read, cache write))
PLAN: list[dict[str, Any]] = [
    {
        "phase": "plan",
        "agent": "planner",
        "model": SONNET,
        "tools": [("Read", {"file_path": "README.md"}), ("Grep", {"pattern": "def checkout"})],
        "usage": [(12400, 850, 9000, 3000)],
    },
    {
        "phase": "build",
        "agent": "coder",
        "model": SONNET,
        "tools": [
            ("Read", {"file_path": "app/cart.py"}),
            ("Edit", {"file_path": "app/cart.py", "old_string": "total - discount"}),
            ("Read", {"file_path": "app/cart.py"}),
            ("Bash", {"command": "ruff check app"}),
        ],
        "usage": [(18200, 1900, 14000, 2000), (21000, 600, 19500, 800)],
    },
    {
        "phase": "test",
        "agent": "tester",
        "model": HAIKU,
        "tools": [("Bash", {"command": "pytest -q tests/test_cart.py"})],
        "usage": [(9100, 400, 6000, 2500)],
        "fail_first": "pytest exceeded 120s",
    },
    {
        "phase": "review",
        "agent": "reviewer",
        "model": SONNET,
        "tools": [("Bash", {"command": "git diff --stat"}), ("Read", {"file_path": "app/cart.py"})],
        "usage": [(15800, 700, 12000, 1200)],
    },
]


class DemoTimeout(TimeoutError):
    """The demo's simulated test-run timeout."""


def _work(ms: float) -> None:
    time.sleep(ms / 1000.0)


def run_demo(*, workflow_id: str | None = None, issue_id: str = "42", pace: float = 1.0) -> str:
    """Run the demo workflow; returns its workflow id. ``pace`` scales the simulated work."""
    with oa.workflow(
        "fix-cart-total",
        workflow_id=workflow_id,
        template="sdlc",
        issue_id=issue_id,
        complexity="medium",
    ) as wf:
        for number, spec in enumerate(PLAN, start=1):
            with wf.phase(spec["phase"], number=number) as ph:
                attempts = 2 if spec.get("fail_first") else 1
                for attempt in range(1, attempts + 1):
                    st = ph.step(
                        spec["agent"],
                        agent=spec["agent"],
                        model=spec["model"],
                        attempt=attempt,
                        skill=f"{spec['phase']}-skill",
                        command=f"/{spec['phase']}",
                    ).start()
                    for inp, out, cr, cw in spec["usage"]:
                        t0 = time.time_ns()
                        _work(2 * pace)
                        st.record_usage(
                            spec["model"],
                            provider=PROVIDER,
                            input_tokens=inp,
                            output_tokens=out,
                            cache_read_tokens=cr,
                            cache_write_tokens=cw,
                            start_time=t0,
                        )
                    for i, (tool, args) in enumerate(spec["tools"], start=1):
                        call_id = f"toolu_{spec['phase']}_{attempt}_{i}"
                        with st.tool_call(tool, call_id=call_id, arguments=args) as tc:
                            _work(1 * pace)
                            if attempt == 1 and spec.get("fail_first") and tool == "Bash":
                                tc.fail(DemoTimeout(spec["fail_first"]))
                            else:
                                tc.set_result({"ok": True})
                    if attempt == 1 and spec.get("fail_first"):
                        st.fail(DemoTimeout(spec["fail_first"]))
                    else:
                        st.stop()
        started: str = wf.workflow_id
        return started


def span_tree(spans: list[Any]) -> str:
    """An indented text tree of finished spans: name, duration, status, cost roll-up."""
    by_parent: dict[int | None, list[Any]] = {}
    ids = {s.context.span_id for s in spans}
    for s in spans:
        parent = s.parent.span_id if s.parent is not None and s.parent.span_id in ids else None
        by_parent.setdefault(parent, []).append(s)
    lines: list[str] = []

    def walk(parent: int | None, depth: int) -> None:
        for s in sorted(by_parent.get(parent, []), key=lambda x: (x.start_time, x.name)):
            attrs = s.attributes or {}
            ms = (s.end_time - s.start_time) / 1e6
            status = " ERROR" if s.status.status_code.name == "ERROR" else ""
            cost = attrs.get("otel_agents.rollup.cost.amount", attrs.get("gen_ai.usage.cost.amount"))
            extra = f"  ${cost:.6f}" if isinstance(cost, float) and cost else ""
            lines.append(f"{'  ' * depth}{s.name}  {ms:.1f} ms{status}{extra}")
            walk(s.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)
