"""The cached reads, named once: each one's route template and cache key, and which GET
targets name one in its canonical form.

api.py declares the routes from these templates and reads the cache under these keys; the hit
layer (service/front.py) answers a canonical target from the same keys before routing. Only
targets whose values the routes accept as they are, spelled the one way the routes would spell
them, are canonical (no leading zeros, no extra query, a limit within range): everything else
is the framework's to answer, and to reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.keys import dashboard_key, portfolio_key, top_picks_key
from service.models import MAX_PICKS, MAX_USER_ID

DEFAULT_PICKS = 10
_PORTFOLIO_PREFIX = "/api/portfolio/"
_DASHBOARD_PREFIX = "/api/dashboard/"
_LIMIT_PREFIX = b"limit="
# Digits of the largest user id: longer numbers are never canonical.
_MAX_USER_DIGITS = len(str(MAX_USER_ID))
# The longest canonical target, path and query together: every other one is shorter.
MAX_TARGET_CHARS = len(_DASHBOARD_PREFIX) + _MAX_USER_DIGITS


# The cached GET routes' templates (also the metrics' route labels).
PORTFOLIO = _PORTFOLIO_PREFIX + "{user_id}"
DASHBOARD = _DASHBOARD_PREFIX + "{user_id}"
TOP_PICKS = "/api/top-picks"


@dataclass(frozen=True, slots=True)
class Target:
    """What a canonical GET target reads: its route, its cache key, and the user whose data it
    is (None: nobody's in particular; any authenticated caller may read it)."""

    route: str
    key: str
    user_id: int | None


def target_of(path: str, query: bytes) -> Target | None:
    """The cached read a GET of `path` and `query` names canonically, else None."""
    if path.startswith(_PORTFOLIO_PREFIX):
        user_id = _user_id(path[len(_PORTFOLIO_PREFIX) :], query)
        return None if user_id is None else Target(PORTFOLIO, portfolio_key(user_id), user_id)
    if path.startswith(_DASHBOARD_PREFIX):
        user_id = _user_id(path[len(_DASHBOARD_PREFIX) :], query)
        return None if user_id is None else Target(DASHBOARD, dashboard_key(user_id), user_id)
    if path == TOP_PICKS:
        limit = _limit(query)
        return None if limit is None else Target(TOP_PICKS, top_picks_key(limit), None)
    return None


def _user_id(digits: str, query: bytes) -> int | None:
    """A user id as the route prints it (1..MAX_USER_ID, no sign, no leading zero)."""
    if query or not _canonical_number(digits, _MAX_USER_DIGITS):
        return None
    user_id = int(digits)
    return user_id if user_id <= MAX_USER_ID else None


def _limit(query: bytes) -> int | None:
    """The top-picks limit of a query that is empty (the default) or exactly `limit=N`."""
    if not query:
        return DEFAULT_PICKS
    if not query.startswith(_LIMIT_PREFIX):
        return None
    digits = query[len(_LIMIT_PREFIX) :].decode("latin-1")
    if not _canonical_number(digits, len(str(MAX_PICKS))):
        return None
    limit = int(digits)
    return limit if limit <= MAX_PICKS else None


def _canonical_number(digits: str, max_digits: int) -> bool:
    # isascii: str.isdigit() also accepts other scripts' digits, which int() would parse.
    return (
        0 < len(digits) <= max_digits and digits.isascii() and digits.isdigit() and digits[0] != "0"
    )
