"""`python -m tools.rehearsal up|down|status` (what `make up` / `make down` run)."""

from __future__ import annotations

import sys

from tools.rehearsal.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
