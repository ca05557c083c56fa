"""A private redis-server the run starts itself (`--redis-maxmemory`): a cache smaller than the
keyspace, to watch eviction, without touching the configuration of a Redis the suite did not start.

It listens on a free loopback port, keeps nothing on disk (no RDB, no AOF, its own temp dir)
and is stopped at exit; the kernel stops it too if this process dies (PR_SET_PDEATHSIG: it is
started from the main thread, which lives as long as the process).
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import time

import redis

from .child_server import ChildServer, die_with_parent, free_port

POLICY = "allkeys-lru"  # as the ElastiCache parameter group of the AWS caching recipe


class EmbeddedRedisError(Exception):
    """The private Redis could not be started; str() says why and what to do."""


class EmbeddedRedis(ChildServer):
    def __init__(self, maxmemory: str, startup_timeout: float = 10.0):
        self.maxmemory = maxmemory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.startup_timeout = startup_timeout
        self.proc = None
        self.workdir = None

    def start(self) -> "EmbeddedRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            raise EmbeddedRedisError("--redis-maxmemory starts a private redis-server, and none is installed: "
                                     "apt-get install redis-server, or drop --redis-maxmemory and point --redis-url at a "
                                     "Redis with its own maxmemory")
        self.workdir = tempfile.mkdtemp(prefix="cacheswarm-redis-")
        atexit.register(self.stop)
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir, "--maxmemory", self.maxmemory, "--maxmemory-policy", POLICY],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + self.startup_timeout
        try:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise EmbeddedRedisError(f"the private redis-server exited at start (code {self.proc.returncode}): "
                                             f"is --redis-maxmemory {self.maxmemory!r} a size Redis accepts?")
                try:
                    client.ping()
                    return self
                except redis.ConnectionError:
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        raise EmbeddedRedisError(f"the private redis-server did not answer on 127.0.0.1:{self.port} within "
                                 f"{self.startup_timeout:.0f}s")

