"""Schema and deterministic demo data, identical for Postgres and SQLite.

The DDL uses types both databases understand ("double precision" has REAL affinity in SQLite),
so the two backends store the same IEEE doubles and the API returns identical results.
"""

from __future__ import annotations

from typing import Final

SCHEMA: Final[tuple[str, ...]] = (
    """CREATE TABLE IF NOT EXISTS users (
        id integer PRIMARY KEY,
        name text NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS prices (
        symbol text PRIMARY KEY,
        name text NOT NULL,
        price double precision NOT NULL CHECK (price > 0),
        prev_close double precision NOT NULL CHECK (prev_close > 0)
    )""",
    """CREATE TABLE IF NOT EXISTS holdings (
        user_id integer NOT NULL REFERENCES users (id),
        symbol text NOT NULL REFERENCES prices (symbol),
        quantity double precision NOT NULL CHECK (quantity > 0),
        cost_basis double precision NOT NULL CHECK (cost_basis >= 0),
        PRIMARY KEY (user_id, symbol)
    )""",
    # Which user a Cognito `sub` acts for (several subs may act for one user). Written by
    # `python -m service.ops link-user`; the API only reads it.
    """CREATE TABLE IF NOT EXISTS user_identities (
        sub text PRIMARY KEY,
        user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE
    )""",
    """CREATE TABLE IF NOT EXISTS picks (
        rank integer PRIMARY KEY,
        symbol text NOT NULL REFERENCES prices (symbol),
        score double precision NOT NULL
    )""",
)

# (symbol, name, price, previous close), prices in USD.
PRICES: Final[tuple[tuple[str, str, float, float], ...]] = (
    ("AAPL", "Apple Inc.", 189.84, 187.15),
    ("MSFT", "Microsoft Corp.", 415.50, 418.02),
    ("GOOGL", "Alphabet Inc.", 141.80, 139.62),
    ("AMZN", "Amazon.com Inc.", 178.25, 175.35),
    ("NVDA", "NVIDIA Corp.", 875.28, 852.37),
    ("META", "Meta Platforms Inc.", 502.30, 509.58),
    ("TSLA", "Tesla Inc.", 175.79, 181.19),
    ("BRK.B", "Berkshire Hathaway Inc.", 408.27, 406.90),
    ("JPM", "JPMorgan Chase & Co.", 195.47, 193.10),
    ("V", "Visa Inc.", 279.64, 281.03),
    ("JNJ", "Johnson & Johnson", 158.22, 157.49),
    ("WMT", "Walmart Inc.", 60.12, 59.71),
    ("XOM", "Exxon Mobil Corp.", 112.94, 114.48),
    ("PG", "Procter & Gamble Co.", 161.03, 160.32),
    ("MA", "Mastercard Inc.", 469.96, 471.54),
    ("KO", "Coca-Cola Co.", 60.35, 60.02),
    ("PEP", "PepsiCo Inc.", 167.88, 168.95),
    ("COST", "Costco Wholesale Corp.", 728.69, 720.15),
    ("ADBE", "Adobe Inc.", 512.42, 522.84),
    ("NFLX", "Netflix Inc.", 615.35, 605.88),
)

USERS: Final[tuple[tuple[int, str], ...]] = (
    (1, "Ada Lovelace"),
    (2, "Alan Turing"),
    (3, "Grace Hopper"),
    (4, "Edsger Dijkstra"),
    (5, "Barbara Liskov"),  # deliberately holds nothing: the empty-portfolio case
)


def demo_identities() -> list[tuple[str, int]]:
    """(sub, user_id): the subs of local dev tokens (`python -m service.ops token --user N`).

    Only tokens of the local dev issuer carry these subs, and only the local stage trusts that
    issuer; Cognito subs are UUIDs. Seeded whenever the table is empty, for the demo users
    that exist (also into a database seeded before the table existed).
    """
    from service.auth.devkeys import dev_sub

    return [(dev_sub(user_id), user_id) for user_id, _ in USERS]


def demo_holdings() -> list[tuple[int, str, float, float]]:
    """(user_id, symbol, quantity, cost_basis per share): a fixed formula, no randomness."""
    rows = []
    for user_id, _ in USERS[:-1]:
        for i in range(3 + user_id % 3):
            symbol, _, price, _ = PRICES[(user_id * 7 + i * 3) % len(PRICES)]
            quantity = float(5 + (user_id * 13 + i * 7) % 40)
            cost_basis = round(price * (0.8 + ((user_id + i) % 5) * 0.1), 2)
            rows.append((user_id, symbol, quantity, cost_basis))
    return rows


# (rank, symbol, score): best first; 15 picks, so a limit of 50 returns all 15.
PICKS: Final[tuple[tuple[int, str, float], ...]] = tuple(
    (rank, PRICES[(rank * 7) % len(PRICES)][0], round(0.99 - rank * 0.037, 3))
    for rank in range(1, 16)
)
