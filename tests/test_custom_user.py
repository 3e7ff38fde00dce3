"""A site whose user model has no ``username``: migrate, checks, sending, the admin and presence work.

Run as separate processes with ``tests.customuser.settings`` (AUTH_USER_MODEL swapped), since
a test process cannot swap the user model after Django started.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests import REPO_DIR

SCRIPT = """
from django.contrib.auth import get_user_model
from django.test import Client
from notifications import notify
from notifications.models import Delivery

Member = get_user_model()
root = Member.objects.create_superuser("root@example.com", "pw")
member = Member.objects.create_user("member@example.com", "pw")
sent = notify(member, title="Welcome")
assert Delivery.objects.filter(user=member, notification=sent).exists()
client = Client()
client.force_login(root)
for path in [
    "/admin/live_notifications/notification/?q=member",
    "/admin/live_notifications/delivery/?q=member",
    "/admin/presence/onlineuser/?q=member",
    "/admin/live_notifications/notification/add/",
]:
    status = client.get(path).status_code
    assert status == 200, (path, status)
print("custom user ok")
"""


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_a_user_model_without_username_migrates_sends_and_administers(tmp_path) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "tests.customuser.settings",
        "CUSTOM_USER_DB": str(tmp_path / "site.sqlite3"),
        "ALLOWED_HOSTS": "testserver",  # the test client's host
        "REDIS_AUTODETECT": "0",  # the in-memory layer: this site must not touch a shared Redis
        "ENV_FILE": str(tmp_path / "none"),
    }
    migrated = manage("migrate", "--no-input", env=env)
    assert migrated.returncode == 0, migrated.stderr  # presence proxied auth.User: "cannot proxy the swapped model"
    checked = manage("check", env=env)
    assert checked.returncode == 0, checked.stderr
    used = manage("shell", "-c", SCRIPT, env=env)
    assert used.returncode == 0, used.stderr
    assert "custom user ok" in used.stdout
