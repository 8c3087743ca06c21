"""How an exception that leaves a workflow, phase, step or call ends it, and how it is named."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from opentelemetry.trace import StatusCode

import otel_agents as oa
from otel_agents import attributes as A
from otel_agents.events import Outcome, outcome_of


def _by_name(exporter):
    return {s.name: s for s in exporter.get_finished_spans()}


def _run_nested(exc: BaseException) -> None:
    with oa.workflow("w") as wf:
        with wf.phase("p") as ph:
            with ph.step("s") as st:
                with st.tool_call("Bash"):
                    raise exc


@pytest.mark.parametrize("exc", [SystemExit(0), SystemExit(None), SystemExit()], ids=["0", "None", "bare"])
def test_clean_sys_exit_is_success(runtime, exporter, exc):
    with pytest.raises(SystemExit) as info:
        _run_nested(exc)
    assert info.value is exc  # the application's exit goes on unchanged
    spans = _by_name(exporter)
    assert sorted(spans) == ["execute_tool Bash", "invoke_workflow w", "phase p", "step s"]
    for span in spans.values():
        assert span.attributes[A.OUTCOME] == "success", span.name
        assert A.ERROR_TYPE not in span.attributes and A.ERROR_MESSAGE not in span.attributes
        assert span.status.status_code is StatusCode.UNSET
        assert span.events == ()


def test_sys_exit_inside_a_decorated_workflow_is_success(runtime, exporter):
    @oa.workflow("w")
    def main() -> None:
        sys.exit(0)

    with pytest.raises(SystemExit):
        main()
    (span,) = exporter.get_finished_spans()
    assert span.attributes[A.OUTCOME] == "success"


@pytest.mark.parametrize("code", [1, 2, "fatal: no config"])
def test_nonzero_sys_exit_is_failure(runtime, exporter, code):
    with pytest.raises(SystemExit):
        _run_nested(SystemExit(code))
    for span in _by_name(exporter).values():
        assert span.attributes[A.OUTCOME] == "failure"
        assert span.attributes[A.ERROR_TYPE] == "SystemExit"
        assert span.status.status_code is StatusCode.ERROR


def test_keyboard_interrupt_is_abandoned(runtime, exporter):
    with pytest.raises(KeyboardInterrupt):
        _run_nested(KeyboardInterrupt())
    spans = _by_name(exporter)
    assert len(spans) == 4
    for span in spans.values():
        assert span.attributes[A.OUTCOME] == "abandoned", span.name
        assert A.ERROR_TYPE not in span.attributes
        assert span.status.status_code is StatusCode.UNSET


def test_cancelled_task_is_abandoned(runtime, exporter):
    @oa.step("slow", agent="coder")
    async def slow(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()  # until cancelled

    async def main() -> None:
        with oa.workflow("w"):
            started = asyncio.Event()
            task = asyncio.ensure_future(slow(started))
            await started.wait()
            task.cancel()
            await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    spans = _by_name(exporter)
    assert {name: s.attributes[A.OUTCOME] for name, s in spans.items()} == {
        "invoke_agent coder": "abandoned",
        "invoke_workflow w": "abandoned",
    }
    assert all(s.status.status_code is StatusCode.UNSET for s in spans.values())


def test_instrumentation_and_api_share_the_classifier():
    assert [outcome_of(e) for e in (None, SystemExit(0), SystemExit(None), GeneratorExit())] == [Outcome.SUCCESS] * 4
    assert [outcome_of(e) for e in (SystemExit(1), ValueError(), asyncio.TimeoutError())] == [Outcome.FAILURE] * 3
    assert [outcome_of(e) for e in (KeyboardInterrupt(), asyncio.CancelledError())] == [Outcome.ABANDONED] * 2


class QuotaExceeded(Exception):
    pass


@pytest.mark.parametrize(
    ("exc", "name"),
    [
        (ValueError("bad input"), "ValueError"),
        (json.JSONDecodeError("Expecting value", "x", 0), "json.decoder.JSONDecodeError"),
        (QuotaExceeded("over"), f"{__name__}.QuotaExceeded"),
    ],
)
def test_error_type_and_exception_type_are_the_same_name(runtime, exporter, exc, name):
    with pytest.raises(type(exc)):
        with oa.workflow("w"):
            raise exc
    (span,) = exporter.get_finished_spans()
    assert span.attributes[A.ERROR_TYPE] == name
    (event,) = span.events
    assert event.name == "exception"
    assert dict(event.attributes) == {
        "exception.type": name,
        "exception.message": str(exc),
        "exception.stacktrace": event.attributes["exception.stacktrace"],
    }  # and no deprecated exception.escaped
    assert event.attributes["exception.stacktrace"].startswith("Traceback (most recent call last):")


def test_a_failure_given_as_text_names_the_same_type_on_both(runtime, exporter):
    with oa.workflow("w") as wf:
        wf.step("s").start().fail("exit status 3", error_type="tool_error")
    span = _by_name(exporter)["step s"]
    assert span.attributes[A.ERROR_TYPE] == "tool_error"
    assert dict(span.events[0].attributes) == {"exception.type": "tool_error", "exception.message": "exit status 3"}
