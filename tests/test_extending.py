"""docs/extending.md, run: its code blocks become a throwaway app served by a real Daphne."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from notifications import realtime
from notifications.testing import DaphneServer, open_socket, receive_frame, site_settings
from tests import REPO_DIR
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

DOC = REPO_DIR / "docs" / "extending.md"
BLOCK = re.compile(r"```python\n# (chat/[\w/]+\.py)\n(.*?)```", re.S)


def write_walkthrough_app(directory: Path) -> list[str]:
    """Every ``# chat/...py`` block of the document, as files; returns their paths."""
    written = []
    for relative, code in BLOCK.findall(DOC.read_text()):
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        (target.parent / "__init__.py").touch()
        target.write_text(code)
        written.append(relative)
    return written


@pytest.fixture
def chat_app(tmp_path: Path) -> Path:
    written = write_walkthrough_app(tmp_path)
    assert written == ["chat/consumers.py", "chat/routing.py", "chat/tests.py"], written
    return tmp_path


@pytest.fixture
def chat_server(chat_app: Path, private_redis) -> Iterator[DaphneServer]:
    # As the document says, plus the walkthrough app on the path.
    routes = {"WEBSOCKET_ROUTES": ["notifications.routing", "chat.routing"]}
    server = DaphneServer.start(
        {"PYTHONPATH": os.pathsep.join([str(chat_app), str(REPO_DIR)])},
        settings=site_settings(private_redis, NOTIFICATIONS=routes),
    )
    yield server
    server.stop()


def test_the_walkthrough_app_works_as_documented(chat_app: Path, chat_server, alice, bob, carol) -> None:
    spec = importlib.util.spec_from_file_location("walkthrough_chat_tests", chat_app / "chat" / "tests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.test_chat(chat_server, alice, bob, carol)


CLASS_GROUPS_APP = {
    "bulletin/__init__.py": "",
    "bulletin/consumers.py": (
        "from notifications.live import LiveConsumer\n\n\n"
        "class BulletinConsumer(LiveConsumer):\n"
        '    groups = ["bulletin"]  # Channels style, no get_groups()\n'
    ),
    "bulletin/routing.py": (
        "from django.urls import path\n\n"
        "from bulletin.consumers import BulletinConsumer\n\n"
        'websocket_urlpatterns = [path("ws/bulletin/", BulletinConsumer.as_asgi())]\n'
    ),
}


def test_a_channels_style_groups_attribute_is_followed(tmp_path: Path, private_redis, alice) -> None:
    for relative, code in CLASS_GROUPS_APP.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(code)
    server = start_daphne(
        private_redis,
        notifications={"WEBSOCKET_ROUTES": ["notifications.routing", "bulletin.routing"]},
        env={"PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO_DIR)])},
    )
    try:
        with (
            override_settings(CHANNEL_LAYERS=private_redis.channel_layers()),
            open_socket(server, alice, path="/ws/bulletin/") as socket,
        ):
            realtime.publish(["bulletin"], '{"type": "news", "text": "hello"}')
            assert realtime.flush(timeout=10)
            assert receive_frame(socket, "news") == {"type": "news", "text": "hello"}
    finally:
        server.stop()
