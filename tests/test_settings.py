"""The NOTIFICATIONS setting, its system checks, and the origin rule."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from notifications.conf import app_settings
from notifications.security import origin_allowed
from tests import REPO_DIR


def check_ids() -> set[str]:
    return {message.id for message in run_checks() if message.id.startswith("notifications.")}


def test_defaults_and_overrides_are_read_lazily() -> None:
    assert app_settings.PUSH_TIMEOUT == 1.0
    with override_settings(NOTIFICATIONS={"PUSH_TIMEOUT": 0.25}):
        assert app_settings.PUSH_TIMEOUT == 0.25
    assert app_settings.PUSH_TIMEOUT == 1.0


def test_unknown_setting_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="Unknown NOTIFICATIONS setting"):
        _ = app_settings.PUSH_TIMOUT


def test_the_configured_project_passes_the_checks() -> None:
    assert check_ids() == set()


@pytest.mark.parametrize(
    ("value", "check_id"),
    [
        ({"PUSH_TIMOUT": 1}, "notifications.E002"),
        ({"PUSH_TIMEOUT": 0}, "notifications.E003"),
        ({"PUSH_TIMEOUT": "1"}, "notifications.E003"),
        ({"HEALTH_TIMEOUT": 0}, "notifications.E003"),
        ({"REVALIDATE_SECONDS": -1}, "notifications.E011"),
        ({"ALLOWED_ORIGINS": "https://example.com"}, "notifications.E004"),
        (["not", "a", "dict"], "notifications.E001"),
    ],
)
def test_misconfiguration_is_a_system_check_error(value, check_id) -> None:
    with override_settings(NOTIFICATIONS=value):
        assert check_id in check_ids()


@pytest.mark.parametrize(("debug", "check_id"), [(True, "notifications.W001"), (False, "notifications.W002")])
def test_in_memory_layer_is_warned_about(debug, check_id) -> None:
    in_memory = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    with override_settings(CHANNEL_LAYERS=in_memory, DEBUG=debug):
        assert check_id in check_ids()


@pytest.mark.parametrize(
    ("overrides", "check_id"),
    [
        ({"ASGI_APPLICATION": None}, "notifications.E013"),
        ({"ASGI_APPLICATION": "no_such_site.asgi.application"}, "notifications.E014"),
        ({"ASGI_APPLICATION": "tests.sites.http_only_asgi.application"}, "notifications.E015"),
        ({"NOTIFICATIONS": {"BASE_TEMPLATE": "no/such/base.html"}}, "notifications.E016"),
        ({"ROOT_URLCONF": "tests.sites.urls_without_notifications"}, "notifications.E017"),
        ({"NOTIFICATIONS": {"WEBSOCKET_URL": 8000}}, "notifications.E018"),
        ({"NOTIFICATIONS": {"REDIS_NAMESPACE": "a b"}}, "notifications.E012"),
        ({"NOTIFICATIONS": {"SHARE_CONNECTION_ACROSS_TABS": "no"}}, "notifications.E020"),
    ],
)
def test_each_missing_piece_of_the_wiring_is_named(overrides, check_id) -> None:
    with override_settings(**overrides):
        assert check_id in check_ids()


def test_the_page_connects_where_the_site_routes_the_socket(client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("dana"))
    with override_settings(ASGI_APPLICATION="tests.sites.nested_asgi.application"):
        assert check_ids() == set()
        page = client.get("/notifications/").content.decode()
    assert '"path": "/realtime/ws/notifications/"' in page
    with override_settings(NOTIFICATIONS={"WEBSOCKET_URL": "wss://live.example.com/socket/"}):
        assert '"path": "wss://live.example.com/socket/"' in client.get("/notifications/").content.decode()


def test_without_a_base_template_the_pages_have_a_layout_of_their_own(client, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_user("dana"))
    with override_settings(NOTIFICATIONS={}):
        page = client.get("/notifications/").content.decode()
    assert 'class="nstandalone__main"' in page
    assert "data-notifications-bell" in page
    assert "data-notifications-inbox" in page


def scope(origin: str | None, host: str = "example.com", scheme: str = "wss", cookie: str | None = None) -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@override_settings(ALLOWED_HOSTS=["example.com", ".example.org"])
@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        ("https://example.com", "example.com", True),
        ("https://app.example.org", "app.example.org", True),
        ("https://evil.com", "example.com", False),
        ("https://example.com.evil.com", "example.com", False),
        # Scheme and port count, as in Django's CSRF origin check: cookies are not port-bound,
        # so another app on the same host must not ride the session.
        ("https://example.com:8443", "example.com", False),
        ("http://example.com", "example.com", False),
        ("https://example.com", "example.com:8443", False),
        ("https://example.com:8443", "example.com:8443", True),
        ("https://app.example.org", "example.com", False),  # allowed host, but not this request's
        ("https://evil.com", "evil.com", False),  # the Host itself is not allowed
        ("null", "example.com", False),
        ("file://", "example.com", False),
        (None, "example.com", True),  # no Origin and no cookie: a script with a token
    ],
)
def test_origin_must_be_the_requests_own(origin, host, allowed) -> None:
    assert origin_allowed(scope(origin, host=host)) is allowed


@override_settings(ALLOWED_HOSTS=["example.com"])
def test_plain_http_sites_refuse_https_origins_and_the_reverse() -> None:
    assert origin_allowed(scope("http://example.com", scheme="ws")) is True
    assert origin_allowed(scope("https://example.com", scheme="ws")) is False


@override_settings(ALLOWED_HOSTS=["example.com"], SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_a_tls_proxy_the_forwarded_scheme_counts() -> None:
    behind_proxy = scope("https://example.com", scheme="ws")
    behind_proxy["headers"].append((b"x-forwarded-proto", b"https"))
    assert origin_allowed(behind_proxy) is True
    assert origin_allowed(scope("https://example.com", scheme="ws")) is False


@override_settings(
    ALLOWED_HOSTS=["example.com"],
    CSRF_TRUSTED_ORIGINS=["https://admin.example.net", "https://*.example.io"],
)
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://admin.example.net", True),
        ("https://admin.example.net:444", False),
        ("http://admin.example.net", False),
        ("https://a.example.io", True),
        ("http://a.example.io", False),
        ("https://example.io.evil.com", False),
    ],
)
def test_csrf_trusted_origins_are_trusted_as_django_trusts_them(origin, allowed) -> None:
    assert origin_allowed(scope(origin)) is allowed


@override_settings(ALLOWED_HOSTS=["example.com"])
def test_a_session_cookie_without_an_origin_is_refused() -> None:
    assert origin_allowed(scope(None, cookie="sessionid=abc")) is False
    assert origin_allowed(scope(None, cookie="csrftoken=x; sessionid=abc")) is False
    assert origin_allowed(scope(None, cookie="csrftoken=x")) is True
    assert origin_allowed(scope("https://example.com", cookie="sessionid=abc")) is True


@override_settings(ALLOWED_HOSTS=["*"])
def test_wildcard_allowed_hosts_does_not_allow_every_origin() -> None:
    assert origin_allowed(scope("https://evil.com")) is False
    assert origin_allowed(scope("https://example.com", host="example.com")) is True


@override_settings(NOTIFICATIONS={"ALLOWED_ORIGINS": ["https://app.example.com"]})
def test_explicit_allowed_origins_replace_the_host_rule() -> None:
    assert origin_allowed(scope("https://app.example.com/")) is True
    assert origin_allowed(scope("https://example.com")) is False
    assert origin_allowed(scope("https://app.example.com:8443", host="app.example.com:8443")) is False


def deploy_check(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "notifications.example.com",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_check_deploy() -> None:
    result = deploy_check({"HTTPS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr


def test_without_https_check_deploy_names_what_is_missing() -> None:
    result = deploy_check({})
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = deploy_check({"SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.parametrize(
    ("routes", "check_id"),
    [
        ("notifications.routing", "notifications.E009"),
        (["no.such.module"], "notifications.E010"),
        (["json"], "notifications.E010"),
    ],
)
def test_misconfigured_websocket_routes_are_check_errors(routes, check_id) -> None:
    with override_settings(NOTIFICATIONS={"WEBSOCKET_ROUTES": routes}):
        assert check_id in check_ids()
