"""The demo site's environment contract for its test and benchmark processes.

``project/settings.py`` reads its database, Redis and app settings from
environment variables; these helpers point a Daphne or ``manage.py`` process
of the demo at the test's database and Redis through them. A site of your own
needs none of this: ``notifications.testing.site_settings()`` sets values
over any settings module.
"""

from __future__ import annotations

from notifications.testing import RedisServer, database_url


def redis_env(redis: RedisServer, *, capacity: int | None = None, layer: str = "core") -> dict[str, str]:
    """Variables that point a demo process at ``redis``; ``capacity`` (for fault tests) caps every channel."""
    env = {"REDIS_URL": redis.url, "REDIS_PREFIX": redis.prefix, "REDIS_LAYER": layer}
    if capacity is not None:
        env.update(REDIS_CAPACITY=str(capacity), REDIS_PROCESS_CAPACITY=str(capacity))
    return env


def project_env(redis: RedisServer, *, capacity: int | None = None, **extra: str) -> dict[str, str]:
    """Environment for a demo process (Daphne, manage.py) on this process's database and ``redis``."""
    from django.conf import settings
    from django.db import connection

    return {
        "DATABASE_URL": database_url(connection.settings_dict),
        **redis_env(redis, capacity=capacity),
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,
        **extra,
    }
