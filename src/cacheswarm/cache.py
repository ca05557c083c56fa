"""The Redis cache adapter: get / set with TTL / delete / bulk load / clear a namespace.

redis-py with the hiredis parser is gevent-friendly once Locust has monkey-patched sockets.
Clearing uses SCAN MATCH <namespace>:* + UNLINK in batches: never FLUSHDB or FLUSHALL.

A `redis+cluster://` (or `rediss+cluster://`) URL is a Redis cluster (ElastiCache "cluster mode
enabled": its configuration endpoint, or any node): redis-py's RedisCluster, which sends each
command to the primary of its key's slot and follows MOVED/ASK. Every call here names one key
(a Lua script one KEYS[1]) or is split by slot (MGET as mget_nonatomic, pipelines, UNLINK, SCAN
over every primary), so keys spread over the shards with no hash tags.

A `redis+sentinel://host:26379[,host:26379]/SERVICE[/db]` URL is a primary that Redis Sentinel
watches (as an ElastiCache primary endpoint follows a failover): every connection asks a sentinel
for the primary's address when it connects, so after a failover a user's next connection goes to
the new primary; a demoted primary's READONLY reply counts as a lost connection (redis-py).
"""

from __future__ import annotations

import hashlib
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from .lease import lease_key
from .targets import parse_sentinel


class CacheError(Exception):
    """Redis cannot be used; str() says why and what to do."""


class CacheUnavailable(Exception):
    """Redis did not answer (down, unreachable, timed out) during a run."""


RETRY_AFTER_S = 1.0
FIRST_BACKOFF_S = 0.05  # a waiting user's first reconnect delay; doubled per failure up to RETRY_AFTER_S
# SET only if the cached value is not newer (write policy `versioned`): the version of a cached
# value is its `version` field (products) or the sum of its star counters (restaurant summaries)
DELETE_IF = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
VERSIONED_SET = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local ok, doc = pcall(cjson.decode, cur)
  if ok and type(doc) == 'table' then
    local v = tonumber(doc['version'])
    if v == nil and type(doc['restaurant']) == 'table' then
      v = 0
      for _, f in ipairs({'one_stars', 'two_stars', 'three_stars', 'four_stars', 'five_stars'}) do
        v = v + (tonumber(doc['restaurant'][f]) or 0)
      end
    end
    if v ~= nil and v > tonumber(ARGV[2]) then return 0 end
  end
end
if ARGV[3] == '' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3]) end
return 1
"""
# a value and the milliseconds it has left, in one round trip (early refresh)
GET_WITH_TTL = "return {redis.call('GET', KEYS[1]), redis.call('PTTL', KEYS[1])}"
SHA = {script: hashlib.sha1(script.encode()).hexdigest() for script in (VERSIONED_SET, GET_WITH_TTL)}


CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}


def is_cluster(url: str) -> bool:
    return url.split("://", 1)[0] in CLUSTER_SCHEMES


def node_url(url: str) -> str:
    """A cluster URL as redis-py's RedisCluster takes it (redis:// or rediss://); others unchanged."""
    scheme, sep, rest = url.partition("://")
    return CLUSTER_SCHEMES.get(scheme, scheme) + sep + rest


def is_sentinel(url: str) -> bool:
    return url.startswith("redis+sentinel://")


def mget(client, keys):
    """MGET on a redis-py client: split by slot on a cluster (its keys need not share a slot)."""
    return client.mget_nonatomic(keys) if isinstance(client, redis.RedisCluster) else client.mget(keys)


def _px(ttl) -> int | None:
    """A TTL in seconds (fractions kept: jittered or sub-second TTLs) as Redis PX milliseconds."""
    return None if ttl is None else max(1, int(ttl * 1000))
# (a cluster that lost a shard's primary answers CLUSTERDOWN until a replica takes over)
_UNREACHABLE = (redis.ConnectionError, redis.TimeoutError, OSError, redis.exceptions.ClusterDownError,
                redis.exceptions.SlotNotCoveredError)


class RedisCache:
    def __init__(self, url: str, password: str = "", pool_size: int = 64, timeout: float = 5.0,
                 ca_cert: str = ""):
        self.url = url
        self.conn_kwargs = dict(socket_timeout=timeout, socket_connect_timeout=timeout)
        if password:
            self.conn_kwargs["password"] = password
        if ca_cert:
            self.conn_kwargs["ssl_ca_certs"] = ca_cert
        self.cluster = is_cluster(url)
        self.pool, self._unusable, self.sentinel = None, None, None
        if is_sentinel(url):
            hosts, self.service, db, url_password = parse_sentinel(url)
            if url_password and not password:
                self.conn_kwargs["password"] = url_password
            self.conn_kwargs["db"] = db
            self.sentinel = Sentinel(hosts, socket_timeout=timeout, socket_connect_timeout=timeout)
            self.client = self.sentinel.master_for(self.service, **self.conn_kwargs)
            self.pool = self.client.connection_pool
        elif self.cluster:  # RedisCluster asks a node for the slots at once: a failure is check()'s to tell
            try:
                # (no cap on its connections per node: its users share it, one connection each per node)
                self.client = redis.RedisCluster.from_url(node_url(url), **self.conn_kwargs)
            except Exception as e:
                self.client, self._unusable = None, e
        else:
            self.pool = redis.BlockingConnectionPool.from_url(url, max_connections=pool_size, timeout=timeout,
                                                              **self.conn_kwargs)
            self.client = redis.Redis(connection_pool=self.pool)
        if self.client is not None:
            self.get, self.delete = self.client.get, self.client.delete

    def check(self, where: str) -> None:
        """Ping once; raise CacheError with the fix if Redis cannot be used (a cluster given as one
        Redis, or one Redis given as a cluster, included)."""
        try:
            if self._unusable is not None:
                if "cluster mode is not enabled" in str(self._unusable).lower():
                    raise CacheError(f"Redis at {where} is not a cluster (cluster mode is disabled): write its URL "
                                     "as redis:// or rediss://, not redis+cluster://") from None
                raise self._unusable
            self.client.ping()
            if not self.cluster and _cluster_enabled(self.client):
                raise CacheError(f"Redis at {where} runs in cluster mode (it would answer MOVED for most keys): "
                                 "write its URL as redis+cluster://host:port (rediss+cluster:// with TLS)")
        except CacheError:
            raise
        except redis.sentinel.MasterNotFoundError as e:
            raise CacheError(f"the sentinels of {where} know no reachable primary ({e}): check that they run and "
                             "monitor that service name, or fix --redis-url") from None
        except redis.exceptions.RedisClusterException as e:
            if "CERTIFICATE" in str(e).upper() or "SSL" in str(e).upper():
                raise CacheError(f"TLS with the Redis cluster at {where} failed ({e}): give the CA that signed its "
                                 "nodes' certificates with --redis-ca-cert") from None
            raise CacheError(f"the Redis cluster at {where} cannot be used ({e}): check that every node is up "
                             "and the slots are covered (redis-cli --cluster check), or fix --redis-url") from None
        except redis.AuthenticationError:
            raise CacheError(f"Redis at {where} refused the password: fix it in --redis-url or set "
                             "CACHESWARM_REDIS_PASSWORD") from None
        except redis.ResponseError as e:
            if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
                raise CacheError(f"Redis at {where} needs a password: put it in --redis-url or set "
                                 "CACHESWARM_REDIS_PASSWORD") from None
            raise CacheError(f"Redis at {where} answered {e}: fix --redis-url") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            if "CERTIFICATE" in str(e).upper() or "SSL" in str(e).upper():
                raise CacheError(f"TLS with Redis at {where} failed ({e}): give the CA that signed its certificate "
                                 "with --redis-ca-cert") from None
            raise CacheError(f"cannot reach Redis at {where} ({e}): start it or fix --redis-url") from None

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self.client.set(key, value, px=_px(ttl))

    def bulk_load(self, items, ttl: int | None, batch: int = 1000, progress=None) -> int:
        """SET every (key, value) in pipelined batches; returns how many were set."""
        count = 0
        pipe = self.client.pipeline(transaction=False)
        for key, value in items:
            pipe.set(key, value, ex=ttl)
            count += 1
            if count % batch == 0:
                pipe.execute()
                if progress:
                    progress(batch)
        left = len(pipe)
        pipe.execute()
        if progress and left:
            progress(left)
        return count

    def clear(self, namespace: str, batch: int = 1000, keep: tuple = ()) -> int:
        """UNLINK every key under `<namespace>:` but the run's lease (and those starting with one of
        `keep`); returns how many were removed."""
        removed = 0
        keys = []
        lease = lease_key(namespace).encode()
        keep = tuple(k.encode() for k in keep)
        for key in self.client.scan_iter(match=f"{namespace}:*", count=batch):
            if key == lease or (keep and key.startswith(keep)):
                continue
            keys.append(key)
            if len(keys) >= batch:
                removed += self.client.unlink(*keys)
                keys = []
        if keys:
            removed += self.client.unlink(*keys)
        return removed

    def primary(self) -> tuple | None:
        """(host, port) of the primary the sentinels name now; None without sentinels."""
        return None if self.sentinel is None else self.sentinel.discover_master(self.service)

    def fail_over(self) -> None:
        """Ask a sentinel to fail the primary over to a replica (SENTINEL FAILOVER: no agreement needed)."""
        self.sentinel.sentinels[0].execute_command("SENTINEL", "FAILOVER", self.service)

    def drop_clients_of(self, address: tuple) -> int:
        """CLIENT KILL TYPE normal on the server at `address` (a demoted primary): how many were closed."""
        node = redis.Redis(host=address[0], port=address[1], password=self.conn_kwargs.get("password"),
                           socket_timeout=self.conn_kwargs["socket_timeout"])
        try:
            return int(node.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"))
        finally:
            node.close()

    def delete_quietly(self, key: str) -> None:
        """DEL over the shared pool; a Redis that does not answer is ignored (a deferred delete)."""
        try:
            self.client.delete(key)
        except _UNREACHABLE:
            pass

    def close(self) -> None:
        if self.pool is not None:
            self.pool.disconnect()
        elif self.client is not None:
            self.client.close()

    def for_user(self, reader: "RedisCache | None" = None, wait_when_down: bool = False) -> "UserCache":
        """A cache with one connection of its own, for one Locust user (and one to `reader`, a
        replica, for its reads). `wait_when_down`: see UserCache.

        Checking a connection out of a shared pool costs redis-py a readiness poll per
        command; one connection per user measured ~1.5x the GETs/s of a shared pool here.
        """
        return UserCache(self._connector(), reader._connector() if reader is not None else None, wait_when_down,
                         shared=self.cluster)

    def _connector(self):
        if self.sentinel is not None:  # each user's connection asks a sentinel for the primary as it connects
            return lambda: redis.Redis(connection_pool=SentinelConnectionPool(
                self.service, self.sentinel, is_master=True, **self.conn_kwargs),
                single_connection_client=True, retry=Retry(NoBackoff(), 0))
        if self.cluster:  # the process's RedisCluster, shared: a client of its own per user would cost each
            # user the slots map and COMMAND's table (~10 ms here) and was no faster (9.2k vs 9.7k GET/s, 8 users)
            return lambda: self.client
        return lambda: redis.Redis.from_url(self.url, single_connection_client=True, retry=Retry(NoBackoff(), 0),
                                            **self.conn_kwargs)


def _cluster_enabled(client) -> bool:
    try:
        return client.info("cluster").get("cluster_enabled") == 1
    except redis.ResponseError:  # INFO refused (a managed service's renamed commands): not known, not refused
        return False


class UserCache:
    """get / set / delete over a single connection, opened on first use (so a Redis outage
    shows as failed operations, not as a user that cannot start).

    When Redis does not answer, every call raises CacheUnavailable at once for the next
    second (no connect attempt, so a black-holed host cannot freeze users for --op-timeout
    each time); then the next call reconnects, so cache use resumes within ~1 s of Redis
    coming back. That is cache-aside's circuit breaker: its reads go on to the database.

    With `wait_when_down` (cache-only, where Redis is all there is) a call waits out a reconnect
    backoff instead, as a real client's retry does (50 ms, doubled per failure up to 1 s), then
    tries once: an outage costs each user one failed operation per backoff, not thousands a
    second that never reached a server."""

    def __init__(self, connect, connect_reader=None, wait_when_down: bool = False, shared: bool = False):
        self._connect, self._connect_reader = connect, connect_reader
        # a cluster's client is the process's (shared: never closed here; it reconnects on its own) and
        # its MGET is one per slot
        self._shared = shared
        self._mget = "mget_nonatomic" if shared else "mget"
        self._client = self._reader = None
        self._fast = None  # the primary's client while a GET may skip _call: connected, up, no replica
        self._down_until = 0.0
        self.wait_when_down = wait_when_down
        self._backoff = FIRST_BACKOFF_S if wait_when_down else RETRY_AFTER_S

    def _call(self, method: str, *args, reader: bool = False, **kwargs):
        if self._down_until:
            left = self._down_until - time.monotonic()
            if left > 0:
                if not self.wait_when_down:
                    raise CacheUnavailable("Redis unavailable (retrying every second)")
                time.sleep(left)  # gevent-patched in Locust: the other users run meanwhile
            self._down_until = 0.0
        try:
            if reader and self._connect_reader is not None:
                client = self._reader
                if client is None:
                    client = self._reader = self._connect_reader()
            else:
                client = self._client
                if client is None:
                    client = self._client = self._connect()
            result = getattr(client, method)(*args, **kwargs)
        except _UNREACHABLE as e:
            raise self._lost(e) from None
        if method == "pipeline":  # (built locally: no answer yet)
            return result
        if self.wait_when_down:
            self._backoff = FIRST_BACKOFF_S
        if self._connect_reader is None:  # Redis answered and the backoff is back at its start
            self._fast = self._client
        return result

    def _lost(self, e: Exception) -> CacheUnavailable:
        """Redis could not be reached: no attempt for the backoff (RETRY_AFTER_S, or a waiting
        user's growing one), drop the connections."""
        self._down_until = time.monotonic() + self._backoff
        if self.wait_when_down:
            self._backoff = min(RETRY_AFTER_S, self._backoff * 2)
        self.close()
        return CacheUnavailable(f"Redis unavailable: {e}")

    def get(self, key: str):
        """GET from the replica when there is one (--redis-reader-url), else the primary. The hot
        path (connected, no backoff pending, no replica: one attribute, `_fast`) calls redis-py
        directly: it is every cache-only read, and _call's generality cost ~9% of a GET's instructions."""
        client = self._fast  # set by a call that succeeded, cleared when Redis is lost or closed
        if client is None:
            return self._call("get", key, reader=True)
        try:
            return client.get(key)
        except _UNREACHABLE as e:
            raise self._lost(e) from None

    def mget(self, keys: list[str]) -> list:
        """MGET (from the replica when there is one): values or None, in the keys' order."""
        return self._call(self._mget, keys, reader=True)

    def set_many(self, items: dict, ttl: float | None) -> None:
        """SET each key with its TTL, pipelined in one round trip."""
        pipe = self._call("pipeline", transaction=False)
        for key, value in items.items():
            pipe.set(key, value, px=_px(ttl))
        self._execute(pipe)

    def _execute(self, pipe):
        try:
            return pipe.execute()
        except _UNREACHABLE as e:
            raise self._lost(e) from None

    def get_primary(self, key: str):
        return self._call("get", key)

    def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._call("set", key, value, px=_px(ttl))

    def set_nx(self, key: str, seconds: float, token: bytes = b"1") -> bool:
        """SET NX PX: True if this call created the key (a lock holding `token`)."""
        return bool(self._call("set", key, token, nx=True, px=_px(seconds)))

    def delete_if(self, key: str, token: bytes) -> bool:
        """Compare-and-delete (one EVALSHA): DEL `key` only while it still holds `token`, so a lock
        that expired and was taken by another loader is never released by the first."""
        return bool(self._script(DELETE_IF, 1, key, token))

    def call(self, method: str, *args, **kwargs):
        """Any redis-py command on the primary (the Redis-native patterns: EXPIRE, SETEX, ZADD, ...)."""
        return self._call(method, *args, **kwargs)

    def pipelined(self, commands) -> list:
        """(method, *args) commands in one round trip, on the primary."""
        pipe = self._call("pipeline", transaction=False)
        for method, *args in commands:
            getattr(pipe, method)(*args)
        return self._execute(pipe)

    def script(self, script: str, *args):
        """EVALSHA a Lua script (EVAL the first time the server has not seen it)."""
        return self._script(script, *args)

    def _script(self, script: str, *args, reader: bool = False):
        sha = SHA.get(script) or SHA.setdefault(script, hashlib.sha1(script.encode()).hexdigest())
        try:
            return self._call("evalsha", sha, *args, reader=reader)
        except redis.exceptions.NoScriptError:  # not loaded yet, or Redis restarted: EVAL loads it
            return self._call("eval", script, *args, reader=reader)

    def get_with_ttl(self, key: str):
        """(value or None, milliseconds left or -1 without expiry / -2 when missing)."""
        value, left = self._script(GET_WITH_TTL, 1, key, reader=True)  # read-only: a replica runs it
        return value, int(left)

    def delete(self, key: str) -> None:
        self._call("delete", key)

    def ttl_ms(self, key: str) -> int:
        """PTTL: milliseconds left, -1 without expiry, -2 when the key is gone."""
        return int(self._call("pttl", key))

    def set_if_newer(self, key: str, value: bytes, ttl: float | None, version: int) -> bool:
        """SET unless the cached value has a higher version (one EVALSHA); True if it was set."""
        return bool(self._script(VERSIONED_SET, 1, key, value, version, "" if ttl is None else _px(ttl)))

    def close(self) -> None:
        for client in (self._client, self._reader):
            if client is not None and not self._shared:
                try:
                    client.close()
                except Exception:
                    pass
        self._client = self._reader = self._fast = None
