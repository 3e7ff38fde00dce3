"""The channels-redis internals we rely on are checked, so an incompatible release fails loudly, not silently."""

from __future__ import annotations

import tomllib

from channels_redis.core import RedisChannelLayer
from django.core.checks import run_checks
from django.test import override_settings

from notifications import redis_layer
from tests import REPO_DIR


def test_the_installed_channels_redis_has_every_name_we_use() -> None:
    assert redis_layer.incompatibilities() == []


def test_pyproject_allows_only_the_tested_range() -> None:
    dependencies = tomllib.loads((REPO_DIR / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"channels-redis{redis_layer.TESTED_RANGE}" in dependencies


class ReleaseWithoutGroupKeys(RedisChannelLayer):
    """What a channels-redis release that renamed its helpers would look like to us."""

    def __getattribute__(self, name: str):
        if name in {"_group_key", "consistent_hash"}:
            raise AttributeError(name)
        return super().__getattribute__(name)


def test_a_release_without_them_is_named_and_refused_by_a_system_check(monkeypatch) -> None:
    missing = redis_layer.incompatibilities(core=ReleaseWithoutGroupKeys)
    assert missing == ["ReleaseWithoutGroupKeys._group_key", "ReleaseWithoutGroupKeys.consistent_hash"]

    # The check runs against whatever release is installed; stand in the renamed one.
    monkeypatch.setattr(redis_layer, "RedisChannelLayer", ReleaseWithoutGroupKeys)
    monkeypatch.setattr(
        redis_layer.incompatibilities, "__defaults__", (ReleaseWithoutGroupKeys, redis_layer.RedisPubSubChannelLayer)
    )
    layers = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": ["redis://x"]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        errors = [e for e in run_checks() if e.id == "notifications.E019"]
    assert len(errors) == 1
    assert "_group_key" in errors[0].msg
    assert f"channels-redis{redis_layer.TESTED_RANGE}" in errors[0].hint
