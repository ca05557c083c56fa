"""Test scaffolding: a Locust web UI process, private servers, fault injection."""

import json
import os
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager

from .conftest import BIN, MYSQL_URL, REDIS_URL, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url, data=None):
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    with urllib.request.urlopen(url, data=body, timeout=10) as r:
        return json.loads(r.read())


@contextmanager
def web_ui(namespace, cwd, *extra):
    """Locust's web UI on a free loopback port; yields (base URL, process). SIGTERM on exit."""
    port = free_port()
    proc = subprocess.Popen([str(BIN / "locust"), "-f", str(ROOT / "locustfiles" / "compare.py"), "--web-host",
                             "127.0.0.1", "--web-port", str(port), "--namespace", namespace, "--mysql-url", MYSQL_URL,
                             "--redis-url", REDIS_URL, *extra],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                http(base + "/stats/requests")
                break
            except OSError:
                time.sleep(0.2)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=60)


def start_redis(port, directory, *args):
    """A private redis-server on `port` (extra args e.g. TLS); returns (process, client)."""
    import shutil

    import redis

    tls = "--tls-port" in args
    cmd = [shutil.which("redis-server"), "--port", "0" if tls else str(port), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", str(directory), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kwargs = {"ssl": True, "ssl_ca_certs": args[args.index("--tls-ca-cert-file") + 1]} if tls else {}
    client = redis.Redis(host="127.0.0.1", port=port, **kwargs)
    for _ in range(100):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("private redis-server did not start")


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca_and_server_cert(d):
    """A throwaway CA (ca.pem) and a server certificate for 127.0.0.1 (server.pem, server.key) in `d`."""
    d.mkdir(parents=True, exist_ok=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=cacheswarm test CA",
            "-keyout", "ca.key", "-out", "ca.pem", cwd=d)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "1", "-extfile", "san.ext", "-out", "server.pem", cwd=d)
    return d


class PrivateMariaDB:
    """A mariadbd of the test's own (own datadir, spare port), which the test may kill and restart."""

    def __init__(self, tmp_path, *server_args, wrap=(), host="127.0.0.1", port=None):
        """`wrap` prefixes the server's command (e.g. `ip netns exec NS`), which then listens on host:port."""
        self.server_args, self.wrap, self.host = server_args, list(wrap), host
        self.dir = tmp_path / "mariadb"
        self.port = port or free_port()
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={self.dir / 'data'}",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, capture_output=True)
        self.proc = None
        self.start()
        self.sql("CREATE DATABASE IF NOT EXISTS test")

    @property
    def url(self):
        return f"mysql://root@{self.host}:{self.port}/test"

    def start(self):
        self.proc = subprocess.Popen(
            [*self.wrap, "/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.dir / 'data'}", f"--port={self.port}",
             f"--bind-address={self.host}", f"--socket={self.dir / 'sock'}", f"--pid-file={self.dir / 'pid'}",
             "--user=root", "--innodb-buffer-pool-size=64M", f"--log-error={self.dir / 'err.log'}",
             *self.server_args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                self.sql("SELECT 1")
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("private mariadbd did not start")

    def sql(self, statement):
        import pymysql

        # over the socket: works whatever the server demands of TCP clients (e.g. TLS)
        conn = pymysql.connect(unix_socket=str(self.dir / "sock"), user="root", autocommit=True, connect_timeout=2)
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall()

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


def fault(events: dict, steps, when=None, timeout: float = 60) -> threading.Thread:
    """In a thread: wait until `when()` holds (e.g. the phase has filled the cache; at most
    `timeout` s), then run each (delay seconds, event name, action) in turn; events[name] records
    when each action ran (or what it returned, if anything)."""
    def run():
        deadline = time.time() + timeout
        while when is not None and time.time() < deadline and not when():
            time.sleep(0.05)
        for delay, name, action in steps:
            time.sleep(delay)
            result = action()
            events[name] = result if result is not None else time.time()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    return worker


class PrivatePostgres:
    """A PostgreSQL server of the test's own: initdb'd as the postgres user (PostgreSQL refuses to run
    as root) in a directory of its own, on a spare loopback port, database `test`; stopped and removed."""

    def __init__(self, *conf_lines, hba=("host all all 127.0.0.1/32 trust",), files=()):
        import glob
        import shutil
        import tempfile
        from pathlib import Path

        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="csw-pg-"))
        self.port = free_port()
        subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
        self._as_postgres(str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres")
        for f in files:  # e.g. a server key and certificate, in the data directory: the server's alone to read
            shutil.copy(f, self.dir / "data")
            os.chmod(self.dir / "data" / Path(f).name, 0o600)
        subprocess.run(["chown", "-R", "postgres", str(self.dir)], check=True)
        with open(self.dir / "data" / "postgresql.conf", "a") as conf:
            conf.write("\n".join((f"port = {self.port}", "listen_addresses = '127.0.0.1'",
                                  f"unix_socket_directories = '{self.dir}'", "fsync = off", *conf_lines)) + "\n")
        (self.dir / "data" / "pg_hba.conf").write_text("local all all trust\n" + "\n".join(hba) + "\n")
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"), "-l", str(self.dir / "log"),
                          "-w", "start")
        self.sql("CREATE DATABASE test")

    def _as_postgres(self, *cmd):
        subprocess.run(["runuser", "-u", "postgres", "--", *cmd], check=True, capture_output=True, timeout=120)

    def sql(self, statement, database="postgres"):
        return subprocess.run(["psql", "-h", str(self.dir), "-p", str(self.port), "-U", "postgres", "-d", database,
                               "-Atc", statement], check=True, capture_output=True, text=True).stdout

    def stop(self):
        import shutil

        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D", str(self.dir / "data"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def contexts_built(connect, n: int = 20) -> tuple[list, list]:
    """(the TLS contexts built, the connections) of n calls of connect(): a driver left to itself
    builds one per connection (loading the CA store: ~20 ms of blocking CPU each)."""
    import ssl

    built = []
    real = ssl.create_default_context

    def counting(*args, **kwargs):
        built.append(args or kwargs)
        return real(*args, **kwargs)

    ssl.create_default_context = counting
    try:
        return built, [connect() for _ in range(n)]
    finally:
        ssl.create_default_context = real


class DelayProxy:
    """A TCP proxy on loopback that holds every chunk for `delay_s` in each direction: a far region's
    round trip (2 x delay_s) for a client that talks to `target_port` through it. Threads; stop() ends it."""

    def __init__(self, target_port: int, delay_s: float):
        self.target_port, self.delay_s = target_port, delay_s
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src, dst) -> None:
        import queue

        held: queue.Queue = queue.Queue()

        def send():
            while True:
                due, data = held.get()
                if data is None:
                    dst.close()
                    return
                time.sleep(max(0.0, due - time.monotonic()))
                try:
                    dst.sendall(data)
                except OSError:
                    return

        threading.Thread(target=send, daemon=True).start()
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            held.put((time.monotonic() + self.delay_s, data or None))
            if not data:
                return

    def stop(self) -> None:
        self.stopped.set()
        self.server.close()


class LocalRedisCluster:
    """A Redis cluster of `primaries` primaries with `replicas` replicas each, on spare loopback
    ports (each port's cluster bus, port + 10000, spare too), nothing on disk; `redis-cli --cluster
    create` assigns the slots. `url` is its redis+cluster:// address (any node; here the first)."""

    def __init__(self, directory, primaries: int = 3, replicas: int = 1, password: str = "", tls=None):
        """`tls`: a directory from make_ca_and_server_cert: every node (and the cluster bus) on TLS only."""
        import shutil

        import redis

        self.directory, self.procs, self.ports = directory, [], []
        os.makedirs(directory, exist_ok=True)
        while len(self.ports) < primaries * (1 + replicas):
            port = free_port()
            if port + 10000 < 65536 and port not in self.ports and _port_free(port + 10000):
                self.ports.append(port)
        for port in self.ports:
            self.procs.append(subprocess.Popen(
                [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                 "--appendonly", "no", "--dir", str(directory), "--cluster-enabled", "yes",
                 "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "2000",
                 *(["--requirepass", password, "--masterauth", password] if password else []),
                 *([] if tls is None else ["--port", "0", "--tls-port", str(port), "--tls-cluster", "yes",
                                           "--tls-replication", "yes", "--tls-cert-file", str(tls / "server.pem"),
                                           "--tls-key-file", str(tls / "server.key"),
                                           "--tls-ca-cert-file", str(tls / "ca.pem"), "--tls-auth-clients", "no"])],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        secure = {} if tls is None else {"ssl": True, "ssl_ca_certs": str(tls / "ca.pem")}
        self.nodes = [redis.Redis(host="127.0.0.1", port=p, password=password or None, **secure) for p in self.ports]
        try:
            for node in self.nodes:
                _wait(node.ping)
            subprocess.run(["redis-cli", "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
                            "--cluster-replicas", str(replicas), "--cluster-yes", *(["-a", password] if password else []),
                            *([] if tls is None else ["--tls", "--cacert", str(tls / "ca.pem")])],
                           check=True, capture_output=True, timeout=60)
            for node in self.nodes:
                _wait(lambda n=node: b"cluster_state:ok" in n.execute_command("CLUSTER", "INFO"))
            _wait(lambda: self.replicas_synced(replicas))
        except Exception:
            self.stop()
            raise
        self.url = f"{'redis' if tls is None else 'rediss'}+cluster://127.0.0.1:{self.ports[0]}"

    def replicas_synced(self, replicas: int):
        roles = [n.info("replication") for n in self.nodes]
        return sum(1 for r in roles if r["role"] == "master" and r.get("connected_slaves", 0) >= replicas) \
            == len(self.nodes) // (1 + replicas) or None

    def primaries(self):
        """The primaries' redis-py clients, by 'host:port'."""
        return {f"127.0.0.1:{p}": n for p, n in zip(self.ports, self.nodes) if n.info("replication")["role"] == "master"}

    def owner(self, key: str) -> str:
        """'host:port' of the primary that holds `key`'s slot."""
        from redis.crc import key_slot

        slot = key_slot(key.encode())
        for first, last, primary, *_ in self.nodes[0].execute_command("CLUSTER", "SLOTS"):
            if first <= slot <= last:
                return f"{primary[0].decode()}:{primary[1]}"
        raise KeyError(key)

    def stop(self):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait(timeout=10)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wait(check, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as e:  # not up yet
            last = e
        time.sleep(0.05)
    raise RuntimeError(f"the local Redis cluster did not come up ({last})")


class SentinelPair:
    """A Redis primary and its replica on spare loopback ports, watched by one Redis Sentinel (quorum
    1: SENTINEL FAILOVER needs no agreement), nothing on disk. `url` is its redis+sentinel:// address."""

    SERVICE = "cswprimary"

    def __init__(self, directory):
        import shutil

        import redis

        os.makedirs(directory, exist_ok=True)
        binary = shutil.which("redis-server")
        self.ports = [free_port(), free_port(), free_port()]
        primary, replica, sentinel = self.ports
        common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(directory)]
        self.procs = [subprocess.Popen([binary, "--port", str(primary), *common], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL),
                      subprocess.Popen([binary, "--port", str(replica), "--replicaof", "127.0.0.1", str(primary),
                                        *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
        conf = os.path.join(str(directory), "sentinel.conf")
        with open(conf, "w") as f:
            f.write(f"port {sentinel}\nbind 127.0.0.1\ndir {directory}\n"
                    f"sentinel monitor {self.SERVICE} 127.0.0.1 {primary} 1\n"
                    f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
                    f"sentinel failover-timeout {self.SERVICE} 5000\n")
        self.procs.append(subprocess.Popen([binary, conf, "--sentinel"], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        self.nodes = [redis.Redis(host="127.0.0.1", port=p) for p in (primary, replica)]
        self.sentinel = redis.Redis(host="127.0.0.1", port=sentinel, decode_responses=True)
        try:
            _wait(lambda: self.nodes[1].info("replication").get("master_link_status") == "up")
            _wait(lambda: len(self.sentinel.execute_command("SENTINEL", "REPLICAS", self.SERVICE)) == 1)
        except Exception:
            self.stop()
            raise
        self.url = f"redis+sentinel://127.0.0.1:{sentinel}/{self.SERVICE}"

    def primary_port(self) -> int:
        return int(self.sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)[1])

    def stop(self):
        for proc in self.procs:
            proc.kill()
        for proc in self.procs:
            proc.wait(timeout=10)


class MariaDBPair:
    """A MariaDB primary and its standby (asynchronous replication, binary logs on both, the standby
    read-only), each a PrivateMariaDB on a spare loopback port, with the general log in a table so a
    test can see which server each client statement reached. `url` names both (primary first)."""

    def __init__(self, tmp_path):
        common = ("--log-bin=binlog", "--general-log=ON", "--log-output=TABLE")
        for name in "ab":
            os.makedirs(tmp_path / name, exist_ok=True)
        self.servers = [PrivateMariaDB(tmp_path / "a", *common, "--server-id=1"),
                        PrivateMariaDB(tmp_path / "b", *common, "--server-id=2", "--read-only=ON")]
        primary, standby = self.servers
        try:
            standby.sql(f"CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT={primary.port}, MASTER_USER='root', "
                        "MASTER_PASSWORD=''")
            standby.sql("START SLAVE")
            _wait(lambda: self.replicating(standby))
        except Exception:
            self.stop()
            raise
        self.url = f"mysql://root@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/test"

    @staticmethod
    def replicating(server) -> bool:
        import pymysql

        conn = pymysql.connect(unix_socket=str(server.dir / "sock"), user="root", autocommit=True,
                               cursorclass=pymysql.cursors.DictCursor)
        with conn, conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            row = cur.fetchone()
        return bool(row) and row["Slave_IO_Running"] == "Yes" and row["Slave_SQL_Running"] == "Yes"

    def stop(self):
        for server in self.servers:
            server.stop()
