"""Short-lived signed tokens, so non-browser clients (scripts, mobile apps) can open the socket.

A token is signed with SECRET_KEY and names the user and when it was issued:
nothing is stored per token. Revoking moves the user's ``not_before`` forward,
which refuses every token issued earlier (and closes sockets opened with one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from notifications import group_names, realtime
from notifications.conf import app_settings
from notifications.models import TokenRevocation

SALT = "notifications.socket-token"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int


def issue_token(user: AbstractBaseUser) -> IssuedToken:
    ttl = int(app_settings.TOKEN_TTL)
    token = signing.dumps({"u": user.pk, "i": time.time()}, salt=SALT)
    return IssuedToken(token=token, expires_in=ttl)


def user_for_token(token: str, *, check_expiry: bool = True) -> AbstractBaseUser | None:
    """The active user a token names, or None when it is expired, forged, revoked or malformed.

    ``check_expiry=False`` is for a socket the token already opened: the expiry bounds connecting only.
    """
    if not isinstance(token, str) or len(token) > 500:
        return None
    try:
        max_age = int(app_settings.TOKEN_TTL) if check_expiry else None
        claims = signing.loads(token, salt=SALT, max_age=max_age)
    except signing.BadSignature:  # also SignatureExpired
        return None
    if not isinstance(claims, dict) or not isinstance(claims.get("u"), int) or not isinstance(claims.get("i"), float):
        return None
    # One query on the connect path: the user with their revocation time, if any.
    revoked_before = TokenRevocation.objects.filter(user=OuterRef("pk")).values("not_before")[:1]
    user = (
        get_user_model()
        ._default_manager.filter(pk=claims["u"], is_active=True)
        .annotate(tokens_not_before=Subquery(revoked_before))
        .first()
    )
    if user is None:
        return None
    if user.tokens_not_before is not None and claims["i"] < user.tokens_not_before.timestamp():
        return None
    return user


def revoke_tokens(user: AbstractBaseUser) -> None:
    """Refuse every token issued to the user until now, and close the sockets opened with one."""
    TokenRevocation.objects.update_or_create(user=user, defaults={"not_before": timezone.now()})
    realtime.control([group_names.user(user.pk)], realtime.Control.TOKENS_REVOKED)
