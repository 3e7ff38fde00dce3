"""Is the service healthy? Each part answers within HEALTH_TIMEOUT, or counts as failing.

A load balancer asks often, and asks exactly when something is wrong: a check
that waits on a database that does not answer (a connection pool waiting for a
connection, a host dropping packets) would hang the probe and report nothing.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from notifications import realtime
from notifications.conf import app_settings

logger = logging.getLogger(__name__)

# Probes run here, so a hung one holds a probe thread, never the request's.
_probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="notifications-health")


def _select_one() -> None:
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # this probe thread's connection (back to the pool, if there is one)


def database_problem() -> str | None:
    """None when the database answers ``SELECT 1`` within HEALTH_TIMEOUT, else a short description."""
    try:
        _probes.submit(_select_one).result(timeout=float(app_settings.HEALTH_TIMEOUT))
    except FutureTimeout:
        logger.warning("Health check: the database did not answer within %s s", app_settings.HEALTH_TIMEOUT)
        return "timeout"
    except DatabaseError as exc:
        logger.warning("Health check: the database failed (%s: %s)", type(exc).__name__, exc)
        return type(exc).__name__
    return None


def health() -> dict[str, str]:
    """Each part ("database", "channel_layer") with "ok" or "error: <what>"."""
    database = database_problem()
    layer = realtime.layer_problem()
    return {
        "database": "ok" if database is None else f"error: {database}",
        "channel_layer": "ok" if layer is None else f"error: {layer}",
    }
