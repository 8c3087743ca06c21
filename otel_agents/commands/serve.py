"""``otel-agents serve``: the live view (``otel-agents live``) on a local web page, updated by
Server-Sent Events without reloading, with links to each run's span tree and to the HTML
report. Standard library only (``http.server``, one thread per request); binds to the
loopback interface unless ``--host`` says otherwise."""

from __future__ import annotations

import argparse
import html
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from otel_agents.commands.live_view import snapshot
from otel_agents.config import resolve_home

#: how often an open page's stream looks for a change (seconds)
POLL_S = 0.2
KEEPALIVE_S = 15.0

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>otel-agents live</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin-bottom:1.5em;min-width:60em}
th,td{text-align:left;padding:.3em .8em;border-bottom:1px solid #ddd}
th{background:#f4f4f4}.num{text-align:right}#status{color:#777}
</style></head><body>
<h1>otel-agents live</h1>
<p><span id="status">connecting...</span> &middot; <a href="/report">HTML report</a></p>
<h2>Running</h2>
<table id="running"><thead><tr><th>Run</th><th>Phase</th><th>Step</th><th>Tool call</th>
<th>Elapsed</th><th>Tokens</th><th>Cost</th><th></th></tr></thead><tbody></tbody></table>
<h2>Ended</h2>
<table id="ended"><thead><tr><th>Run</th><th>Outcome</th><th>Took</th><th>Tokens</th><th>Cost</th>
<th></th></tr></thead><tbody></tbody></table>
<script>
function esc(s){return String(s==null?"":s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]))}
function dur(s){s=Math.max(0,Math.floor(s));return s>=3600?Math.floor(s/3600)+"h"+String(Math.floor(s/60)%60).padStart(2,"0")+"m":Math.floor(s/60)+"m"+String(s%60).padStart(2,"0")+"s"}
function tok(r){return r.input_tokens==null?"n/a":r.input_tokens.toLocaleString("en")+" in / "+r.output_tokens.toLocaleString("en")+" out"}
function cost(r){if(r.cost_usd==null)return "n/a";var u=r.unpriced_model_calls||0;
 if(u&&!r.cost_usd)return "unknown (unpriced)";return "$"+r.cost_usd.toFixed(4)+(u?" + "+u+" unpriced":"")}
function who(r){return esc(r.name||r.kind)+" <small>["+esc(r.workflow_id)+"]</small>"}
function tree(r){return r.trace_id?'<a href="/run/'+esc(r.trace_id)+'">tree</a>':""}
var snap=null;
function draw(){if(!snap)return;var now=Date.now()/1000;
 document.querySelector("#running tbody").innerHTML=snap.running.map(r=>"<tr data-id=\\""+esc(r.workflow_id)+"\\"><td>"+who(r)+
  "</td><td class=phase>"+esc(r.phase)+"</td><td class=step>"+esc(r.step)+"</td><td class=tool>"+esc(r.tool)+
  "</td><td class=num>"+dur(now-r.started)+"</td><td class=num>"+tok(r)+"</td><td class=num>"+cost(r)+"</td><td>"+tree(r)+"</td></tr>").join("")
  ||"<tr><td colspan=8>nothing running</td></tr>";
 document.querySelector("#ended tbody").innerHTML=snap.ended.map(r=>"<tr data-id=\\""+esc(r.workflow_id)+"\\"><td>"+who(r)+
  "</td><td class=outcome>"+esc(r.outcome)+"</td><td class=num>"+dur(r.ended-r.started)+"</td><td class=num>"+tok(r)+
  "</td><td class=num>"+cost(r)+"</td><td>"+tree(r)+"</td></tr>").join("")||"<tr><td colspan=6>none recently</td></tr>"}
var es=new EventSource("/events");
es.onmessage=function(e){snap=JSON.parse(e.data);document.getElementById("status").textContent="live, updated "+new Date().toLocaleTimeString();draw()};
es.onerror=function(){document.getElementById("status").textContent="reconnecting..."};
setInterval(draw,1000);
</script></body></html>
"""


class LiveHandler(BaseHTTPRequestHandler):
    home: Path
    stop: threading.Event

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._send(200, "text/html; charset=utf-8", PAGE.encode())
        elif path == "/events":
            self._events()
        elif path == "/api/live":
            self._send(200, "application/json", json.dumps(snapshot(self.home)).encode())
        elif path.startswith("/run/"):
            self._tree(unquote(path[len("/run/") :]))
        elif path == "/report":
            self._report()
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """Server-Sent Events: the snapshot whenever it changes (elapsed times tick in the page)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        last, quiet_since = "", time.monotonic()
        try:
            while not self.stop.is_set():
                snap = snapshot(self.home)
                body = json.dumps({k: v for k, v in snap.items() if k != "now"}, sort_keys=True)
                if body != last:
                    last, quiet_since = body, time.monotonic()
                    self.wfile.write(f"data: {body}\n\n".encode())
                    self.wfile.flush()
                elif time.monotonic() - quiet_since > KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    self.wfile.write(b": keep-alive\n\n")
                    self.wfile.flush()
                self.stop.wait(POLL_S)
        except OSError:
            return  # the page went away

    def _tree(self, query: str) -> None:
        from otel_agents.commands.show import NotShown, build_tree, find_trace, load_trace, render

        spans_dir = self.home / "spans"
        try:
            trace_id = find_trace(spans_dir, query)
            spans = load_trace(spans_dir, trace_id)
            text = render(trace_id, spans, build_tree(spans))
        except NotShown as exc:
            text = f"{exc}\n(a run's spans reach the spool as they end: a step still running is not in it yet)"
        body = (
            f"<!DOCTYPE html><meta charset=utf-8><title>run {html.escape(query)}</title><pre>{html.escape(text)}</pre>"
        )
        self._send(200, "text/html; charset=utf-8", body.encode())

    def _report(self) -> None:
        from otel_agents.commands import report

        with tempfile.TemporaryDirectory(prefix="otel-agents-serve-") as tmp:
            out = Path(tmp) / "report.html"
            code = report.main(["--home", str(self.home), "--format", "html", "--output", str(out), "--quiet"])
            if code != 0 or not out.exists():
                self._send(200, "text/plain; charset=utf-8", b"no analytics data yet: run a workflow first\n")
                return
            self._send(200, "text/html; charset=utf-8", out.read_bytes())


def make_server(home: str | Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server for the live page of ``home`` (not started: ``serve_forever`` it)."""
    handler = type("Handler", (LiveHandler,), {"home": Path(home), "stop": threading.Event()})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(args: list[str], prog: str = "otel-agents serve") -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument("--home", help="data home (default: $OTEL_AGENTS_HOME or ./.otel-agents)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free one; the URL is printed)")
    ns = p.parse_args(args)
    server = make_server(resolve_home() if ns.home is None else ns.home, ns.host, ns.port)
    print(f"otel-agents live page: http://{ns.host}:{server.server_port}/  (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.RequestHandlerClass.stop.set()  # type: ignore[attr-defined]
        server.server_close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
