"""Compare db-only, cache-only and cache-aside, one phase each, in one run.

    locust -f locustfiles/compare.py --headless -u 50 -r 50 --phase-time 30s
    locust --config scenarios/quick.conf
"""

from cacheswarm.locust_glue import CacheAsideUser, CacheOnlyUser, ComparePhases, DbOnlyUser  # noqa: F401
