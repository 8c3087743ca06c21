"""The HTML report: one self-contained file, rendered by headless Chromium into a screenshot a
person can look at (the path is printed; ``OTEL_AGENTS_SCREENSHOT_DIR`` moves it)."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_report import make_store

from otel_agents.report import build_report, render

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    store = make_store(tmp_path_factory.mktemp("html") / "history.db")
    return render(build_report(store, use_cache=False), "html")


def test_html_fetches_nothing(page):
    assert page.startswith("<!DOCTYPE html>")
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    lowered = page.lower()
    for needle in ("<script", " src=", "href=", "url(", "@import", "<link", "<img", "<iframe"):
        assert needle not in lowered, needle
    # the only URL is the SVG namespace, which is a name, not a request
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


def test_html_has_every_chart(page):
    for title in (
        "Cost over time",
        "Cost by phase",
        "Cost by model",
        "Latency distribution by phase",
        "Error categories",
        "Tool usage",
    ):
        assert f'aria-label="{title}' in page or f"<h3>{title}" in page, title
    assert page.count("<svg") >= 9
    assert "Test phase fails 60% of step attempts" in page  # recommendations on top


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_html_renders_in_headless_chromium(page, tmp_path, capsys):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip(
            "chromium is not installed (`make test` installs Debian's chromium package; the install failed "
            "or was not run)"
        )
    html = tmp_path / "report.html"
    html.write_text(page, encoding="utf-8")
    out_dir = Path(os.environ.get("OTEL_AGENTS_SCREENSHOT_DIR", Path(tempfile.gettempdir()) / "otel-agents-report"))
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / "report-fixture.png"
    shot.unlink(missing_ok=True)
    proc = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--screenshot={shot}",
            "--window-size=1400,2400",
            html.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.is_file(), proc.stderr[-2000:]
    assert _png_size(shot) == (1400, 2400)
    assert shot.stat().st_size > 50_000  # charts and tables, not a blank page
    with capsys.disabled():
        print(f"\nHTML report screenshot: {shot}")
