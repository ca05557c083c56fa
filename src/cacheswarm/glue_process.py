"""The glue's hold on the process: signals, forked workers, Locust's spawn lines, the namespace
lease. Locust-aware (gevent signal handling); the lease itself is lease.py.
"""

from __future__ import annotations

import logging

import gevent
import psutil

from . import catalog, options, replication
from .runtime import keeps_state_in_redis
from .lease import NamespaceBusy, NamespaceLease, describe_holder

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


def take_lease(STATE) -> None:
    """Hold the namespace for the run (runs that keep state in Redis): a second run on it is refused."""
    s = STATE.settings
    if not keeps_state_in_redis(s):
        return
    if STATE.lease is not None and STATE.lease.held and STATE.lease.namespace == s.namespace:
        return
    release_lease(STATE)
    lease = NamespaceLease(STATE.runtime.cache.client, s.namespace, describe_holder(s.run_name))
    try:
        lease.acquire()
    except NamespaceBusy:
        raise
    except Exception as e:  # Redis refuses the write (out of memory, a read-only replica, an ACL)
        log.warning("cacheswarm: could not take the lease on namespace '%s' (%s); running without it: another run "
                    "on this namespace would not be refused", s.namespace, options.redact_url(str(e)))
        return
    STATE.lease = lease
    gevent.spawn(lease.keep, gevent.sleep)


def start_lag_probe(STATE) -> None:
    """With a reader endpoint, probe its replication lag every 100 ms while phases run (one
    greenlet per runtime: a runtime rebuilt with other options gets a new probe)."""
    rt = STATE.runtime
    if STATE.probe is not None:
        if STATE.probe[0] is rt:
            return
        STATE.probe[1].kill(block=False)
        STATE.probe = None
    if rt is None or (rt.reader_cache is None and not rt.readers):
        return
    probe = replication.LagProbe(STATE.settings.namespace,
                                 (rt.cache.client, rt.reader_cache.client) if rt.reader_cache is not None else None,
                                 {name: (catalog.BACKENDS[name].hooks(), rt.pools[name], reader)
                                  for name, reader in rt.readers.items()}, gevent.sleep)
    STATE.probe = (rt, gevent.spawn(probe.run, lambda: STATE.plan.running if STATE.plan is not None else None))


def release_lease(STATE) -> None:
    if STATE.lease is not None:
        try:
            STATE.lease.release()
        except Exception as e:  # Redis gone: the lease expires by itself
            log.warning("cacheswarm: could not release the namespace lease (%s); it expires by itself", e)
        STATE.lease = None
