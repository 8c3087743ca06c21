"""``otel-agents demo``: run the example workflow on the embedded defaults and show the result."""

from __future__ import annotations

import argparse


def main(args: list[str], prog: str = "otel-agents demo") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run a realistic example workflow.")
    parser.add_argument("--workflow-id", help="use this workflow id (default: a new UUID)")
    parser.add_argument("--pace", type=float, default=1.0, help="scale the simulated work (0: as fast as possible)")
    parser.add_argument("--quiet", action="store_true", help="print only the workflow id")
    ns = parser.parse_args(args)

    from otel_agents.config import DISABLED_ENV, sdk_disabled

    if sdk_disabled():
        print(
            f"{prog}: telemetry is disabled ({DISABLED_ENV}=true): nothing to record or show; "
            f"unset {DISABLED_ENV} to run the demo"
        )
        return 0
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import otel_agents
    from otel_agents.demo import run_demo, span_tree

    memory = InMemorySpanExporter()
    rt = otel_agents.setup(span_processors=[SimpleSpanProcessor(memory)])
    # An executor's start-up: load the price data (~0.2 s, once per process) before the
    # workflow, instead of letting the first model call wait for the background load.
    from otel_agents.demo import HAIKU, PROVIDER, SONNET
    from otel_agents.pricing import warm

    warm(((SONNET, PROVIDER), (HAIKU, PROVIDER)))
    workflow_id = run_demo(workflow_id=ns.workflow_id, pace=ns.pace)
    from otel_agents.commands.where import trace_lines, workflows
    from otel_agents.instrument.spans_file import span_record

    records = [span_record(s) for s in memory.get_finished_spans()]
    if ns.quiet:
        print(workflow_id)
    else:
        print(f"workflow {workflow_id}  trace {workflows(records)[0][2]}\n")
        print(span_tree(list(memory.get_finished_spans())))
    otel_agents.shutdown()  # first: the sinks finish (within the exit deadline), then report
    if not ns.quiet:
        for sink in rt.sinks:
            describe = getattr(sink, "describe", None)
            if callable(describe):
                print(f"\n{sink.name}: {describe()}")
        print("\n" + "\n".join(trace_lines(records)))
        from otel_agents.commands.report import demo_report

        return demo_report(rt.config.home, rt.config.analytics_db)  # the HTML file, then the terminal report
    return 0
