"""`cache ping`, `cache stats` and `cache keys`: what they read from Redis and what it means."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import redis

from service.ops import units

# Below this hit ratio the cache mostly misses: entries are gone before they are read again.
LOW_HIT_RATIO = 0.80
# Fewer lookups than this (since start or CONFIG RESETSTAT) say nothing about the hit ratio.
MIN_LOOKUPS_FOR_ADVICE = 100
# When at least this share of the keys that left Redis were evicted (not expired), memory, not
# TTLs, decides how long entries live: the working set does not fit in maxmemory.
HIGH_EVICTION_SHARE = 0.10
# Fragmentation (RSS / used memory) worth acting on, and the least RSS at which it matters: a
# nearly empty Redis always shows a high ratio.
HIGH_FRAGMENTATION = 1.5
FRAGMENTATION_MIN_RSS_BYTES = 64 * units.MIB


def _int(info: dict[str, Any], name: str) -> int:
    return int(info.get(name, 0) or 0)


# ------------------------------------------------------------------------------------- ping


@dataclass(frozen=True, kw_only=True)
class PingResult:
    connect_s: float  # connect + AUTH/SELECT + the first PING
    rtts_s: list[float]  # later PINGs on the open connection: the round trip itself

    @property
    def min_s(self) -> float:
        return min(self.rtts_s)

    @property
    def avg_s(self) -> float:
        return sum(self.rtts_s) / len(self.rtts_s)

    @property
    def max_s(self) -> float:
        return max(self.rtts_s)


def ping(client: redis.Redis, count: int) -> PingResult:
    started = time.perf_counter()
    client.ping()
    connect_s = time.perf_counter() - started
    rtts: list[float] = []
    for _ in range(count):
        started = time.perf_counter()
        client.ping()
        rtts.append(time.perf_counter() - started)
    return PingResult(connect_s=connect_s, rtts_s=rtts)


# ------------------------------------------------------------------------------------ stats


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    version: str
    uptime_s: int
    db: int
    hits: int
    misses: int
    used_memory_bytes: int
    used_memory_rss_bytes: int
    maxmemory_bytes: int  # 0 = unbounded
    maxmemory_policy: str
    fragmentation_ratio: float
    evicted_keys: int
    expired_keys: int
    connected_clients: int
    db_keys: int
    db_keys_with_ttl: int

    @property
    def lookups(self) -> int:
        return self.hits + self.misses

    @property
    def hit_ratio(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None

    @property
    def memory_ratio(self) -> float | None:
        return self.used_memory_bytes / self.maxmemory_bytes if self.maxmemory_bytes else None

    @property
    def eviction_share(self) -> float | None:
        """Of the keys that left Redis, the share that was evicted rather than expired."""
        gone = self.evicted_keys + self.expired_keys
        return self.evicted_keys / gone if gone else None

    def advice(self) -> list[str]:
        out: list[str] = []
        ratio = self.hit_ratio
        share = self.eviction_share
        evictions_high = share is not None and share >= HIGH_EVICTION_SHARE
        if ratio is not None and self.lookups >= MIN_LOOKUPS_FOR_ADVICE and ratio < LOW_HIT_RATIO:
            why = (
                "evictions are high (below): give Redis more memory first"
                if evictions_high
                else "evictions are low, so entries expire before they are read again: raise "
                "the TTLs (CACHE_TTL_<NS>_S; app.cache_ttl_s in infra/config/)"
            )
            out.append(
                f"hit ratio {units.percent(ratio)} is below {units.percent(LOW_HIT_RATIO)} over "
                f"{units.count(self.lookups)} lookups; {why}. Right after a deploy or restart a "
                "low ratio is normal: the cache starts empty"
            )
        if evictions_high and share is not None:
            out.append(
                f"evictions are high: {units.count(self.evicted_keys)} keys evicted vs "
                f"{units.count(self.expired_keys)} expired ({units.percent(share)} of removals): "
                "the working set does not fit in maxmemory. Raise redis.memory_mib in "
                "infra/config/ (maxmemory follows at 75 %) and redeploy, or shorten the TTLs "
                "so entries leave by expiry"
            )
        if self.maxmemory_bytes == 0:
            out.append(
                "maxmemory is not set: Redis grows until its container is OOM-killed instead of "
                "evicting; run `python -m service.ops doctor --target ...`"
            )
        if self.maxmemory_policy == "noeviction":
            out.append(
                "maxmemory-policy is noeviction: a full cache rejects writes (OOM errors) "
                "instead of evicting; the design runs allkeys-lru"
            )
        if (
            self.fragmentation_ratio > HIGH_FRAGMENTATION
            and self.used_memory_rss_bytes >= FRAGMENTATION_MIN_RSS_BYTES
        ):
            out.append(
                f"fragmentation {self.fragmentation_ratio:.2f}: the process holds "
                f"{units.mib(self.used_memory_rss_bytes)} for {units.mib(self.used_memory_bytes)}"
                " of data; `CONFIG SET activedefrag yes`, or restart Redis (the cache refills)"
            )
        return out

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["hit_ratio"] = None if self.hit_ratio is None else round(self.hit_ratio, 4)
        out["memory_ratio"] = None if self.memory_ratio is None else round(self.memory_ratio, 4)
        share = self.eviction_share
        out["eviction_share"] = None if share is None else round(share, 4)
        out["advice"] = self.advice()
        return out


def stats(client: redis.Redis, db: int) -> CacheStats:
    info: dict[str, Any] = client.info()
    keyspace = info.get(f"db{db}") or {}
    return CacheStats(
        version=str(info.get("redis_version", "?")),
        uptime_s=_int(info, "uptime_in_seconds"),
        db=db,
        hits=_int(info, "keyspace_hits"),
        misses=_int(info, "keyspace_misses"),
        used_memory_bytes=_int(info, "used_memory"),
        used_memory_rss_bytes=_int(info, "used_memory_rss"),
        maxmemory_bytes=_int(info, "maxmemory"),
        maxmemory_policy=str(info.get("maxmemory_policy", "?")),
        fragmentation_ratio=float(info.get("mem_fragmentation_ratio", 0.0) or 0.0),
        evicted_keys=_int(info, "evicted_keys"),
        expired_keys=_int(info, "expired_keys"),
        connected_clients=_int(info, "connected_clients"),
        db_keys=int(keyspace.get("keys", 0)),
        db_keys_with_ttl=int(keyspace.get("expires", 0)),
    )


# ------------------------------------------------------------------------------------- keys


@dataclass(frozen=True, kw_only=True)
class SampledKey:
    key: str
    ttl_ms: int  # PTTL: -1 no expiry, -2 gone since the SCAN
    type: str


@dataclass(frozen=True, kw_only=True)
class KeyScan:
    pattern: str
    db: int
    matched: int
    db_keys: int
    scan_calls: int
    elapsed_s: float
    limit: int
    sample: list[SampledKey] = field(default_factory=list)

    @property
    def sample_without_ttl(self) -> int:
        return sum(1 for k in self.sample if k.ttl_ms == -1)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["elapsed_s"] = round(self.elapsed_s, 4)
        return out


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value


def scan_keys(
    client: redis.Redis, pattern: str, *, db: int, limit: int, scan_count: int
) -> KeyScan:
    """Count every key matching `pattern` and sample the first `limit`, with SCAN only.

    KEYS walks the whole keyspace in one command, blocking every other client until it is done;
    each SCAN call does a bounded amount of work (about `scan_count` slots), so the app's
    requests interleave with the scan.
    """
    started = time.perf_counter()
    # SCAN may return a key twice (while Redis resizes its table): count distinct keys. The set
    # holds only matching keys, which a bounded cache keeps to some MiB.
    seen: set[bytes | str] = set()
    sample: list[bytes | str] = []
    cursor: int = 0
    calls = 0
    while True:
        cursor, batch = client.scan(cursor=cursor, match=pattern, count=scan_count)
        calls += 1
        for key in batch:
            if key not in seen:
                seen.add(key)
                if len(sample) < limit:
                    sample.append(key)
        if int(cursor) == 0:
            break
    elapsed = time.perf_counter() - started
    db_keys = int(client.dbsize())
    sampled: list[SampledKey] = []
    if sample:
        pipe = client.pipeline(transaction=False)
        for key in sample:
            pipe.pttl(key)
            pipe.type(key)
        replies = pipe.execute()
        for i, key in enumerate(sample):
            sampled.append(
                SampledKey(
                    key=_text(key), ttl_ms=int(replies[2 * i]), type=_text(replies[2 * i + 1])
                )
            )
    return KeyScan(
        pattern=pattern,
        db=db,
        matched=len(seen),
        db_keys=db_keys,
        scan_calls=calls,
        elapsed_s=elapsed,
        limit=limit,
        sample=sampled,
    )
