"""Messages the workers post back to the event loop.

Report updates are replaceable: when a newer one is queued before the older was
handled, the older is dropped, so a slow screen never falls behind a fast source.
"""

from __future__ import annotations

from textual.message import Message

from tui.model import EndpointDetail, Overview, TraceView


class ReportLoaded(Message):
    """A fresh report, shaped for the screens, fetched at ``fetched_at`` (app clock)."""

    def __init__(self, overview: Overview, fetched_at: float) -> None:
        super().__init__()
        self.overview = overview
        self.fetched_at = fetched_at

    def can_replace(self, message: Message) -> bool:
        """A newer report makes a pending older one (or a pending failure) pointless."""
        return isinstance(message, ReportLoaded | SourceFailed)


class SourceFailed(Message):
    """The source could not give a report; ``reachable`` is false when it is gone."""

    def __init__(self, error: str, reachable: bool) -> None:
        super().__init__()
        self.error = error
        self.reachable = reachable

    def can_replace(self, message: Message) -> bool:
        """Only the latest failure matters."""
        return isinstance(message, SourceFailed)


class EndpointLoaded(Message):
    """An endpoint's depth counts and exemplars."""

    def __init__(self, detail: EndpointDetail) -> None:
        super().__init__()
        self.detail = detail

    def can_replace(self, message: Message) -> bool:
        """A newer detail of the same endpoint supersedes the older."""
        return isinstance(message, EndpointLoaded) and message.detail.key == self.detail.key


class TraceLoaded(Message):
    """A trace laid out as a waterfall; ``view`` is ``None`` when the source lacks it."""

    def __init__(self, trace_id: str, view: TraceView | None) -> None:
        super().__init__()
        self.trace_id = trace_id
        self.view = view


class LoadFailed(Message):
    """A screen's own load (endpoint detail, trace) failed; ``error`` says why."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class OpenEndpoint(Message):
    """A screen asks to drill into an endpoint (``"service name"``); the app pushes it."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class OpenFinding(Message):
    """A screen asks to drill into a finding (its key); the app pushes it."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class OpenTrace(Message):
    """A screen asks to open a trace's waterfall; the app pushes it."""

    def __init__(self, trace_id: str) -> None:
        super().__init__()
        self.trace_id = trace_id
