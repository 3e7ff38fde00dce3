"""Storing a notification and its deliveries in as few database round trips as the database allows.

``notify()`` is on the sender's hot path, so the rows are written in bulk by
the database itself rather than built as model instances in Python:

- PostgreSQL: one statement (data-modifying CTEs) inserts the notification and
  one delivery per recipient and returns the id and the count. Outside a
  transaction that is one round trip, with no BEGIN/COMMIT of its own. A list
  of recipients is one array parameter, so the statement's text is the same
  for every such call: it is compiled once per database alias and reused (the
  ORM's INSERT compilation was a third of a targeted ``notify()``'s CPU).
- Other databases: the notification through the ORM, then one
  ``INSERT ... SELECT`` for the recipients, in one transaction.

Recipients are either a list of user ids or a queryset of them (a group or
everyone): a queryset never leaves the database.

Like ``bulk_create``, this sends no ``pre_save``/``post_save`` signals (the
README says so): code that must react to a send wraps ``notify()``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models import Field
from django.db.models.sql import InsertQuery

from notifications.models import Delivery, Notification

UserIds = models.QuerySet[Any] | list[Any]

# Recipients per INSERT when the ids are a Python list (bounded statement size).
BATCH_SIZE = 1000


def store(notification: Notification, user_ids: UserIds) -> int:
    """Insert ``notification`` (unsaved; its pk and created_at are set) and a delivery per recipient.

    Returns how many deliveries were stored. Atomic: either all rows exist or none.
    """
    using = router.db_for_write(Notification)
    connection = connections[using]
    if connection.vendor == "postgresql":
        # One statement is atomic on its own; inside the caller's transaction, a savepoint
        # keeps a failure from aborting it.
        with transaction.atomic(using=using) if connection.in_atomic_block else contextlib.nullcontext():
            return _store_in_one_statement(notification, user_ids, using)
    with transaction.atomic(using=using):
        Notification.objects.using(using).bulk_create([notification])  # no save signals, as on PostgreSQL
        return _insert_deliveries(notification.pk, user_ids, using)


def _store_in_one_statement(notification: Notification, user_ids: UserIds, using: str) -> int:
    connection = connections[using]
    if isinstance(user_ids, models.QuerySet):
        insert_sql, insert_params = _notification_insert(notification, using)
        recipients_sql, recipients_params = _recipients(user_ids, using)
        sql, params = _one_statement(insert_sql, recipients_sql, using), [*insert_params, *recipients_params]
    else:
        sql, fields = _statement_for_a_list(notification, using)
        params = [field.get_db_prep_save(field.pre_save(notification, True), connection) for field in fields]
        params.append(list(user_ids))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        notification.pk, stored = cursor.fetchone()
    notification._state.adding, notification._state.db = False, using
    return stored


def _one_statement(insert_sql: str, recipients_sql: str, using: str) -> str:
    pk = connections[using].ops.quote_name(Notification._meta.pk.column)
    return (
        f"WITH new_notification AS ({insert_sql}), "
        f"new_deliveries AS ({_delivery_insert(using)} SELECT recipients.*, new_notification.{pk} "
        f"FROM new_notification, ({recipients_sql}) AS recipients RETURNING 1) "
        f"SELECT new_notification.{pk}, (SELECT count(*) FROM new_deliveries) FROM new_notification"
    )


# Per database alias: the statement for a list of recipients, and the fields its parameters come from.
_list_statements: dict[str, tuple[str, list[Field]]] = {}


def _statement_for_a_list(notification: Notification, using: str) -> tuple[str, list[Field]]:
    """Compiled by the ORM once (from the first notification), then reused with each call's values."""
    if using not in _list_statements:
        insert_sql, params = _notification_insert(notification, using)
        fields = _insert_fields()
        if len(params) != len(fields):  # a field compiled to SQL of its own: not reusable with new values
            raise ValueError(f"Cannot reuse the notification INSERT: {len(params)} parameters for {len(fields)} fields")
        user_type = Delivery._meta.get_field("user").db_type(connections[using])
        recipients = f"SELECT unnest(CAST(%s AS {user_type}[]))"
        _list_statements[using] = (_one_statement(insert_sql, recipients, using), fields)
    return _list_statements[using]


def _insert_fields() -> list[Field]:
    return [f for f in Notification._meta.local_concrete_fields if not f.primary_key]


def _notification_insert(notification: Notification, using: str) -> tuple[str, tuple[Any, ...]]:
    """The ORM's own INSERT for ``notification`` (defaults, auto_now_add), returning its id as ``id``."""
    query = InsertQuery(Notification)
    query.insert_values(_insert_fields(), [notification])
    compiler = query.get_compiler(using=using)
    compiler.returning_fields = [Notification._meta.pk]
    [(sql, params)] = compiler.as_sql()
    return sql, tuple(params)


def _recipients(user_ids: UserIds, using: str) -> tuple[str, list[Any]]:
    """A one-column SQL row source of recipient ids (read as ``recipients.*``): the queryset's SELECT, or VALUES."""
    if isinstance(user_ids, models.QuerySet):
        sql, params = user_ids.query.get_compiler(using=using).as_sql()
        return sql, list(params)
    # Typed, so the statement also works with server-side parameter binding (PostgreSQL's OPTIONS).
    placeholder = f"(CAST(%s AS {Delivery._meta.get_field('user').db_type(connections[using])}))"
    return "VALUES " + ", ".join([placeholder] * len(user_ids)), list(user_ids)


def _delivery_insert(using: str) -> str:
    """``INSERT INTO <delivery> (<user>, <notification>)``, quoted for the database."""
    delivery, quote = Delivery._meta, connections[using].ops.quote_name
    user, notification = delivery.get_field("user").column, delivery.get_field("notification").column
    return f"INSERT INTO {quote(delivery.db_table)} ({quote(user)}, {quote(notification)})"


def _insert_deliveries(notification_id: int, user_ids: UserIds, using: str) -> int:
    """``INSERT ... SELECT`` per batch: the rows are built by the database, not as model instances."""
    batches: list[UserIds] = (
        [user_ids]
        if isinstance(user_ids, models.QuerySet)
        else [user_ids[i : i + BATCH_SIZE] for i in range(0, len(user_ids), BATCH_SIZE)]
    )
    insert, stored = _delivery_insert(using), 0
    with connections[using].cursor() as cursor:
        for batch in batches:
            recipients_sql, params = _recipients(batch, using)
            cursor.execute(
                f"{insert} SELECT recipients.*, %s FROM ({recipients_sql}) AS recipients", [notification_id, *params]
            )
            stored += cursor.rowcount
    return stored
