"""The Locust-aware code, one module per role (nothing outside this package imports Locust):

    locustfile.py  what Locust loads: the users, the shape, the listeners
    run.py         a run's life: options on Locust's parser, init, start, workers' reports, end, exit code
    users.py       one Locust user class per phase a run can have
    shape.py       the phase shape (Locust's LoadTestShape) driven by the phase plan
    state.py       what one process knows about the current run
    objectives.py  objectives and capacity steps: step messages, waiting for workers, exit code 4
    reports.py     a run's report from Locust's side (run facts, windows, Locust CSV/HTML)
    stats.py       Locust's stats fed once per task
    web.py         the web UI: the start form without secrets, the live µs tab
    process.py     signals, forked workers, Locust's spawn lines
    namespace.py   the namespace lease, taken and released with a run
    probe.py       the replication lag probe's greenlet
"""
