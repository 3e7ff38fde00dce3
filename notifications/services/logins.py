"""Is the login that opened a socket still valid? Asked again while the socket lives.

A socket's user is fixed when it connects. Some endings of a login send a
signal we act on at once (logout, a session row deleted, a password change,
deactivation through ``save()``); others send none (``QuerySet.update()``, a
session expiring, a cache-backed session evicted). So open sockets re-check,
on their heartbeat every ``REVALIDATE_SECONDS``, by the rules Django itself
applies to each request.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model, load_backend
from django.utils.crypto import constant_time_compare

from notifications.services.tokens import user_for_token


def session_login_valid(session_key: str, user_pk: Any) -> bool:
    """True while ``session_key`` still signs in ``user_pk``, as ``django.contrib.auth.get_user`` would decide.

    Unlike ``get_user`` it changes nothing: no session is flushed or cycled here.
    """
    data = import_module(settings.SESSION_ENGINE).SessionStore(session_key).load()  # {} if gone or expired
    try:
        user_id = get_user_model()._meta.pk.to_python(data[SESSION_KEY])
        backend_path = data[BACKEND_SESSION_KEY]
    except (KeyError, ValueError, TypeError):
        return False
    if user_id != user_pk or backend_path not in settings.AUTHENTICATION_BACKENDS:
        return False
    user = load_backend(backend_path).get_user(user_id)  # None when inactive, for ModelBackend
    if user is None:
        return False
    if not hasattr(user, "get_session_auth_hash"):
        return True
    session_hash = data.get(HASH_SESSION_KEY) or ""
    hashes = [user.get_session_auth_hash(), *getattr(user, "get_session_auth_fallback_hash", list)()]
    return any(constant_time_compare(session_hash, good) for good in hashes)  # the password changed otherwise


def token_login_valid(token: str, user_pk: Any) -> bool:
    """True while the token's user is active and has not revoked it (its expiry bounds only connecting)."""
    user = user_for_token(token, check_expiry=False)
    return user is not None and user.pk == user_pk
