"""Fixtures shared by the bank tests: a real redis-server for the Redis queue backend."""

from __future__ import annotations

import pytest
import redis

from tests.bank.redis_server import running_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One redis-server per test session (per xdist worker), on a free loopback port."""
    with running_redis(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def redis_url(redis_server):
    """The server's URL, emptied first so each test starts without streams or groups."""
    client = redis.Redis.from_url(redis_server)
    client.flushdb()
    client.close()
    return redis_server
