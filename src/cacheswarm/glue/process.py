"""The glue's hold on the process: signals, forked workers, Locust's spawn lines."""

from __future__ import annotations

import logging

import gevent
import psutil

log = logging.getLogger("cacheswarm")


def stop_on_signals(STATE, signals) -> None:
    """Ctrl-C (and, headless, SIGTERM: Locust installs its own handler only after a shape run
    returns) stop the run the way Locust's Ctrl-C path does: KeyboardInterrupt in the main
    greenlet, never in whichever user greenlet happened to run (Python's default handler), so no
    traceback; our quitting listener writes what was measured, marked partial. A second signal
    while stopping is ignored: it would otherwise break off the report being written."""
    main = gevent.getcurrent()

    def handler(name):
        def on_signal():
            if STATE.stopping:
                log.warning("cacheswarm: %s: already stopping; writing the report of what was measured", name)
                return
            STATE.stopping = True
            STATE.incomplete_reason = STATE.incomplete_reason or f"stopped by {name}"
            log.info("cacheswarm: %s: stopping and writing what was measured", name)
            main.throw(KeyboardInterrupt)
        return on_signal

    for sig in signals:
        gevent.signal_handler(sig, handler(sig.name))


def stop_forked_workers() -> None:
    """--processes forks workers before init; Locust's own exit path misses running children
    (its waitpid(WNOHANG) loop treats 'still running' as exited), leaving them for 60 s."""
    for child in psutil.Process().children():
        child.kill()  # nothing to save yet; Locust's atexit handler reaps them


def quiet_spawn_lines(record) -> bool:
    """Locust logs every phase's spawn as 'All users spawned: {...}' (hundreds of characters);
    our own line says which phase runs."""
    return not str(record.msg).startswith(("All users spawned", "Ramping to"))
