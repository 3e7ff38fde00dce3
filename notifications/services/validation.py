"""Validation of notification content, before anything is stored."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder

from notifications.conf import app_settings
from notifications.exceptions import InvalidNotification
from notifications.models import Level, Notification

# Notifications are short messages, and every one must fit a sync page and a
# client's frame limit: bound what a single one can carry.
MAX_BODY_LENGTH = 10_000
MAX_DATA_CHARS = 16_384


def clean_content(
    *, title: str, body: str, level: str, url: str, kind: str, data: dict[str, Any] | None
) -> dict[str, Any]:
    """Validate content before anything is stored; raise InvalidNotification naming the field."""
    if not isinstance(title, str) or not title.strip():
        raise InvalidNotification("title: a non-empty string is required.")
    _check_text("title", title)
    title = title.strip()
    max_title = Notification._meta.get_field("title").max_length
    if len(title) > max_title:
        raise InvalidNotification(f"title: at most {max_title} characters (got {len(title)}).")
    if not isinstance(body, str):
        raise InvalidNotification("body: must be a string.")
    _check_text("body", body)
    if len(body) > MAX_BODY_LENGTH:
        raise InvalidNotification(f"body: at most {MAX_BODY_LENGTH} characters (got {len(body)}).")
    if level not in Level.values:
        raise InvalidNotification(f"level: must be one of {', '.join(Level.values)} (got {level!r}).")
    if not isinstance(kind, str) or (kind and not _is_slug(kind)) or len(kind) > 64:
        raise InvalidNotification("kind: letters, digits, '-' and '_' only, at most 64 characters.")
    return {
        "title": title,
        "body": body,
        "level": level,
        "url": _clean_url(url),
        "kind": kind,
        "data": _clean_data(data),
    }


def _check_text(field: str, text: str, where: str = "") -> None:
    """Refuse what databases do not store alike: NUL (PostgreSQL refuses it, SQLite keeps it)
    and lone surrogates (not encodable as UTF-8). The same rule on every database."""
    if "\x00" in text:
        raise InvalidNotification(f"{field}: {where}must not contain NUL characters (\\x00).")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidNotification(
            f"{field}: {where}not valid Unicode (a lone surrogate at position {exc.start}); send UTF-8 text."
        ) from None


def _is_slug(value: str) -> bool:
    return all(ch.isascii() and (ch.isalnum() or ch in "-_") for ch in value)


def _clean_url(url: str) -> str:
    if not isinstance(url, str):
        raise InvalidNotification("url: must be a string.")
    url = url.strip()
    max_url = Notification._meta.get_field("url").max_length
    if len(url) > max_url:
        raise InvalidNotification(f"url: at most {max_url} characters.")
    _check_text("url", url)
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise InvalidNotification("url: must not contain spaces or control characters.")
    if "\\" in url:
        # Browsers read "\\" as "/" in http(s) URLs: "/\\evil.example/x" leads to evil.example.
        raise InvalidNotification("url: must not contain backslashes (browsers read them as '/').")
    parts = urlsplit(url)
    if parts.scheme and parts.scheme.lower() not in app_settings.URL_SCHEMES:
        raise InvalidNotification(
            f"url: scheme {parts.scheme!r} is not allowed "
            f"(use a relative URL or {', '.join(app_settings.URL_SCHEMES)})."
        )
    if url.startswith("//") and not parts.scheme:
        raise InvalidNotification("url: protocol-relative URLs ('//host/...') are not allowed.")
    return url


def _clean_data(data: dict[str, Any] | None) -> dict[str, Any]:
    """Make ``data`` plain JSON (dates to ISO strings, keys to strings) so it is wire-safe."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidNotification("data: must be a dict.")
    try:
        text = json.dumps(data, cls=DjangoJSONEncoder)
    except (TypeError, ValueError) as exc:
        raise InvalidNotification(f"data: not JSON-serializable ({exc}).") from None
    if len(text) > MAX_DATA_CHARS:
        raise InvalidNotification(f"data: at most {MAX_DATA_CHARS} characters as JSON (got {len(text)}).")
    plain = json.loads(text)
    _check_json_text(plain)
    return plain


def _check_json_text(value: Any, path: str = "") -> None:
    """Every key and string in ``data`` obeys the text rule; the error says where ("data: at a.0 ...")."""
    if isinstance(value, str):
        _check_text("data", value, f"at {path or 'top'}: ")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text("data", key, f"key {path + '.' if path else ''}{key!r}: ")
            _check_json_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_text(item, f"{path}.{index}" if path else str(index))
