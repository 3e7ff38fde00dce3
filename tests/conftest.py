"""Fixtures: a real Redis (private unless REDIS_URL is set) and a real Daphne process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Group, User
from django.test import override_settings

from notifications.testing import DaphneServer, RedisServer
from project.testing import project_env

Path(settings.BASE_DIR / "var").mkdir(exist_ok=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer.start()
    yield server
    server.close()


@pytest.fixture(scope="session", autouse=True)
def _redis_channel_layer(redis_server: RedisServer) -> Iterator[None]:
    """Every test talks to the real Redis, under this run's own key prefix."""
    with override_settings(CHANNEL_LAYERS=redis_server.channel_layers()):
        yield


def start_daphne(
    redis: RedisServer, *, capacity: int | None = None, notifications: dict | None = None, env: dict | None = None
) -> DaphneServer:
    """Daphne serving the project on a free port, on the test database and the given Redis."""
    return DaphneServer.start(
        env=project_env(redis, capacity=capacity, NOTIFICATIONS_JSON=json.dumps(notifications or {}), **(env or {}))
    )


@pytest.fixture(scope="session")
def daphne(django_db_setup: None, redis_server: RedisServer) -> Iterator[DaphneServer]:
    server = start_daphne(redis_server)
    yield server
    server.stop()


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, which it may stop and start."""
    redis = RedisServer.private()
    yield redis
    redis.close()


@pytest.fixture
def staff(transactional_db: None) -> Group:
    return Group.objects.create(name="staff")


@pytest.fixture
def alice(staff: Group) -> User:
    user = User.objects.create_user("alice", password="pw")
    user.groups.add(staff)
    return user


@pytest.fixture
def bob(staff: Group) -> User:
    user = User.objects.create_user("bob", password="pw")
    user.groups.add(staff)
    return user


@pytest.fixture
def carol(transactional_db: None) -> User:
    return User.objects.create_user("carol", password="pw")
