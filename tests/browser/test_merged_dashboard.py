"""``critpath dashboard --from A --from B`` in headless Chromium: the dashboard over two real
collectors, each holding whole traces (routed by trace id), run as the command a user runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from critpath.exitcodes import ExitCode
from tests.dashboard.livedata import bank_builder
from tests.dashboard.test_merged import Collector, route

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def collectors() -> Iterator[list[Collector]]:
    pair = [Collector(dashboard=True), Collector(dashboard=False)]
    try:
        yield pair
    finally:
        for collector in pair:
            collector.stop()


@pytest.fixture
def dashboard(collectors: list[Collector]) -> Iterator[tuple[str, subprocess.Popen]]:
    """``critpath dashboard`` over both collectors on a free port; yields its URL and process."""
    command = [sys.executable, "-m", "critpath", "dashboard", "--port", "0",
               "--from", collectors[0].url, "--from", collectors[1].url]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        first = process.stdout.readline()
        match = re.match(r"critpath dashboard: (http://127\.0\.0\.1:\d+/)", first)
        assert match, (first + process.stderr.read()) if process.poll() is not None else first
        yield match.group(1).rstrip("/"), process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_one_dashboard_over_two_collectors(collectors: list[Collector], dashboard, page: Page):
    base, process = dashboard
    # Traces dealt out by trace id: each collector holds part of every journey.
    builder = bank_builder(24, statements=True)
    bank_builder(6, seed=3, fraud_check="fraud-check", builder=builder)
    held = route(builder, collectors)
    assert all(held)

    page.goto(base + "/?window=all")
    expect(page.locator("#sources")).to_contain_text("Merged view of 2 collectors")
    for collector in collectors:
        expect(page.locator("#sources")).to_contain_text(collector.url)
    expect(page.locator('#summary [data-metric="traces"]')).to_have_text("30")
    for name in ("web-gateway", "payments", "statements", "fraud-check", "notifier"):
        expect(page.locator(f'svg.graph g.node[data-key="{name}"]')).to_have_count(1)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "polling")

    # Endpoint → a trace, whichever collector holds it.
    page.goto(base + "/endpoints?window=all")
    expect(page.locator("table.endpoints tbody tr")).to_have_count(3)
    page.locator("a.endpoint-link", has_text="POST /transfer").click()
    links = page.locator("a.trace-link")
    expect(links.first).to_be_visible()
    hrefs = links.evaluate_all("els => els.map(e => e.getAttribute('href'))")
    ids = {re.search(r"/traces/([0-9a-f]{32})", h).group(1) for h in hrefs}
    assert ids & held[0] and ids & held[1], "the exemplars come from both collectors"
    on_second = next(h for h in hrefs if re.search(r"/traces/([0-9a-f]{32})", h).group(1) in held[1])
    page.locator(f'a.trace-link[href="{on_second}"]').click()
    expect(page.locator("svg.waterfall g.span-row").first).to_be_visible()
    expect(page.locator("h1.title")).to_contain_text(re.search(r"[0-9a-f]{32}", on_second).group(0))

    # New traffic on either collector updates the open page without a reload.
    page.goto(base + "/?window=all")
    page.evaluate("window.__sameDocument = true")
    collectors[1].receive(bank_builder(4, seed=9, fraud_check="risk-score").finished())
    expect(page.locator('svg.graph g.node[data-key="risk-score"]')).to_have_count(1)
    expect(page.locator('#summary [data-metric="traces"]')).to_have_text("34")
    assert page.evaluate("window.__sameDocument") is True

    # A collector going away is named on the page; the other's traces stay on screen.
    remaining = collectors[0].traces()
    collectors[1].stop()
    expect(page.locator("#sources .bad")).to_contain_text(collectors[1].url)
    expect(page.locator('#summary [data-metric="traces"]')).to_have_text(str(remaining))
    assert page.evaluate("window.__sameDocument") is True

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == ExitCode.INTERRUPTED
    assert "stopped" in process.stderr.read()


def test_the_command_needs_a_collector_and_a_free_port(collectors: list[Collector], dashboard):
    base, _ = dashboard
    result = subprocess.run([sys.executable, "-m", "critpath", "dashboard"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.BAD_INPUT and "--from" in result.stderr
    port = base.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "critpath", "dashboard", "--from", collectors[0].url,
                             "--port", port], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == ExitCode.BAD_INPUT
    assert f"cannot listen for the dashboard on 127.0.0.1:{port}" in result.stderr
