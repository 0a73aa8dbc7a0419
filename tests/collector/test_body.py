"""Reading request bodies: capped, gzip inflated as it streams (bombs stop at the cap)."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from collector.receivers.body import BadBody, BodyTooLarge, ClientGone, read_body


def chunks(data: bytes, size: int = 1000, disconnect: bool = False):
    """An ASGI ``receive`` delivering ``data`` in pieces (then a disconnect, if asked)."""
    pieces = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": i < len(pieces) - 1}
                for i, p in enumerate(pieces)]
    if disconnect:
        messages[-1]["more_body"] = True
        messages.append({"type": "http.disconnect"})

    async def receive():
        return messages.pop(0)

    return receive


def read(data: bytes, cap: int, gzip_: bool, **kwargs) -> bytes:
    return asyncio.run(read_body(chunks(data, **kwargs), cap, gzip_))


def test_plain_body_is_returned_whole():
    assert read(b"x" * 5000, 5000, False) == b"x" * 5000


def test_plain_body_over_the_cap():
    with pytest.raises(BodyTooLarge):
        read(b"x" * 5001, 5000, False)


def test_gzip_body_is_inflated():
    payload = bytes(range(256)) * 40
    assert read(gzip.compress(payload), len(payload), True) == payload


def test_gzip_bomb_stops_at_the_cap_without_inflating_everything():
    # 64 MiB of zeros compress to about 64 KiB: a 1000:1 bomb. Only the cap may be inflated.
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    with pytest.raises(BodyTooLarge):
        read(bomb, 1024 * 1024, True, size=64 * 1024)


def test_multi_member_gzip_is_one_body():
    data = gzip.compress(b"hello ") + gzip.compress(b"world")
    assert read(data, 100, True, size=7) == b"hello world"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(gzip.compress(b"x" * 1000)[:-12], id="truncated"),
        pytest.param(b"not gzip at all", id="not-gzip"),
        pytest.param(gzip.compress(b"abc")[:10] + b"\xff" * 20, id="corrupt-deflate"),
        pytest.param(gzip.compress(b"abc") + b"trailing junk", id="junk-after-member"),
    ],
)
def test_broken_gzip_is_a_bad_body(data):
    with pytest.raises(BadBody):
        read(data, 10_000, True)


def test_disconnect_before_the_end():
    with pytest.raises(ClientGone):
        read(b"abc" * 100, 10_000, False, disconnect=True)


def test_raw_deflate_is_not_gzip():
    with pytest.raises(BadBody):
        read(zlib.compress(b"abc"), 100, True)
