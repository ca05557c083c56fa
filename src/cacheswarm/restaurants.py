"""The restaurants dataset: deterministic restaurants and reviews, time-ordered review ids, and
the restaurant summary (the restaurant plus its 5 newest reviews) that both stores return and
Redis caches as one JSON value.

Restaurant `i` (1-based) and its `m` seeded reviews are pure functions of (i, m). Review ids
are ULIDs (48-bit millisecond time + 80 bits, Crockford base32, 26 chars), so sorting ids
sorts reviews by time: "newest first" is an index order on both databases.
"""

from __future__ import annotations

import json
import random
import time
from datetime import datetime, timezone

SUMMARY_REVIEWS = 5
DEFAULT_REVIEWS = 20
STARS = ("one_stars", "two_stars", "three_stars", "four_stars", "five_stars")  # index: rating - 1
RESTAURANT_FIELDS = ("name", "cuisine", "address", "five_stars", "four_stars", "three_stars", "two_stars",
                     "one_stars")
REVIEW_FIELDS = ("id", "username", "restaurant", "rating", "review", "created_at")

CUISINES = ("thai", "italian", "mexican", "indian", "japanese", "french", "greek", "korean",
            "ethiopian", "lebanese", "spanish", "vietnamese", "american", "turkish", "peruvian", "chinese")
ADJECTIVES = ("Golden", "Little", "Blue", "Happy", "Old", "Hidden", "Red", "Silver",
              "Wild", "Lucky", "Green", "Royal", "Corner", "Rustic", "Urban", "Sunny")
NOUNS = ("Spoon", "Table", "Lantern", "Garden", "Kitchen", "Oven", "Fork", "Bistro",
         "Harbor", "Pepper", "Olive", "Bowl", "Grill", "Noodle", "Tavern", "Leaf")
STREETS = ("Main St", "Oak Ave", "Pine St", "Maple Ave", "Cedar Rd", "Elm St", "Lake Dr", "Hill Rd")
PHRASES = ("Great food", "Friendly staff", "A bit slow", "Would come back", "Too noisy",
           "Best in town", "Fair prices", "Tiny portions", "Lovely terrace", "Fresh and tasty")
BASE_TIME = datetime(2024, 1, 1, tzinfo=timezone.utc)
BASE_MS = int(BASE_TIME.timestamp() * 1000)
MAX_SEEDED_REVIEWS = 1000
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # ascending in ASCII: string order = numeric order


def _mix(i: int) -> int:
    return (i * 2654435761) & 0xFFFFFFFF


def ulid(ms: int, rand80: int) -> str:
    """A ULID: 48-bit millisecond timestamp then 80 bits, as 26 Crockford base32 characters."""
    n = ((ms & 0xFFFFFFFFFFFF) << 80) | (rand80 & ((1 << 80) - 1))
    out = []
    for _ in range(26):
        out.append(CROCKFORD[n & 31])
        n >>= 5
    return "".join(reversed(out))


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch -> '2024-01-01T00:00:00.000Z'."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def name(i: int) -> str:
    h = _mix(i)
    return f"{ADJECTIVES[h & 15]} {NOUNS[(h >> 4) & 15]} {i}"


def review(i: int, j: int, m: int) -> dict:
    """Review j (0-based, j = m - 1 the newest) of restaurant i."""
    n = (i - 1) * m + j
    h = _mix(n + 1)
    ms = BASE_MS + j * 3_600_000 + i * 1000  # reviews of a restaurant an hour apart
    return {
        "id": ulid(ms, (h << 48) | n),
        "username": f"user{(i * 131 + j * 7) % 5000}",  # never twice for one restaurant while m < 5000
        "restaurant": name(i),
        "rating": 1 + (h >> 7) % 5,
        "review": f"{PHRASES[(h >> 3) % 10]}. {PHRASES[(h >> 11) % 10]}.",
        "created_at": iso_ms(ms),
    }


def reviews(i: int, m: int) -> list[dict]:
    return [review(i, j, m) for j in range(m)]


def restaurant(i: int, m: int) -> dict:
    """Restaurant i with its star counters matching its m seeded reviews."""
    h = _mix(i)
    stars = [0] * 5
    for r in reviews(i, m):
        stars[r["rating"] - 1] += 1
    out = {"name": name(i), "cuisine": CUISINES[(h >> 8) & 15],
           "address": f"{1 + (h >> 12) % 999} {STREETS[(h >> 22) & 7]}"}
    out.update({field: stars[4 - k] for k, field in enumerate(RESTAURANT_FIELDS[3:])})
    return out


def seeded_ids_below() -> str:
    """Every seeded review id of restaurant 1 sorts below this (run-time reviews, stamped with the
    current time, sort above): counting them tells which --reviews-per-restaurant seeded a table."""
    return ulid(BASE_MS + MAX_SEEDED_REVIEWS * 3_600_000, 0)


def mismatch(table: str, seeded: int, wanted: int) -> str:
    if not seeded:
        return (f"{table} was loaded from an --items-file; to seed generated data instead, add --reset "
                "(rewrites the table)")
    return (f"{table} was seeded with {seeded} reviews per restaurant; to seed {wanted}, add --reset (rewrites the "
            f"table and removes what runs wrote), or keep --reviews-per-restaurant {seeded}")


def new_review(restaurant_name: str, rng: random.Random) -> dict:
    """A review written during a run: id from the current time, so it is the newest."""
    ms = time.time_ns() // 1_000_000
    h = rng.getrandbits(32)
    return {
        "id": ulid(ms, rng.getrandbits(80)),
        "username": f"loadtest{rng.getrandbits(48):012x}",  # a new user: one review per user and restaurant
        "restaurant": restaurant_name,
        "rating": 1 + h % 5,
        "review": f"{PHRASES[(h >> 3) % 10]}. {PHRASES[(h >> 11) % 10]}.",
        "created_at": iso_ms(ms),
    }


def summary(rest: dict, newest: list[dict]) -> bytes:
    """The cached value: {"restaurant": {...}, "reviews": [newest first, at most 5]} as compact JSON."""
    doc = {"restaurant": {f: rest.get(f, 0 if f in STARS else "") for f in RESTAURANT_FIELDS},
           "reviews": [{f: r.get(f) for f in REVIEW_FIELDS} for r in newest[:SUMMARY_REVIEWS]]}
    return json.dumps(doc, separators=(",", ":")).encode()


def fresh_summary(i: int, rng: random.Random, m: int = DEFAULT_REVIEWS) -> bytes:
    """A new summary for cache-only writes (which never touch the database): the seeded
    restaurant with one more review on top."""
    rest = restaurant(i, m)
    new = new_review(rest["name"], rng)
    rest[STARS[new["rating"] - 1]] += 1
    return summary(rest, [new] + list(reversed(reviews(i, m)[-SUMMARY_REVIEWS:])))


def cache_key(namespace: str, i: int) -> str:
    return f"{namespace}:restaurant:{i}:summary"


def parse_time(text: str) -> datetime:
    """'2024-01-01T00:00:00.000Z' (or without ms / Z) -> naive UTC datetime (for MySQL DATETIME(3))."""
    text = text.rstrip("Z")
    for fmt in ("%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return BASE_TIME.replace(tzinfo=None)


def mysql_time(dt: datetime) -> str:
    """A DATETIME(3) value read from MySQL -> the ISO form used in the summary."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def version_of(value: bytes) -> tuple[int, float]:
    """(version, when it was written) of a summary: every review bumps exactly one star counter,
    so their sum is a version; the newest review's time is when that version was written."""
    doc = json.loads(value)
    rest = doc["restaurant"]
    version = sum(int(rest.get(f) or 0) for f in STARS)
    newest = doc["reviews"][0]["created_at"] if doc.get("reviews") else None
    written = parse_time(newest).replace(tzinfo=timezone.utc).timestamp() if newest else 0.0
    return version, written
