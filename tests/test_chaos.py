"""The chaos run (bench/chaos.py) in its short form, so the script cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys

from tests import REPO_DIR


def test_short_chaos_run_loses_and_doubles_nothing() -> None:
    args = ["--clients", "6", "--users", "3", "--sends", "45", "--rate", "15", "--faults", "2", "--seed", "3"]
    result = subprocess.run(
        [sys.executable, "bench/chaos.py", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = re.search(
        r"sent (\d+), expected (\d+) deliveries, received (\d+), missing 0, duplicated 0", result.stdout
    )
    assert summary, result.stdout
    sent, expected, received = map(int, summary.groups())
    assert sent == 45
    assert expected == received > 0
    assert "0 shown to the wrong user" in result.stdout
