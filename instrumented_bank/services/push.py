"""push: notifications to customers' phones through Apple's push service (APNs).

APNs is a third party outside the bank, so it is not a process here: the delivery is a
CLIENT span to the virtual peer ``apns`` that takes ``apns_latency_ms`` and is rejected
``apns_failure_rate`` of the time. The delivery declares push's timeout towards APNs and
keeps it: an answer that would come later is given up on at the timeout, and the delivery
fails as a timed-out call does. The caller of ``POST /notifications`` tolerates failures.
"""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, HTTPException
from opentelemetry.trace import SpanKind, Status, StatusCode
from pydantic import BaseModel

from instrumented_bank.client import declare_timeout
from instrumented_bank.services import Service, ServiceContext

DESTINATION = "push.notifications"
APNS_HOST = "api.push.apple.com"

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY, account_id TEXT NOT NULL, title TEXT NOT NULL,
    delivered INTEGER NOT NULL, created_at REAL NOT NULL
);
"""


class Notification(BaseModel):
    account_id: str
    title: str
    body: str = ""


class ApnsFailed(Exception):
    """The notification did not reach APNs."""


class ApnsRejected(ApnsFailed):
    """APNs refused the notification."""


class ApnsTimeout(ApnsFailed):
    """APNs did not answer within push's timeout."""


def build(ctx: ServiceContext) -> Service:
    db = ctx.database(SCHEMA)
    router = APIRouter()

    def send_to_apns(notification: Notification) -> None:
        attributes = {
            "peer.service": "apns",
            "server.address": APNS_HOST,
            "server.port": 443,
            "http.request.method": "POST",
            "url.full": f"https://{APNS_HOST}/3/device",
        }
        with ctx.tracer.start_as_current_span(
            "POST", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            timeout_ms = ctx.client.timeout_ms("apns")
            declare_timeout(span, timeout_ms)
            latency_ms = ctx.jitter(ctx.faults.apns_latency_ms)
            if timeout_ms is not None and latency_ms > timeout_ms:
                ctx.work(timeout_ms)  # waited as long as the timeout allows, then gave up
                span.set_attribute("error.type", "timeout")
                span.set_status(Status(StatusCode.ERROR, f"no answer within {timeout_ms} ms"))
                raise ApnsTimeout(f"APNs did not answer within {timeout_ms} ms")
            ctx.work(latency_ms)
            if ctx.chance(ctx.faults.apns_failure_rate):
                span.set_attribute("http.response.status_code", 503)
                span.set_attribute("error.type", "503")
                span.set_status(Status(StatusCode.ERROR, "APNs unavailable"))
                raise ApnsRejected("APNs answered 503")
            span.set_attribute("http.response.status_code", 200)

    def notify(notification: Notification) -> dict:
        ctx.work()
        delivery_id = f"push-{uuid.uuid4().hex[:12]}"
        failure = None
        try:
            send_to_apns(notification)
        except ApnsFailed as exc:
            failure = "apns_timeout" if isinstance(exc, ApnsTimeout) else "apns_rejected"
        delivered = failure is None
        with db.connect() as connection:
            connection.execute(
                "INSERT INTO deliveries VALUES (?, ?, ?, ?, ?)",
                (
                    delivery_id,
                    notification.account_id,
                    notification.title,
                    int(delivered),
                    time.time(),
                ),
            )
        if not delivered:
            raise HTTPException(502, {"error": failure, "delivery_id": delivery_id})
        return {"delivery_id": delivery_id, "delivered": True}

    @router.post("/notifications")
    def create_notification(notification: Notification) -> dict:
        return notify(notification)

    return Service(router, consumers={DESTINATION: lambda body: notify(Notification(**body))})
