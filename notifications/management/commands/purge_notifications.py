"""``manage.py purge_notifications --older-than 90d``: retention, in batches."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from notifications.services.upkeep import PURGE_BATCH_SIZE, purge

UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


def parse_age(value: str) -> dt.timedelta:
    """'90d', '12h', '2w', '30m' -> timedelta."""
    match = re.fullmatch(r"(\d{1,6})([wdhm])", value.strip())
    if not match:
        raise CommandError(f"--older-than {value!r}: use a number and a unit, e.g. 90d, 12h, 2w or 30m.")
    return dt.timedelta(**{UNITS[match.group(2)]: int(match.group(1))})


class Command(BaseCommand):
    help = "Remove notifications older than an age, with their per-recipient rows."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="age such as 90d, 12h, 2w, 30m")
        parser.add_argument("--read-only", action="store_true", help="keep what someone has not read yet")
        parser.add_argument("--dry-run", action="store_true", help="count what would be removed, remove nothing")
        parser.add_argument("--batch-size", type=int, default=PURGE_BATCH_SIZE, help="rows per DELETE")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = purge(
            older_than=parse_age(options["older_than"]),
            read_only=options["read_only"],
            dry_run=options["dry_run"],
            batch_size=options["batch_size"],
        )
        verb = "Would remove" if options["dry_run"] else "Removed"
        self.stdout.write(
            f"{verb} {result.notifications} notification(s) and {result.deliveries} recipient row(s) "
            f"older than {options['older_than']}."
        )
