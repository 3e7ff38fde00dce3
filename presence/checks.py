"""System checks for the PRESENCE setting and the topic's wiring."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from presence.conf import DEFAULTS


@register()
def check_presence_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    raw = getattr(settings, "PRESENCE", {})
    if not isinstance(raw, dict):
        return [Error("PRESENCE must be a dict.", id="presence.E001")]
    errors = [Error(f"Unknown PRESENCE key {key!r}.", id="presence.E002") for key in raw if key not in DEFAULTS]
    ttl = raw.get("TTL", DEFAULTS["TTL"])
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl <= 0:
        errors.append(Error("PRESENCE['TTL'] must be a positive number of seconds.", id="presence.E003"))
    return errors
