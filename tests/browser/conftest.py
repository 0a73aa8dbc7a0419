"""Browser tests: the real collector app under uvicorn, driven by headless system Chromium.

Every page a test opens is watched: a JavaScript dialog (what an injected ``alert``
would open), a Content-Security-Policy violation (what an injected inline script or
style would cause) or an uncaught script error fails the test that caused it.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult
from playwright.sync_api import Browser, Page, expect, sync_playwright

from collector.app import create_app
from collector.settings import CollectorSettings
from tests.support.sdk import TraceBuilder

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}

# Records CSP violations through a binding, so that they survive navigations. Playwright
# injects init scripts itself; the page's CSP does not apply to them.
WATCH_CSP = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__critpathCspViolation(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")


@dataclass
class Collector:
    """A running collector: its dashboard/API base URL and its OTLP/HTTP endpoint."""

    base_url: str
    otlp_url: str
    app: Any

    def export(self, builder: TraceBuilder) -> None:
        """Send the builder's spans with the OpenTelemetry SDK's own OTLP/HTTP exporter."""
        exporter = OTLPSpanExporter(endpoint=self.otlp_url, timeout=10)
        try:
            assert exporter.export(builder.finished()) is SpanExportResult.SUCCESS
        finally:
            exporter.shutdown()

    def traces(self) -> int:
        """How many traces the live state has analysed."""
        return self.app.state.runtime.state.traces

    def export_and_wait(self, builder: TraceBuilder) -> None:
        """Export, then wait until the collector has analysed every exported trace."""
        expected = self.traces() + len({s.context.trace_id for s in builder.finished()})
        self.export(builder)
        wait_until(lambda: self.traces() >= expected, what=f"{expected} analysed traces")

    def api(self, path: str) -> Any:
        """GET a JSON document from the collector's API."""
        response = httpx.get(self.base_url + path, timeout=10)
        response.raise_for_status()
        return response.json()


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run an ASGI app under uvicorn on a free loopback port; yields its base URL."""
    sock = socket.create_server(("127.0.0.1", 0))
    # Open event streams would hold a graceful shutdown forever; a second is plenty.
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "the server did not start"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


@contextlib.contextmanager
def running_collector() -> Iterator[Collector]:
    """The collector app with its OTLP/HTTP receiver, all on free loopback ports."""
    settings = CollectorSettings(
        host="127.0.0.1", port=0, otlp_http_port=0, otlp_grpc_port=0,
        trace_wait_seconds=0.05, snapshot_interval_seconds=3600,
    )
    app = create_app(settings)
    with serving(app) as base_url:
        receiver = app.state.runtime.http_receiver
        wait_until(lambda: receiver.port, what="the OTLP/HTTP receiver")
        yield Collector(base_url=base_url, otlp_url=f"http://127.0.0.1:{receiver.port}/v1/traces", app=app)


@pytest.fixture
def collector() -> Iterator[Collector]:
    with running_collector() as running:
        yield running


# Package scope, not session: Playwright's sync API keeps an event loop running in this
# thread while it is open, which would break later tests that call asyncio.run().
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    assert shutil.which("chromium") or shutil.which(CHROMIUM), (
        "the browser tests need Debian's chromium (make test-deps installs it)")
    # The machine running the suite may be busy; give assertions the same patience as actions.
    expect.set_options(timeout=10_000)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Watch:
    """What must never happen on a dashboard page."""

    dialogs: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert self.dialogs == [], f"a dialog opened: {self.dialogs}"
        assert self.csp_violations == [], f"CSP violations: {self.csp_violations}"
        assert self.page_errors == [], f"script errors: {self.page_errors}"


@pytest.fixture
def watch() -> Watch:
    return Watch()


@pytest.fixture
def page(browser: Browser, watch: Watch) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)
    context.expose_binding("__critpathCspViolation",
                           lambda source, text: watch.csp_violations.append(f"event: {text}"))
    context.add_init_script(WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(10_000)

    def on_dialog(dialog) -> None:
        watch.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda error: watch.page_errors.append(str(error)))
    page.on("console", lambda message: (
        watch.csp_violations.append(f"console: {message.text}")
        if "Content Security Policy" in message.text else None))
    yield page
    context.close()
    watch.assert_clean()
