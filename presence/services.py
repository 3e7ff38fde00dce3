"""Presence queries for views, the admin and other apps (sync code)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from notifications.publisher import run_on_publisher
from presence import store


def people_in(room: str) -> list[store.Person]:
    """Who is in the room now, once each."""
    return run_on_publisher(store.people(room))


def rooms_by_user() -> dict[int, list[str]]:
    """user id -> the rooms they are in now, across every server process."""
    return run_on_publisher(store.rooms_of_everyone())


def is_present(user: AbstractBaseUser, room: str | None = None) -> bool:
    """Is the user in the room (or in any room) now?"""
    if room is not None:
        return any(person.id == user.pk for person in people_in(room))
    return user.pk in rooms_by_user()
