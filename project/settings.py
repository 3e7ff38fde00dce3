"""Settings for the demo project, read from environment variables.

Every variable has a safe default; the README's configuration table lists them.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def read_env_file(path: Path) -> None:
    """Load KEY=VALUE lines (``make run`` writes them to ``.env``) under variables already set.

    So ``manage.py``, ``runserver``, ``pytest`` and ``shell`` work in a new terminal of
    a checkout where ``make run`` ran; the real environment always wins.
    """
    if not path.is_file():
        return
    for line in path.read_text().splitlines():
        name, equals, value = line.strip().partition("=")
        if equals and name and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip().strip("'\""))


read_env_file(Path(os.environ.get("ENV_FILE", BASE_DIR / ".env")))


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no environment variable (1/0, true/false, yes/no, on/off)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value (use 1 or 0).")


def env_list(name: str, default: str) -> list[str]:
    """Read a comma-separated environment variable."""
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it to a long random string, or set DEBUG=1 "
            "to use the development key (never in production). In a checkout, `make run` "
            "writes both to .env, which later commands read."
        )
    SECRET_KEY = "django-insecure-development-key-only-used-when-DEBUG-is-on"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# Behind a TLS-terminating proxy (which sets X-Forwarded-Proto), HTTPS=1 turns on
# everything `manage.py check --deploy` asks for: https-only cookies, redirects
# to https, and HSTS. Browsers then open the socket with wss://.
HTTPS = env_bool("HTTPS", default=False)
if HTTPS:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    # Daphne first: its runserver replaces Django's, so development is ASGI too.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "notifications",
    "presence",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves the app's static files (the bell, client and pages) from Daphne itself.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's language picks the pages' (English, or the app's German translation).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "project.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

ASGI_APPLICATION = "project.asgi.application"
WSGI_APPLICATION = None

# --- Database -----------------------------------------------------------------
# SQLite file by default; DATABASE_URL (postgres://...) for PostgreSQL.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=0,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (Daphne, manage.py notify, workers) share the file:
    # wait for locks instead of failing, and let readers run beside a writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # Keep each thread's connection: a consumer's database hops all run in Channels'
    # one sync thread, and opening SQLite (with the PRAGMAs above) on every hop was
    # 45% of that thread's time in a 5,000-socket connection storm (bench/RESULTS.md).
    DATABASES["default"]["CONN_MAX_AGE"] = None
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Tests that start a Daphne process need a file the process can open.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_SQLITE_PATH", str(BASE_DIR / "var" / "test.sqlite3"))}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", default=True):
    # Under ASGI, Django advises a driver pool instead of persistent connections: without
    # one every database_sync_to_async hop (each socket's connect, sync, mark_read)
    # opens a new PostgreSQL connection.
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": int(os.environ.get("DATABASE_POOL_MAX_SIZE", "10")),
        # While PostgreSQL is down the pool cannot connect: a caller waits this long
        # (psycopg's default is 30 s), then fails, and the socket answers "unavailable".
        "timeout": float(os.environ.get("DATABASE_POOL_TIMEOUT", "3")),
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A host that drops packets must not hang a connect for the TCP timeout (minutes).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 3)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ------------------------------------------------------------
# The Redis layer when REDIS_URL is set or a Redis answers on the default
# address; otherwise the in-memory layer (single process only, warned at startup).
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def redis_answers(url: str, timeout: float = 0.3) -> bool:
    """Whether a TCP server listens at the Redis URL's address."""
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout):
            return True
    except OSError:
        return False


REDIS_URL = os.environ.get("REDIS_URL", "")
if not REDIS_URL and env_bool("REDIS_AUTODETECT", default=True) and redis_answers(DEFAULT_REDIS_URL):
    REDIS_URL = DEFAULT_REDIS_URL

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py 8 defaults to a 5 s socket timeout, equal to the
                        # layer's blocking read: idle receive loops would die. Keep it
                        # above the 5 s read, and size the pool explicitly.
                        "socket_timeout": 15,
                        "socket_connect_timeout": 2,
                        "max_connections": int(os.environ.get("REDIS_MAX_CONNECTIONS", "1000")),
                    }
                ],
                "prefix": os.environ.get("REDIS_PREFIX", "asgi"),
                # Messages a channel holds before channels-redis drops new ones (silently;
                # pages recover dropped notifications through sync).
                "capacity": int(os.environ.get("REDIS_CAPACITY", "100")),
                # All sockets of one Daphne process share one Redis list (the process
                # channel "specific.<id>!"): a group send to 1,000 of them puts 1,000
                # messages there at once. Size it for a process, not for one socket.
                "channel_capacity": {"specific.*": int(os.environ.get("REDIS_PROCESS_CAPACITY", "100000"))},
                # Long-lived sockets must not silently fall out of their groups.
                "group_expiry": 7 * 86400,
            },
        }
    }
    if os.environ.get("REDIS_LAYER", "core") == "pubsub":
        # Redis pub/sub: one PUBLISH per group send, nothing stored in Redis (no
        # capacity, no expiry); a message published while a process is
        # disconnected is lost to it, and pages recover it through sync.
        CHANNEL_LAYERS["default"]["BACKEND"] = "channels_redis.pubsub.RedisPubSubChannelLayer"
        CHANNEL_LAYERS["default"]["CONFIG"] = {
            key: CHANNEL_LAYERS["default"]["CONFIG"][key] for key in ("hosts", "prefix")
        }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth, i18n, static --------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Without `collectstatic`, serve straight from the apps' static folders; after
# it (production), set WHITENOISE_USE_FINDERS=0 to serve STATIC_ROOT only.
WHITENOISE_USE_FINDERS = env_bool("WHITENOISE_USE_FINDERS", default=True)
WHITENOISE_AUTOREFRESH = DEBUG

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "notifications": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    },
}

# --- The notifications app ------------------------------------------------------
# Keys and defaults: see the README. NOTIFICATIONS_JSON (a JSON object) sets
# them from the environment, e.g. NOTIFICATIONS_JSON='{"PUSH_TIMEOUT": 0.5}'.
try:
    NOTIFICATIONS: dict[str, object] = {
        # The apps whose WebSocket routes are served (see docs/extending.md).
        "WEBSOCKET_ROUTES": ["notifications.routing"],
        # The app's pages extend the demo's own layout (templates/base.html).
        "BASE_TEMPLATE": "base.html",
        **json.loads(os.environ.get("NOTIFICATIONS_JSON", "{}")),
    }
except ValueError as exc:
    raise ImproperlyConfigured(f"NOTIFICATIONS_JSON is not valid JSON: {exc}") from None

# The presence app (who is online, per room). PRESENCE_JSON sets it from the environment.
try:
    PRESENCE: dict[str, object] = json.loads(os.environ.get("PRESENCE_JSON", "{}"))
except ValueError as exc:
    raise ImproperlyConfigured(f"PRESENCE_JSON is not valid JSON: {exc}") from None
