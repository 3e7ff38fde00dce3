"""``manage.py create_demo_users``: the demo accounts ``make run`` prints (development only)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

# username -> (password, auth groups, superuser)
DEMO_USERS: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "alice": ("alice-demo-pass", ("staff",), False),
    "bob": ("bob-demo-pass", ("staff",), False),
    "carol": ("carol-demo-pass", (), False),
    "admin": ("admin-demo-pass", (), True),
}


class Command(BaseCommand):
    help = (
        "Create the demo users alice, bob, carol and admin (existing ones keep their passwords and "
        "sessions unless --reset-passwords). Refuses when DEBUG is off."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reset-passwords", action="store_true", help="set the demo passwords again")

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("Demo users have known passwords: create them only with DEBUG=1.")
        User = get_user_model()
        for username, (password, group_names, superuser) in DEMO_USERS.items():
            user, created = User._default_manager.get_or_create(**{User.USERNAME_FIELD: username})
            if created or options["reset_passwords"]:
                # A new password ends the user's sessions: only when asked, so `make run`
                # again does not sign out every open browser.
                user.set_password(password)
            user.is_staff = user.is_superuser = superuser
            user.is_active = True
            user.save()
            user.groups.set([Group.objects.get_or_create(name=name)[0] for name in group_names])
        self.stdout.write("Demo logins (development only):")
        for username, (password, group_names, superuser) in DEMO_USERS.items():
            role = "superuser" if superuser else (f"group {', '.join(group_names)}" if group_names else "no group")
            self.stdout.write(f"  {username:<6} / {password:<16} ({role})")
