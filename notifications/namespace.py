"""What keeps two sites on one Redis apart: every group and shared key carries the site's namespace.

Sites that share a Redis server (and the channel layer's default ``asgi``
prefix) would otherwise share group names such as ``notifications.user.5``:
one site's toast would reach the other site's user 5, and presence and
connection counts would mix. The namespace is derived from ``SECRET_KEY``
(one-way, so it reveals nothing): every process of a site must share that key
for its sessions to work, and two sites never do. ``NOTIFICATIONS["REDIS_NAMESPACE"]``
sets it explicitly: needed while a ``SECRET_KEY`` rotation rolls over several
hosts (processes with the old and the new key would not hear each other), or
``""`` for sites that mean to share their live traffic.

It is applied where the channel layer is touched (``group_names.layer_group``
in the publisher's sends and the fan-out's joins and leaves, ``sharedstate.key``),
so group names inside the app, and in apps built on it, stay short and the
same for every site.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.utils.crypto import salted_hmac

from notifications.conf import app_settings


def site_namespace() -> str:
    """This site's namespace on Redis ("" when set empty: no separation)."""
    explicit = app_settings.REDIS_NAMESPACE
    return explicit if explicit is not None else _derived(settings.SECRET_KEY)


@functools.lru_cache(maxsize=4)
def _derived(secret_key: str) -> str:
    return "s" + salted_hmac("notifications.redis-namespace", "site", secret=secret_key).hexdigest()[:11]


def key_prefix() -> str:
    """Prefix of this site's shared-state keys, after the channel layer's own prefix."""
    namespace = site_namespace()
    return f"{namespace}:" if namespace else ""
