"""docs/extending.md, run: its code blocks become a throwaway app served by a real Daphne."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifications.testing import PROJECT_DIR, DaphneServer
from tests.conftest import start_daphne

pytestmark = pytest.mark.django_db(transaction=True)

DOC = PROJECT_DIR / "docs" / "extending.md"
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
    server = start_daphne(
        private_redis,
        notifications={"WEBSOCKET_ROUTES": ["notifications.routing", "chat.routing"]},
        env={"PYTHONPATH": os.pathsep.join([str(chat_app), str(PROJECT_DIR)])},
    )
    yield server
    server.stop()


def test_the_walkthrough_app_works_as_documented(chat_app: Path, chat_server, alice, bob, carol) -> None:
    spec = importlib.util.spec_from_file_location("walkthrough_chat_tests", chat_app / "chat" / "tests.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    module.test_chat(chat_server, alice, bob, carol)
