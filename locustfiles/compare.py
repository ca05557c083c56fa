"""Compare db-only, cache-only and cache-aside (x backend x dataset), one phase each, in one run.

    locust -f locustfiles/compare.py --headless -u 50 -r 50 --phase-time 30s
    locust -f locustfiles/compare.py --headless --backend mysql,dynamodb --dataset products,restaurants
    locust --config scenarios/quick.conf
"""

from cacheswarm.glue.locustfile import *  # noqa: F401,F403  (one user class per phase + the phase shape)
