from pathlib import Path

# The checkout: the demo site, bench/ and docs/ live here.
REPO_DIR = Path(__file__).resolve().parent.parent
