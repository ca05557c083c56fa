"""The embedded DynamoDB emulator: a moto server child process on a free loopback port.

`--dynamodb-endpoint embedded`: start it, wait until it answers, stop it at exit. It is a real
HTTP server speaking the DynamoDB API, so the suite talks to it over real connections, as it
would to DynamoDB Local or AWS.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

from .child_server import ChildServer, free_port


class EmulatorError(Exception):
    """The emulator could not be started; str() says why and what to do."""


class DynamoDBEmulator(ChildServer):
    def __init__(self, port: int | None = None, startup_timeout: float = 30.0):
        self.port = port or free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.workdir: str | None = None

    def start(self) -> "DynamoDBEmulator":
        if importlib.util.find_spec("moto") is None or importlib.util.find_spec("moto.server") is None:
            raise EmulatorError("the embedded DynamoDB emulator needs moto's server: pip install 'moto[server]' "
                                "or point --dynamodb-endpoint at DynamoDB Local")
        # moto's server may write files (e.g. moto_recording) into its working directory: give it its own
        # The child removes this directory itself when it exits (see _emulator_server), so it goes
        # with the emulator even when this process is killed.
        self.workdir = tempfile.mkdtemp(prefix="cacheswarm-dynamodb-")
        # its log goes to a file: a pipe nobody reads fills up (64 KiB of request lines) and then
        # blocks every request the server handles
        self.log_path = os.path.join(self.workdir, "emulator.log")
        atexit.register(self.stop)
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "cacheswarm._emulator_server", "127.0.0.1", str(self.port), self.workdir,
                 str(os.getpid())],
                stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                with open(self.log_path, encoding="utf-8", errors="replace") as f:
                    err = f.read().strip().splitlines()[-1:]
                raise EmulatorError(f"the DynamoDB emulator exited at start ({' '.join(err) or 'no output'})")
            if self.answers():
                return self
            time.sleep(0.1)
        self.stop()
        raise EmulatorError(f"the DynamoDB emulator did not answer on {self.endpoint} within "
                            f"{self.startup_timeout:.0f}s")

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False


    def __enter__(self) -> "DynamoDBEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
