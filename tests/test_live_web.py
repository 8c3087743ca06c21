"""``otel-agents serve`` in headless Chromium: a workflow running in ANOTHER process appears,
advances through its phases and ends on the page while the test watches, without a reload."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import pytest
from _cdp import Browser, chromium_path
from _live_driver import Driver
from _otlp_receiver import free_port
from _waiting import wait_until

VISIBLE_S = 1.0  # in the page within this of the workflow doing it (SSE poll 0.2 s + file 0.2 s)

ROWS = """JSON.stringify({
  running: [...document.querySelectorAll('#running tbody tr[data-id]')].map(tr =>
    [tr.dataset.id, tr.querySelector('.phase').textContent, tr.querySelector('.step').textContent,
     tr.querySelector('.tool').textContent]),
  ended: [...document.querySelectorAll('#ended tbody tr[data-id]')].map(tr =>
    [tr.dataset.id, tr.querySelector('.outcome').textContent, tr.cells[3].textContent, tr.cells[4].textContent,
     tr.querySelector('a') && tr.querySelector('a').getAttribute('href')]),
  marker: window.__notReloaded === 1,
  reportLink: !!document.querySelector('a[href="/report"]'),
})"""


@pytest.fixture
def server(tmp_path):
    home = tmp_path / "home"
    proc = subprocess.Popen(
        [sys.executable, "-m", "otel_agents", "serve", "--home", str(home), "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        url = line.split("page: ", 1)[1].split()[0]
        assert url.startswith("http://127.0.0.1:")  # loopback by default
        yield home, url
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_answers_json_and_binds_loopback(server):
    home, url = server
    with urllib.request.urlopen(url + "api/live", timeout=10) as resp:
        assert json.loads(resp.read())["running"] == []
    with urllib.request.urlopen(url + "report", timeout=30) as resp:
        assert resp.status == 200


def test_live_page_in_headless_chromium(server):
    chromium = chromium_path()
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (make chromium)")
        pytest.skip("chromium is not installed (`make test` installs it)")
    home, url = server
    browser = Browser(chromium)
    wf = None
    try:
        browser.open(url)
        wait_until(lambda: browser.evaluate("document.getElementById('status').textContent.startsWith('live')"), 20)
        browser.evaluate("window.__notReloaded = 1")

        def page():
            return json.loads(browser.evaluate(ROWS))

        wf = Driver(home, f"http://127.0.0.1:{free_port()}")
        wait_until(lambda: page()["running"] == [["wf-live-1", "", "", ""]], VISIBLE_S, lambda: f"the start: {page()}")
        for command, row in (
            ("phase plan", ["wf-live-1", "plan", "", ""]),
            ("step coder", ["wf-live-1", "plan", "coder", ""]),
            ("tool bash", ["wf-live-1", "plan", "coder", "bash"]),
            ("end tool", ["wf-live-1", "plan", "coder", ""]),
            ("usage 1000 200", ["wf-live-1", "plan", "coder", ""]),
            ("end step", ["wf-live-1", "plan", "", ""]),
            ("end phase", ["wf-live-1", "", "", ""]),
            ("phase build", ["wf-live-1", "build", "", ""]),
            ("end phase", ["wf-live-1", "", "", ""]),
        ):
            wf.send(command)
            wait_until(lambda row=row: page()["running"] == [row], VISIBLE_S, lambda row=row: f"{row}: {page()}")
        wf.send("done")
        wait_until(lambda: page()["ended"], VISIBLE_S, lambda: f"the end: {page()}")
        final = page()
        assert final["running"] == []
        trace_link = final["ended"][0][4]
        assert final["ended"] == [["wf-live-1", "success", "1,000 in / 200 out", "$0.0060", trace_link]]
        assert trace_link.startswith("/run/") and len(trace_link) == len("/run/") + 32
        assert final["marker"] and final["reportLink"]  # the same page all along, never reloaded
        wf.proc.wait(10)
        with urllib.request.urlopen(url.rstrip("/") + trace_link, timeout=10) as resp:
            tree = resp.read().decode()
        assert "invoke_workflow live-demo" in tree and "phase build" in tree
    finally:
        if wf is not None:
            wf.close()
        browser.close()
