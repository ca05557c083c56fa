"""A server the run starts as a child process on a free loopback port, with a temp dir of its own
(the embedded DynamoDB emulator, the private Redis): how it is stopped and cleaned up."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess


def die_with_parent() -> None:
    """preexec_fn: the kernel sends the child SIGTERM when the thread that forked it ends (so fork
    from the main thread, which lives as long as the process)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChildServer:
    proc: subprocess.Popen | None = None
    workdir: str | None = None

    def stop(self) -> None:
        """Terminate it (kill after 10 s) and remove its directory; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
