"""Reading an HTTP request body with a hard cap, decompressing gzip as it streams in.

The cap applies to the decompressed size (a 10 kB gzip bomb that inflates to 10 GB is
stopped after ``cap + 1`` bytes of output) and to the bytes on the wire.
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable
from typing import Any

Receive = Callable[[], Awaitable[dict[str, Any]]]


class BodyTooLarge(Exception):
    """The body (after decompression) exceeds the cap: 413."""


class BadBody(Exception):
    """The body cannot be decompressed (corrupt or truncated gzip): 400."""


class ClientGone(Exception):
    """The client disconnected before sending the whole body: nobody to answer."""


class _GzipStream:
    """Inflates gzip (including multi-member files) without ever exceeding ``cap``."""

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self.out = bytearray()

    def feed(self, data: bytes) -> None:
        while data:
            try:
                # Ask for at most one byte more than the room left: getting it proves "too big"
                # without inflating the rest.
                chunk = self._inflater.decompress(data, self._cap - len(self.out) + 1)
            except zlib.error as exc:
                raise BadBody(f"body is not valid gzip ({exc})") from exc
            self.out += chunk
            if len(self.out) > self._cap:
                raise BodyTooLarge
            data = self._inflater.unconsumed_tail
            if self._inflater.eof:
                # Another gzip member may follow (RFC 1952 allows concatenation).
                rest = self._inflater.unused_data + data
                if not rest:
                    return
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                data = rest

    def finish(self) -> bytes:
        if not self._inflater.eof:
            raise BadBody("gzip body is truncated")
        return bytes(self.out)


async def read_body(receive: Receive, cap: int, gzip: bool) -> bytes:
    """The whole request body from an ASGI ``receive``, decompressed if ``gzip``.

    Raises :class:`BodyTooLarge`, :class:`BadBody` or :class:`ClientGone`.
    """
    inflater = _GzipStream(cap) if gzip else None
    raw = bytearray()
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > cap:
            raise BodyTooLarge
        if inflater is not None:
            inflater.feed(chunk)
        else:
            raw += chunk
        if not message.get("more_body", False):
            break
    if inflater is not None:
        if received == 0:
            return b""
        return inflater.finish()
    return bytes(raw)
