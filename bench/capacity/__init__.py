"""Capacity per task, measured: `python -m bench capacity` (part of `make bench`).

bench/capacity/run.py says what is measured and how; docs/capacity.md
how the figures become the service's autoscaling settings.
"""

from __future__ import annotations


def main() -> int:
    from bench.capacity.run import main as run

    return run()
