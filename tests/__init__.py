from pathlib import Path

# The checkout: the demo site, bench/ and docs/ live here.
REPO_DIR = Path(__file__).resolve().parent.parent

# LiveInbox timings for tests: notice a dropped frame or a dead socket within a second or two,
# where the defaults (a browser's 25 s heartbeat, backoff up to 30 s) would take minutes.
FAST_CLIENT = {"ping_interval": 0.5, "pong_timeout": 5.0, "max_backoff": 2.0}
