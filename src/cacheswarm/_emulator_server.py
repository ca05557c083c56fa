"""The embedded emulator's server process: moto's DynamoDB app behind werkzeug, one request
at a time, without a log line per request.

moto's server handles requests in threads, but its backend is not thread-safe: concurrent
TransactWriteItems answer 500 (seen with 4 users). A lock around the app keeps keep-alive
connections and concurrent I/O while moto's own work runs serially (it is bound by the GIL
anyway). Usage: python -m cacheswarm._emulator_server HOST PORT [WORKDIR PARENT_PID]

The server exits when the process that started it is gone, however that process ended (even
SIGKILL): a thread watches for PARENT_PID to stop being its parent. WORKDIR (its working
directory, created by the parent) is removed when it exits, so nothing is left behind.
"""

import logging
import os
import shutil
import signal
import sys
import threading
import time

from werkzeug.serving import run_simple


def watch_parent(parent: int) -> None:
    """In a thread: SIGTERM ourselves (exit through main's finally) once the parent is gone."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)


def main(host: str, port: int) -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:  # moto's own server module, minus its per-thread free-for-all (checked with moto 5)
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    except ImportError:  # a moto that moved these: its plain server (requests not serialised)
        from moto.server import main as moto_main

        moto_main(["-H", host, "-p", str(port)])
        return
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            return app(environ, start_response)

    run_simple(host, port, serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    # before moto's slow imports: SIGTERM (from the parent, or the kernel when the parent dies)
    # exits through the finally below; Ctrl-C at a terminal is the parent's to handle
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if len(sys.argv) > 4:
        threading.Thread(target=watch_parent, args=(int(sys.argv[4]),), daemon=True).start()
    try:
        main(sys.argv[1], int(sys.argv[2]))
    finally:
        if len(sys.argv) > 3:
            shutil.rmtree(sys.argv[3], ignore_errors=True)
