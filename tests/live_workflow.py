"""A workflow another process drives, one command per stdin line (for the live-view tests):
``phase NAME``, ``step NAME``, ``tool NAME``, ``usage IN OUT``, ``end tool|step|phase``,
``done`` (the workflow ends with success). Each command is acknowledged with ``ok`` on stdout."""

from __future__ import annotations

import sys

import otel_agents

MODEL = "claude-sonnet-4-5"


def main() -> int:
    otel_agents.setup()
    from otel_agents.pricing import warm

    warm(((MODEL, "anthropic"),))
    wf = otel_agents.new_workflow(sys.argv[1] if len(sys.argv) > 1 else "live-demo", workflow_id="wf-live-1").start()
    open_: dict[str, object] = {}
    print("ok", flush=True)
    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "phase":
            open_["phase"] = wf.phase(args[0]).start()
        elif cmd == "step":
            open_["step"] = open_["phase"].step(args[0], agent=args[0]).start()  # type: ignore[attr-defined]
        elif cmd == "tool":
            open_["tool"] = open_["step"].tool_call(args[0]).start()  # type: ignore[attr-defined]
        elif cmd == "usage":
            open_["step"].record_usage(  # type: ignore[attr-defined]
                MODEL, provider="anthropic", input_tokens=int(args[0]), output_tokens=int(args[1])
            )
        elif cmd == "end":
            open_.pop(args[0]).stop()  # type: ignore[attr-defined]
        elif cmd == "done":
            wf.stop()
            print("ok", flush=True)
            break
        print("ok", flush=True)
    otel_agents.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
