"""Settings for the test suite, so ``pytest`` run directly needs no environment of its own.

``make test`` sets the same two variables; anything set in the environment wins.
"""

from __future__ import annotations

import os

os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from project.settings import *  # noqa: F403 - the demo settings, read after the defaults above
