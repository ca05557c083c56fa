"""The Redis cache adapter: get / set with TTL / delete / bulk load / clear a namespace.

redis-py with the hiredis parser is gevent-friendly once Locust has monkey-patched sockets.
Clearing uses SCAN MATCH <namespace>:* + UNLINK in batches: never FLUSHDB or FLUSHALL.
"""

from __future__ import annotations

import redis


class CacheError(Exception):
    """Redis cannot be used; str() says why and what to do."""


class RedisCache:
    def __init__(self, url: str, password: str = "", pool_size: int = 64, timeout: float = 5.0):
        kwargs = dict(max_connections=pool_size, timeout=timeout, socket_timeout=timeout,
                      socket_connect_timeout=timeout)
        if password:
            kwargs["password"] = password
        self.pool = redis.BlockingConnectionPool.from_url(url, **kwargs)
        self.client = redis.Redis(connection_pool=self.pool)
        self.get = self.client.get
        self.delete = self.client.delete

    def check(self, where: str) -> None:
        """Ping once; raise CacheError with the fix if Redis cannot be used."""
        try:
            self.client.ping()
        except redis.AuthenticationError:
            raise CacheError(f"Redis at {where} refused the password: fix it in --redis-url or set "
                             "CACHESWARM_REDIS_PASSWORD") from None
        except redis.ResponseError as e:
            if "NOAUTH" in str(e) or "WRONGPASS" in str(e):
                raise CacheError(f"Redis at {where} needs a password: put it in --redis-url or set "
                                 "CACHESWARM_REDIS_PASSWORD") from None
            raise CacheError(f"Redis at {where} answered {e}: fix --redis-url") from None
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            raise CacheError(f"cannot reach Redis at {where} ({e}): start it or fix --redis-url") from None

    def set(self, key: str, value: bytes, ttl: int | None) -> None:
        self.client.set(key, value, ex=ttl)

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

    def clear(self, namespace: str, batch: int = 1000) -> int:
        """UNLINK every key under `<namespace>:`; returns how many were removed."""
        removed = 0
        keys = []
        for key in self.client.scan_iter(match=f"{namespace}:*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                removed += self.client.unlink(*keys)
                keys = []
        if keys:
            removed += self.client.unlink(*keys)
        return removed

    def close(self) -> None:
        self.pool.disconnect()
