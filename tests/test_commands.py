"""manage.py notify and create_demo_users, and manage.py in a new terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings

from notifications.models import Audience, Notification
from notifications.testing import DaphneServer
from tests import REPO_DIR

pytestmark = pytest.mark.django_db(transaction=True)


def test_notify_command_to_several_users(alice, bob, carol, capsys) -> None:
    call_command("notify", "--user", "alice", "--user", "carol", "--title", "Hi", "--level", "warning")
    sent = Notification.objects.get()
    assert set(sent.deliveries.values_list("user__username", flat=True)) == {"alice", "carol"}
    assert sent.level == "warning"
    assert "to 2 recipients." in capsys.readouterr().out


def test_notify_command_to_a_group_and_to_everyone(alice, bob, carol) -> None:
    call_command("notify", "--group", "staff", "--title", "Staff")
    call_command("notify", "--everyone", "--title", "All")
    staff_send, everyone_send = Notification.objects.order_by("pk")
    assert (staff_send.audience, staff_send.deliveries.count()) == (Audience.GROUP, 2)
    assert (everyone_send.audience, everyone_send.deliveries.count()) == (Audience.EVERYONE, 3)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "alice", "--user", "nobody"], "No user named 'nobody'"),
        (["--group", "nogroup"], "No group named 'nogroup'"),
        (["--user", "alice", "--url", "javascript:alert(1)"], "url: scheme 'javascript'"),
    ],
)
def test_notify_command_refuses_bad_input_and_stores_nothing(alice, args, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("notify", *args, "--title", "x")
    assert not Notification.objects.exists()


def test_notify_command_exits_1_with_a_clear_error(daphne: DaphneServer, alice) -> None:
    result = daphne.manage("notify", "--user", "ghost", "--title", "Boo")
    assert result.returncode == 1
    assert "No user named 'ghost'" in result.stderr
    assert not Notification.objects.exists()


@override_settings(DEBUG=True)
def test_demo_users_can_be_created_twice(capsys) -> None:
    call_command("create_demo_users")
    call_command("create_demo_users")
    alice = User.objects.get(username="alice")
    assert alice.check_password("alice-demo-pass")
    assert list(alice.groups.values_list("name", flat=True)) == ["staff"]
    assert not User.objects.get(username="carol").groups.exists()
    assert User.objects.get(username="admin").is_superuser
    assert User.objects.count() == 4
    assert "alice  / alice-demo-pass" in capsys.readouterr().out


@override_settings(DEBUG=True)
def test_demo_users_keep_their_passwords_and_sessions_unless_reset() -> None:
    call_command("create_demo_users")
    alice = User.objects.get(username="alice")
    alice.set_password("chosen by alice")
    alice.save()
    call_command("create_demo_users")  # `make run` again must not sign alice out everywhere
    assert User.objects.get(username="alice").check_password("chosen by alice")
    call_command("create_demo_users", "--reset-passwords")
    assert User.objects.get(username="alice").check_password("alice-demo-pass")


def test_manage_py_reads_the_env_file_make_run_writes(tmp_path) -> None:
    """A new terminal has neither DEBUG nor SECRET_KEY: the git-ignored .env gives both."""
    bare = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "REDIS_AUTODETECT": "0"}
    command = [sys.executable, "manage.py", "check"]
    missing = subprocess.run(
        command, cwd=REPO_DIR, env={**bare, "ENV_FILE": str(tmp_path / "none")}, capture_output=True, text=True
    )
    assert missing.returncode != 0
    assert "SECRET_KEY is not set" in missing.stderr
    assert ".env" in missing.stderr
    env_file = tmp_path / ".env"
    env_file.write_text("# written by make run\nDEBUG=1\nSECRET_KEY=from-the-env-file\n")
    found = subprocess.run(
        command, cwd=REPO_DIR, env={**bare, "ENV_FILE": str(env_file)}, capture_output=True, text=True
    )
    assert found.returncode == 0, found.stderr


def test_demo_users_are_refused_without_debug() -> None:
    with pytest.raises(CommandError, match="DEBUG"):
        call_command("create_demo_users")
