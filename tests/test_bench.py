"""The fan-out benchmark's smoke run, so the script cannot rot (speed itself is not asserted here)."""

from __future__ import annotations

import subprocess
import sys

from tests import REPO_DIR


def test_fanout_benchmark_smoke_run_completes_and_loses_nothing_after_sync() -> None:
    env_free = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
    result = subprocess.run(
        [sys.executable, "bench/fanout.py", "--quick"],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        env=env_free,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("| ours |")]
    assert len(rows) >= 3, result.stdout
    for row in rows:
        if "storm" not in row:
            assert row.rstrip(" |").endswith("| 0"), row  # missing after sync
    assert "Sender cost:" in result.stdout


def test_memory_benchmark_smoke_run_reports_per_socket_heap() -> None:
    result = subprocess.run(
        [sys.executable, "bench/memory.py", "--sockets", "20"],
        cwd=REPO_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "20 sockets:" in result.stdout
    assert "KiB of Python heap per socket" in result.stdout
