"""Screenshots of the main pages at 1280×800, written by every run to $CRITPATH_SCREENSHOTS
(default artifacts/screenshots/; `make screenshots` writes them to docs/screenshots/).

They are the pictures docs/dashboard.md shows; the test also checks that each page
fills the viewport it was designed for (no horizontal scrolling at 1280 px).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import VIEWPORT, Collector
from tests.dashboard.livedata import bank_builder

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / os.environ.get("CRITPATH_SCREENSHOTS", "artifacts/screenshots")


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def shoot(page: Page, name: str) -> Path:
    """Save the page as ``name``.png once its live-status button shows it connected.

    Every page (not only the first) opens its own event stream and shows *connecting*
    until it is up; trace pages are snapshots and say so once the script has run.
    """
    live = page.locator("body").get_attribute("data-live") == "on"
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live" if live else "static")
    expect(status.locator(".live-label")).not_to_have_text("connecting")
    assert page.evaluate("document.documentElement.scrollWidth") <= VIEWPORT["width"], (
        f"{name} scrolls sideways at {VIEWPORT['width']} px")
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    assert png_size(path) == (VIEWPORT["width"], VIEWPORT["height"])
    return path


def test_screenshots_of_the_main_pages(collector: Collector, page: Page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    collector.export_and_wait(bank_builder(60, fraud_check="fraud-check", statements=True))
    base = collector.base_url

    page.goto(base + "/")
    expect(page.locator("svg.graph g.node")).to_have_count(10)
    shoot(page, "overview")

    page.locator('svg.graph g.node[data-key="ledger"]').click()
    expect(page.locator('[data-detail="node"][data-key="ledger"]')).to_be_visible()
    shoot(page, "overview-selected")

    page.goto(base + "/endpoints")
    expect(page.locator("table.endpoints tbody tr")).to_have_count(3)
    shoot(page, "endpoints")

    page.locator("a.endpoint-link", has_text="POST /transfer").click()
    expect(page.locator("table.profile tbody tr").first).to_be_visible()
    shoot(page, "endpoint")

    page.locator("a.trace-link").first.click()
    expect(page.locator("svg.waterfall")).to_be_visible()
    page.locator("svg.waterfall g.span-row", has_text="INSERT entries").click()
    expect(page.locator('[data-detail="span"]:not([hidden])')).to_be_visible()
    shoot(page, "trace")

    page.goto(base + "/findings")
    expect(page.locator("article.finding").first).to_be_visible()
    shoot(page, "findings")

    shots = {p.name for p in SHOTS.glob("*.png")}
    assert shots >= {f"{n}.png" for n in (
        "overview", "overview-selected", "endpoints", "endpoint", "trace", "findings")}
