"""``manage.py import_notifications_hq``: bring a django-notifications-hq site's notifications over."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from notifications.services.importing import DEFAULT_TABLE, import_hq


class Command(BaseCommand):
    help = (
        "Copy the notifications of django-notifications-hq (or django-notifications-community) into this app: "
        "one notification and delivery per old row, read/deleted state and timestamps kept. "
        "Safe to run again: rows imported before are skipped. Nothing is pushed live."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--table", default=DEFAULT_TABLE, help=f"the old table (default {DEFAULT_TABLE})")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")
        parser.add_argument("--dry-run", action="store_true", help="count what would be imported, write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            result = import_hq(table=options["table"], batch_size=options["batch_size"], dry_run=options["dry_run"])
        except DatabaseError as exc:
            raise CommandError(f"Could not read {options['table']!r}: {exc}".strip()) from exc
        verb = "Would import" if options["dry_run"] else "Imported"
        self.stdout.write(
            f"{verb} {result.imported} notification(s); {result.already_imported} imported before; "
            f"{result.skipped_no_recipient} skipped (recipient no longer exists)."
        )
