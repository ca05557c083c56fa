"""Redis-native patterns of the database lab: a session store, a rate limiter, a leaderboard.

They have no database: each is a dataset on backend `redis`, and its versions take the strategy's
place in the phase key (`sessions/redis/cache-only`, `ratelimit/redis/lab`,
`ratelimit/redis/atomic`, `leaderboard/redis/cache-only`), so the plan, the recorder and the
report treat them as any other phase. Each has its own operations (the report's rows), mix and
population (`--keyspace`, or POPULATION), and says which Redis commands each operation sends, so
the report checks them against Redis's own counters.

- sessions: a population of sessions (SETEX, 1-hour TTL) read on every request (GET: a hit; a miss
  once logged out, and the user logs in again: SETEX), extended on activity (EXPIRE), created at
  login (SETEX), deleted at logout (DEL).
- ratelimit: fixed windows of --rate-window seconds, --rate-limit requests per client and window.
  `lab` is the lab's code: GET the count; none: SETEX 1; below the limit: INCR; else deny. Two
  requests can read the same count and both be admitted. `atomic` is one round trip: a Lua script
  INCRs and sets the expiry (two windows: a request late to Redis still finds its window's count)
  on the window's first request, and the count it returns decides.
  Every admitted request is also counted, outside the timed call, in an audit counter per client
  and window; after the phase the master sums what each window admitted beyond the limit.
- leaderboard: one sorted set of --keyspace players: a game's score added (ZINCRBY), a score set
  (ZADD), a player's rank (ZREVRANK), the top 10 (ZREVRANGE 0 9 WITHSCORES).
"""

from __future__ import annotations

import json
import random
import time

from .cache import mget
from .strategies import HIT, MISS, OK

DENIED = "denied"  # a rate-limited request
POPULATION = {"sessions": 10_000, "ratelimit": 100, "leaderboard": 10_000}
SESSION_TTL = 3600


class PatternWorkload:
    """The next operation and key (1-based) from a pattern's mix and the key chooser."""

    def __init__(self, mix: tuple, chooser, rng: random.Random):
        self.edges, edge = [], 0.0
        for op, share in mix:
            edge += share
            self.edges.append((edge, op))
        self.chooser, self.random = chooser, rng.random

    def next(self) -> tuple[str, int]:
        r = self.random()
        op = next((op for edge, op in self.edges if r < edge), self.edges[-1][1])
        return op, self.chooser.next() + 1


class Pattern:
    """What a pattern shares with a store: no tables, a population instead of seeded rows."""

    pattern = True
    backend = "redis"
    COMMANDS: dict = {}  # {version: {op: {redis counter: commands per operation}}}

    def __init__(self, _handle, namespace: str):
        self.namespace = namespace
        self.population = POPULATION[self.dataset]

    def configure(self, settings) -> None:
        """The run's options: the population (--keyspace, 0 = POPULATION) and the pattern's own."""
        self.population = settings.keyspace or POPULATION[self.dataset]

    def for_user(self):
        return self

    def check_owned(self, _allow_existing: bool) -> None:
        """Only keys under the namespace: nothing to check."""

    def seeded(self) -> int:
        return self.population

    def prepare(self, client, n: int) -> str:
        return "nothing to load"

    def verdict(self, client) -> dict | None:
        """After the phase: what the pattern's correctness audit found (the rate limiter's)."""
        return None


class Sessions(Pattern):
    dataset = "sessions"
    OPS = ("read", "extend", "create", "delete")
    MIX = (("read", 0.90), ("extend", 0.06), ("create", 0.02), ("delete", 0.02))
    # a read that finds no session logs the user in again (SETEX): the next request finds it
    COMMANDS = {"cache-only": {"read": {"cmd_get": 1}, ("read", MISS): {"cmd_setex": 1}, "extend": {"cmd_expire": 1},
                               "create": {"cmd_setex": 1}, "delete": {"cmd_del": 1}}}

    def cache_key(self, i: int) -> str:
        return f"{self.namespace}:session:{i}"

    @staticmethod
    def value(i: int, now: float) -> bytes:
        """A session: who, since when, a small cart (~200 bytes)."""
        return json.dumps({"session": i, "user_id": 1000 + i, "created_at": round(now, 3), "role": "customer",
                           "cart": [{"product": 1 + (i * 7 + k) % 1000, "quantity": 1 + k} for k in range(3)]},
                          separators=(",", ":")).encode()

    def prepare(self, client, n: int) -> str:
        pipe, now = client.pipeline(transaction=False), time.time()
        for i in range(1, n + 1):
            pipe.execute_command("SETEX", self.cache_key(i), SESSION_TTL, self.value(i, now))
            if i % 1000 == 0:
                pipe.execute()
        pipe.execute()
        return f"{n} sessions created (SETEX, TTL {SESSION_TTL}s)"

    def ops(self, cache, _version: str) -> tuple[dict, None]:
        """{op: f(key) -> (outcome, value)} over one user's connection, and what runs after each
        operation's timing (None: nothing)."""
        def read(i):
            value = cache.get(self.cache_key(i))
            if value is not None:
                return HIT, value
            create(i)  # no session (logged out, or expired): the user logs in again
            return MISS, None

        def extend(i):
            return (OK if cache.call("expire", self.cache_key(i), SESSION_TTL) else MISS), None

        def create(i):
            value = self.value(i, time.time())
            cache.call("execute_command", "SETEX", self.cache_key(i), SESSION_TTL, value)
            return OK, value

        def delete(i):
            return (OK if cache.call("delete", self.cache_key(i)) else MISS), None

        return {"read": read, "extend": extend, "create": create, "delete": delete}, None


# INCR the window's count; its first request sets the expiry: one round trip, no lost update.
# The expiry (ARGV[1]) is two windows, not one: a key made at its window's first request and kept one
# window would be gone at that moment plus one window, and a request whose client read the clock in
# that window but reached Redis just after (a few ms late is enough) would INCR a new key to 1 and be
# admitted beyond the limit (CI saw one: 11 admitted in a window of 10). The key serves no request of
# a later window (the window is in its name), so keeping it longer costs only its memory.
ATOMIC_LIMIT = ("local c = redis.call('INCR', KEYS[1]) "
                "if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return c")


class RateLimiter(Pattern):
    dataset = "ratelimit"
    OPS = ("check",)
    MIX = (("check", 1.0),)
    COMMANDS = {"lab": {"check": {"cmd_get": 1}}, "atomic": {"check": {"cmd_scripts": 1}}}
    AUDIT_TTL = 3600  # the audit counters outlive the phase; the next phase's preparation removes them

    def configure(self, settings) -> None:
        super().configure(settings)
        self.limit, self.window = settings.workload.rate_limit, settings.workload.rate_window

    def key(self, client_id: int, window: int) -> str:
        return f"{self.namespace}:rl:{client_id}:{window}"

    def audit_key(self, client_id: int, window: int) -> str:
        return f"{self.namespace}:rladmitted:{client_id}:{window}"

    def ops(self, cache, version: str) -> tuple[dict, object]:
        limit, seconds = self.limit, self.window
        admitted = []  # the window of the request just admitted, for the audit after its timing

        def audit(i, window):  # outside the timed call: what was really admitted, per client and window
            cache.pipelined((("incr", self.audit_key(i, window)), ("expire", self.audit_key(i, window),
                                                                      self.AUDIT_TTL)))

        def lab(i):
            window = int(time.time() // seconds)
            key = self.key(i, window)
            count = cache.call("get", key)
            if count is None:
                cache.call("execute_command", "SETEX", key, seconds, 1)  # (redis-py deprecates its setex())
            elif int(count) < limit:
                cache.call("incr", key)
            else:
                return DENIED, None
            return OK, (i, window)

        def atomic(i):
            window = int(time.time() // seconds)
            count = cache.script(ATOMIC_LIMIT, 1, self.key(i, window), 2 * seconds)
            return (OK, (i, window)) if int(count) <= limit else (DENIED, None)

        call = lab if version == "lab" else atomic

        def check(i):
            outcome, where = call(i)
            if where is not None:
                admitted.append(where)
            return outcome, None

        def after(_outcome, _value):
            while admitted:
                audit(*admitted.pop())

        return {"check": check}, after

    def verdict(self, client) -> dict:
        """Sum, over every client and window, what the phase admitted beyond the limit."""
        windows = admitted = over = exceeded = 0
        keys = list(client.scan_iter(match=f"{self.namespace}:rladmitted:*", count=1000))
        for start in range(0, len(keys), 1000):
            for value in mget(client, keys[start:start + 1000]):
                if value is None:
                    continue
                n = int(value)
                windows, admitted = windows + 1, admitted + n
                if n > self.limit:
                    over, exceeded = over + n - self.limit, exceeded + 1
        return {"limit": self.limit, "window_seconds": self.window, "windows": windows, "admitted": admitted,
                "over_admitted": over, "windows_over_limit": exceeded}


class Leaderboard(Pattern):
    dataset = "leaderboard"
    OPS = ("score", "add", "rank", "top10")
    MIX = (("score", 0.50), ("add", 0.10), ("rank", 0.25), ("top10", 0.15))
    COMMANDS = {"cache-only": {"score": {"cmd_zincrby": 1}, "add": {"cmd_zadd": 1}, "rank": {"cmd_zrevrank": 1},
                               "top10": {"cmd_zrevrange": 1}}}

    @property
    def board(self) -> str:
        return f"{self.namespace}:leaderboard"

    @staticmethod
    def member(i: int) -> str:
        return f"player:{i}"

    def prepare(self, client, n: int) -> str:
        for start in range(1, n + 1, 1000):
            client.zadd(self.board, {self.member(i): (i * 2654435761) % 10_000
                                     for i in range(start, min(n, start + 999) + 1)})
        return f"{n} players on the board (ZADD)"

    def ops(self, cache, _version: str) -> tuple[dict, None]:
        rng = random.Random()

        def score(i):
            return OK, str(cache.call("zincrby", self.board, 1 + int(rng.random() * 100), self.member(i))).encode()

        def add(i):
            cache.call("zadd", self.board, {self.member(i): int(rng.random() * 10_000)})
            return OK, None

        def rank(i):
            found = cache.call("zrevrank", self.board, self.member(i))
            return (MISS if found is None else HIT), None

        def top10(_i):
            top = cache.call("zrevrange", self.board, 0, 9, withscores=True)
            return OK, json.dumps([[m.decode(), s] for m, s in top]).encode()

        return {"score": score, "add": add, "rank": rank, "top10": top10}, None


