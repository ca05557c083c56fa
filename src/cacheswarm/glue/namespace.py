"""The namespace lease from Locust's side: taken when a run starts (a second run on the namespace is
refused), kept by a greenlet, released when the run ends. The lease itself is cacheswarm/lease.py."""

from __future__ import annotations

import logging

import gevent

from .. import options
from ..lease import NamespaceBusy, NamespaceLease, describe_holder
from ..runtime import keeps_state_in_redis

log = logging.getLogger("cacheswarm")


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


def release_lease(STATE) -> None:
    if STATE.lease is not None:
        try:
            STATE.lease.release()
        except Exception as e:  # Redis gone: the lease expires by itself
            log.warning("cacheswarm: could not release the namespace lease (%s); it expires by itself", e)
        STATE.lease = None
