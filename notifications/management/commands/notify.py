"""``manage.py notify``: send a notification from the command line (any process)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import ngettext

from notifications import EVERYONE, services
from notifications.exceptions import NotificationError
from notifications.models import Level


class Command(BaseCommand):
    help = "Store a notification and push it live to every open page of its recipients."

    def add_arguments(self, parser: CommandParser) -> None:
        audience = parser.add_mutually_exclusive_group(required=True)
        audience.add_argument("--user", action="append", metavar="USERNAME", help="a recipient; repeat for several")
        audience.add_argument("--group", metavar="NAME", help="every active member of this auth group")
        audience.add_argument("--everyone", action="store_true", help="every active user")
        parser.add_argument("--title", required=True)
        parser.add_argument("--body", default="")
        parser.add_argument("--level", default=Level.INFO, choices=Level.values)
        parser.add_argument("--url", default="", help="where the notification leads, e.g. /builds/42/")
        parser.add_argument("--kind", default="", help="a category for filtering, e.g. build")

    def handle(self, *args: Any, **options: Any) -> None:
        recipient = self._recipient(options)
        try:
            notification = services.notify(
                recipient,
                title=options["title"],
                body=options["body"],
                level=options["level"],
                url=options["url"],
                kind=options["kind"],
            )
        except NotificationError as exc:
            raise CommandError(str(exc)) from exc
        count = notification.recipient_count
        sent = ngettext(
            "Sent notification %(id)d to %(count)d recipient.",
            "Sent notification %(id)d to %(count)d recipients.",
            count,
        )
        self.stdout.write(sent % {"id": notification.pk, "count": count})

    def _recipient(self, options: dict[str, Any]) -> Any:
        if options["everyone"]:
            return EVERYONE
        if options["group"]:
            try:
                return Group.objects.get(name=options["group"])
            except Group.DoesNotExist:
                raise CommandError(f"No group named {options['group']!r}.") from None
        User = get_user_model()
        names = list(dict.fromkeys(options["user"]))
        users = list(User._default_manager.filter(**{f"{User.USERNAME_FIELD}__in": names}))
        missing = sorted(set(names) - {u.get_username() for u in users})
        if missing:
            raise CommandError(f"No user named {', '.join(repr(m) for m in missing)}; nothing was sent.")
        return users
