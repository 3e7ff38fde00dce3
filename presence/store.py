"""Who is in which room: one entry per open tab, expiring unless its heartbeat refreshes it.

A person is in a room while at least one of their tabs is; ``join`` and
``leave`` say when that changes, so each person's arrival and departure is
announced once however many tabs they open. Entries live in Redis (shared by
every Daphne process) through the notifications app's shared state, or in the
process with the in-memory layer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from notifications import sharedstate
from presence.conf import ttl

_local: dict[str, dict[str, float]] = {}  # room -> entry -> expiry, without Redis


@dataclass(frozen=True)
class Person:
    id: int
    username: str

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "username": self.username}


def _entry(person: Person, channel_name: str) -> str:
    return json.dumps([person.id, person.username, channel_name])


def _person(entry: str | bytes) -> Person:
    user_id, username, _channel = json.loads(entry)
    return Person(user_id, username)


def _room_key(room: str) -> str:
    return sharedstate.key("presence", "room", room)


async def join(room: str, person: Person, channel_name: str) -> bool:
    """Add a tab; True when the person was not in the room before."""
    entries = await _add_and_list(room, _entry(person, channel_name))
    return sum(1 for entry in entries if _person(entry).id == person.id) == 1


async def leave(room: str, person: Person, channel_name: str) -> bool:
    """Remove a tab; True when it was the person's last one in the room."""
    remaining = await _remove_and_list(room, [_entry(person, channel_name)])
    return not any(_person(entry).id == person.id for entry in remaining)


async def refresh(room: str, person: Person, channel_name: str) -> list[Person]:
    """Keep a tab present; expire the others' stale tabs and return who left because of it."""
    expired = await _expired(room)
    remaining = await _add_and_list(room, _entry(person, channel_name))
    gone = {_person(entry) for entry in expired}
    still = {_person(entry).id for entry in remaining}
    return sorted((p for p in gone if p.id not in still), key=lambda p: p.id)


async def people(room: str) -> list[Person]:
    """Everyone present in the room, once each."""
    entries = await _live(room)
    return sorted({_person(entry) for entry in entries}, key=lambda p: p.username)


async def rooms_of_everyone() -> dict[int, list[str]]:
    """user id -> rooms they are in, over every room (for the admin)."""
    redis = sharedstate.redis_client()
    if redis is None:
        names = list(_local)
    else:
        prefix = _room_key("")
        names = [key.decode()[len(prefix) :] async for key in redis.scan_iter(match=prefix + "*")]
    result: dict[int, list[str]] = {}
    for room in names:
        for person in await people(room):
            result.setdefault(person.id, []).append(room)
    return result


# --- storage -----------------------------------------------------------------------


async def _add_and_list(room: str, entry: str) -> list[str]:
    now = time.time()
    redis = sharedstate.redis_client()
    if redis is None:
        _local.setdefault(room, {})[entry] = now + ttl()
        return _local_live(room, now)
    key = _room_key(room)
    results = await sharedstate.together(
        redis,
        [
            ("zadd", (key, {entry: now + ttl()})),
            ("expire", (key, int(ttl()) + 60)),
            ("zrangebyscore", (key, now, "+inf")),
        ],
    )
    return _texts(results[-1])


async def _remove_and_list(room: str, entries_to_remove: list[str]) -> list[str]:
    now = time.time()
    redis = sharedstate.redis_client()
    if redis is None:
        entries = _local.setdefault(room, {})
        for entry in entries_to_remove:
            entries.pop(entry, None)
        return _local_live(room, now)
    key = _room_key(room)
    results = await sharedstate.together(
        redis, [("zrem", (key, *entries_to_remove)), ("zrangebyscore", (key, now, "+inf"))]
    )
    return _texts(results[-1])


async def _expired(room: str) -> list[str]:
    """Stale entries, each claimed by exactly one caller (the one whose removal removed it)."""
    now = time.time()
    redis = sharedstate.redis_client()
    if redis is None:
        entries = _local.get(room, {})
        stale = [e for e, expires in entries.items() if expires < now]
        for entry in stale:
            del entries[entry]
        return stale
    key = _room_key(room)
    stale = _texts(await redis.zrangebyscore(key, "-inf", now))
    if not stale:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for entry in stale:
            pipe.zrem(key, entry)
        removed = await pipe.execute()
    # Another process may have claimed an entry first: its ZREM removed nothing here.
    return [entry for entry, count in zip(stale, removed, strict=True) if count]


async def _live(room: str) -> list[str]:
    now = time.time()
    redis = sharedstate.redis_client()
    if redis is None:
        return _local_live(room, now)
    return _texts(await redis.zrangebyscore(_room_key(room), now, "+inf"))


def _local_live(room: str, now: float) -> list[str]:
    return [entry for entry, expires in _local.get(room, {}).items() if expires >= now]


def _texts(values: list[str | bytes]) -> list[str]:
    return [value.decode() if isinstance(value, bytes) else value for value in values]
