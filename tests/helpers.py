"""Starting a Locust web UI process for tests."""

import json
import socket
import subprocess
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
