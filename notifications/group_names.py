"""Every channel-layer group name, in one place: whom each name reaches, and how it looks on the layer.

The app names groups by their audience: a user, a login session, an auth
group, everyone, a topic with its parameters (all under ``GROUP_PREFIX``).
Apps built on it use plain names of their own ("chat.lobby"). On the layer,
each name carries the site's namespace (``layer_group``; namespace.py says
why), added only where the layer is touched: the publisher's sends and the
fan-out's joins and leaves.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from notifications.conf import app_settings
from notifications.namespace import site_namespace


def user(user_id: int) -> str:
    return f"{app_settings.GROUP_PREFIX}.user.{user_id}"


def auth_group(group_id: int) -> str:
    return f"{app_settings.GROUP_PREFIX}.group.{group_id}"


def everyone() -> str:
    return f"{app_settings.GROUP_PREFIX}.everyone"


def session(session_key: str) -> str:
    """A group per login session, so logging out can close that session's sockets (hashed: keys are secrets)."""
    return f"{app_settings.GROUP_PREFIX}.session.{hashlib.sha256(session_key.encode()).hexdigest()[:32]}"


def event_stream(user_id: int, key: str) -> str:
    """One open event stream, for the requests its page sends over HTTP (only its user can address it)."""
    return f"{app_settings.GROUP_PREFIX}.stream.{user_id}.{key}"


def topic(name: str, params: dict[str, Any]) -> str:
    """The group of one topic with one set of parameters (the same for any order of the params)."""
    digest = hashlib.sha256(f"{name}\n{canonical_params(params)}".encode()).hexdigest()[:40]
    return f"{app_settings.GROUP_PREFIX}.topic.{digest}"


def canonical_params(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"))


def healthz() -> str:
    """A group no one joins: a send to it is a real round trip that leaves nothing behind."""
    return f"{app_settings.GROUP_PREFIX}.healthz"


def layer_group(group: str) -> str:
    """The channel-layer group that carries ``group`` for this site."""
    namespace = site_namespace()
    return f"{namespace}.{group}" if namespace else group
