"""The bank's services. Each module exposes ``build(ctx) -> Service``.

:func:`instrumented_bank.service.create_app` turns a service into an instrumented
FastAPI application; this package only holds the business logic and what every service
shares (:class:`ServiceContext`).
"""

from __future__ import annotations

import importlib
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from fastapi import APIRouter, HTTPException
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer

from instrumented_bank.client import ServiceClient
from instrumented_bank.db import Database
from instrumented_bank.queue import WorkQueue, publish
from instrumented_bank.settings import SERVICE_NAMES, BankSettings


class InjectedFault(HTTPException):
    """A failure the fault settings asked for (answered as 503)."""

    def __init__(self, what: str) -> None:
        super().__init__(status_code=503, detail=f"injected fault: {what}")


@dataclass
class ServiceContext:
    """What a service's code may use: its settings, telemetry, peers, queue and randomness."""

    name: str
    settings: BankSettings
    tracer_provider: TracerProvider
    client: ServiceClient
    queue: WorkQueue
    rng: random.Random = field(default_factory=random.Random)
    _rng_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tracer(self) -> Tracer:
        return self.tracer_provider.get_tracer("instrumented_bank")

    @property
    def faults(self):
        return self.settings.faults

    def database(self, schema: str) -> Database:
        """This service's own SQLite file in the data directory."""
        return Database(
            self.settings.data_dir / f"{self.name}.sqlite", schema, self.tracer_provider
        )

    def chance(self, rate: float) -> bool:
        """True with probability ``rate`` (handlers run on several threads, hence the lock)."""
        if rate <= 0.0:
            return False
        with self._rng_lock:
            return self.rng.random() < rate

    def work(self, ms: int | None = None) -> None:
        """Spend ``ms`` (default: the configured per-request work) as a real service would."""
        delay = self.faults.work_ms if ms is None else ms
        if delay > 0:
            time.sleep(delay / 1000.0)

    def jitter(self, ms: int) -> int:
        """Between half and one and a half times ``ms``: real latency varies."""
        if ms <= 0:
            return 0
        with self._rng_lock:
            factor = self.rng.uniform(0.5, 1.5)
        return round(ms * factor)

    def jittered(self, ms: int) -> None:
        """Spend :meth:`jitter` of ``ms``."""
        if ms > 0:
            self.work(self.jitter(ms))

    def fail_sometimes(self, rate: float, what: str) -> None:
        """Raise :class:`InjectedFault` with probability ``rate``."""
        if self.chance(rate):
            raise InjectedFault(what)

    def publish(self, destination: str, body: Any) -> int | str:
        """Queue ``body`` for ``destination`` under a PRODUCER span."""
        return publish(self.queue, self.tracer, destination, body)


@dataclass
class Service:
    """A service's HTTP routes and the queue destinations it consumes."""

    router: APIRouter
    consumers: Mapping[str, Callable[[Any], None]] = field(default_factory=dict)


def module_of(name: str) -> ModuleType:
    """The module implementing service ``name`` (``card-processing`` -> ``card_processing``)."""
    if name not in SERVICE_NAMES:
        raise KeyError(f"no such bank service: {name!r} (known: {', '.join(SERVICE_NAMES)})")
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
