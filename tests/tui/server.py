"""A small real HTTP server on loopback serving the collector API's documents from
fixtures, which a test can stop and start again on the same port."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


class FixtureServer:
    """Serves ``/api/report``, ``/api/endpoints/{service}/{name}`` and ``/api/traces/{id}``.

    ``report`` may be replaced while running; ``windows`` may hold another report for a
    given ``window`` (a baseline); ``requests`` counts report requests.
    """

    def __init__(
        self,
        report: Mapping[str, Any],
        traces: Mapping[str, Mapping[str, Any]],
        endpoints: Mapping[tuple[str, str], Mapping[str, Any]],
    ) -> None:
        self.report = report
        self.traces = traces
        self.endpoints = endpoints
        self.windows: dict[str, Mapping[str, Any]] = {}
        self.port = 0
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen (on the port used before, if any) and serve in a thread."""
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket (clients then get connection refused)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    def _answer(self, path: str, query: Mapping[str, list[str]]) -> tuple[int, Any]:
        if path == "/api/report":
            self.requests += 1
            window = query.get("window", ["all"])[0]
            return 200, self.windows.get(window, self.report)
        if path.startswith("/api/traces/"):
            doc = self.traces.get(unquote(path.removeprefix("/api/traces/")))
            return (200, doc) if doc else (404, {"detail": "no such trace"})
        if path.startswith("/api/endpoints/"):
            service, _, name = path.removeprefix("/api/endpoints/").partition("/")
            doc = self.endpoints.get((unquote(service), unquote(name)))
            return (200, doc) if doc else (404, {"detail": "no such endpoint"})
        return 404, {"detail": "not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
                parts = urlsplit(self.path)
                status, doc = owner._answer(parts.path, parse_qs(parts.query))
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests assert on what the TUI shows, not on the access log."""

        return Handler
