"""Human-readable numbers with their units (bytes as MiB, durations as ms/s/min/h)."""

from __future__ import annotations

MIB = 1024 * 1024


def mib(n_bytes: int) -> str:
    """Bytes in MiB with one decimal, the unit the stage config uses (`redis.memory_mib`)."""
    return f"{n_bytes / MIB:.1f} MiB"


def millis(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def duration(seconds: float) -> str:
    """Whole seconds as `45 s`, `12 min 5 s`, `3 h 12 min`, `2 d 4 h`."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"


def ttl(milliseconds: int) -> str:
    """A PTTL reply: -1 is "no expiry", -2 "gone" (expired or deleted since the SCAN)."""
    if milliseconds == -1:
        return "no expiry"
    if milliseconds == -2:
        return "gone"
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    return duration(milliseconds / 1000)


def count(n: int) -> str:
    return f"{n:,}"


def plural(n: int, noun: str) -> str:
    """`1 key`, `100,000 keys`."""
    return f"{count(n)} {noun}{'' if n == 1 else 's'}"


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"
