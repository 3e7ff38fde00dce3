"""The demo site with AUTH_USER_MODEL swapped for a model without ``username`` (tests/test_custom_user.py)."""

from __future__ import annotations

import os

from project.test_settings import *  # noqa: F403
from project.test_settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "tests.customuser"]
AUTH_USER_MODEL = "customuser.Member"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("CUSTOM_USER_DB", ":memory:")}}
