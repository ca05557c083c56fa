"""The replication lag probe from Locust's side: one greenlet per runtime while phases run
(replication.py probes; a database's own statements are its module's)."""

from __future__ import annotations

import gevent

from .. import catalog, replication


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
