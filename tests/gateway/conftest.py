"""A real redis-server per test on a free loopback port. Missing redis-server fails, loudly:
run hack/install-test-deps.sh."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway import redis_setups
from tests.gateway.redis_setups import RedisProcess as RedisServer
from tests.gateway.redis_setups import running

__all__ = ["RedisServer"]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = redis_setups.redis_server(tmp_path, "--appendonly", "no")
    with running(server):
        yield server
