"""`python -m service.ops`: see service/ops/cli.py."""

from __future__ import annotations

import sys

from service.ops.cli import main

if __name__ == "__main__":
    sys.exit(main())
