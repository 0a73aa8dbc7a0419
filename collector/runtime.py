"""Wires the collector's parts together and runs their lifecycle, in the right order.

Start: resume the store into the live state, start the pipeline (and its consumers),
then open the receivers. Shutdown is the reverse: close the receivers (no new spans),
flush the pipeline (every buffered trace is analyzed), write the store, close it.
While it runs, the process's garbage-collector thresholds are raised for ingest
(``collector.gcpolicy``).
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass

from collector.counters import IngestCounters
from collector.gcpolicy import GcPolicy
from collector.metrics import create_registry
from collector.pipeline import Pipeline, TraceConsumer
from collector.receivers.grpc import GrpcReceiver
from collector.receivers.http import HttpReceiver
from collector.receivers.ingest import Ingest
from collector.settings import CollectorSettings
from collector.state import LiveState
from collector.store import Store, StoreWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listeners:
    """Sockets bound before the app starts (so a taken port fails early and clearly)."""

    otlp_http: socket.socket | None = None


class CollectorRuntime:
    """Owns every long-lived object of one collector: state, pipeline, store, receivers."""

    def __init__(self, settings: CollectorSettings, listeners: Listeners | None = None) -> None:
        self.settings = settings
        self.counters = IngestCounters()
        self.state = LiveState(settings, self.counters)
        self.store = Store(settings.data_dir) if settings.data_dir is not None else None
        consumers: list[TraceConsumer] = [self.state]
        self.writer: StoreWriter | None = None
        if self.store is not None:
            self.writer = StoreWriter(self.store, self.state, settings)
            self.state.trace_fallback = self.store.trace
            consumers.append(self.writer)
        self.pipeline = Pipeline(settings, consumers, self.counters)
        self.ingest = Ingest(self.pipeline, self.counters, settings.analysis.timeout_keys)
        self.registry = create_registry(self.state, self.counters, self.pipeline, settings)
        listeners = listeners or Listeners()
        self.http_receiver: HttpReceiver | None = None
        self.grpc_receiver: GrpcReceiver | None = None
        if settings.receivers:
            self.http_receiver = HttpReceiver(self.ingest, settings, listeners.otlp_http)
            self.grpc_receiver = GrpcReceiver(self.ingest, settings)
        self.ready = False
        self.stopping = False
        self.gc_policy = GcPolicy()

    def start(self) -> None:
        """Resume, start the pipeline, open the receivers; undo everything if one fails."""
        self.gc_policy.apply()
        if self.writer is not None:
            resumed = self.writer.resume()
            log.info("store %s: %s", self.store.path if self.store else "",
                     "resumed the live view" if resumed else "nothing to resume")
        self.pipeline.start()
        try:
            for receiver in (self.http_receiver, self.grpc_receiver):
                if receiver is not None:
                    receiver.start()
        except BaseException:
            self.shutdown()
            raise
        self.ready = True

    def shutdown(self) -> None:
        """Stop receiving, analyze what is buffered, persist, close."""
        self.ready = False
        self.stopping = True
        for receiver in (self.grpc_receiver, self.http_receiver):
            if receiver is not None:
                receiver.shutdown()
        if self.pipeline.running:
            self.pipeline.shutdown()
        if self.store is not None:
            self.store.close()
        self.gc_policy.restore()
