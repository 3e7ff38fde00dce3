"""Presence settings: ``PRESENCE = {"TTL": 60}``, read lazily."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # Seconds a tab counts as present without a heartbeat. The browser client
    # pings every 25 s; a process that dies leaves entries that expire after this.
    "TTL": 60,
}


def ttl() -> float:
    return float({**DEFAULTS, **getattr(settings, "PRESENCE", {})}["TTL"])
