"""Options of a run against a DynamoDB global table: its regions, each user's home region, each
region's Redis and, in the embedded emulation, the replication lag; their validation.

Plain Python. A run with --dynamodb-regions puts every DynamoDB user in a home region: its reads and
writes go to that region's replica and its cache is that region's Redis (ElastiCache is regional),
so each phase's figures are per region (regions.py; the report's backend is dynamodb@REGION).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from .catalog import REGION_SEP, REGION_VARIANTS
from .optbase import BadInput, Opt
from .targets import _check_redis_url

REGION_NAME = r"[a-z]{2}(-gov)?-[a-z]+-\d"  # us-east-1, eu-west-1, ap-southeast-1, us-gov-west-1
MAX_REGIONS = 3  # what the emulation starts (one DynamoDB Local each), and a multi-region strong table's count
LAST_DB = 15  # redis-server's default `databases 16`: one URL gives region i the database db + i

REGION_OPTIONS = (
    Opt("--dynamodb-regions", "", "DynamoDB global table: comma list of 2-3 regions (e.g. us-east-1,eu-west-1); "
        "each user has a home region whose replica and Redis it uses, and every phase is reported per region"),
    Opt("--home-region", "", "with --dynamodb-regions: the region of this process's users (e.g. a worker on EC2 in "
        "eu-west-1); default: users take the regions in turn"),
    Opt("--replication-lag", "", "with --dynamodb-regions on the embedded emulator: the lag its replicator holds "
        "each write for, e.g. 100ms or 20ms..150ms (default 40ms)"),
)


@dataclass(frozen=True)
class RegionSettings:
    """The options above, validated: Settings.regions (empty `names`: a single-region run)."""
    names: tuple[str, ...] = ()
    home: str = ""
    lag: str = ""  # as given (regions.py draws from it); "" on AWS
    redis_urls: dict = field(default_factory=dict, repr=False)  # region -> its Redis URL

    def backend(self, region: str) -> str:
        return f"dynamodb{REGION_SEP}{region}"


def split_redis_url(ns) -> tuple[str, dict]:
    """--redis-url -> (the run's Redis URL: the first region's, for the lease and shared state;
    {region: URL} when it is given as REGION=URL,...). Plain URLs pass through (checked by the caller)."""
    text = str(getattr(ns, "redis_url", "") or "")
    if "=" not in text.split("://", 1)[0]:
        return text, {}
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all("=" in p for p in parts):
        raise BadInput("--redis-url", "give one Redis URL, or REGION=URL for each of --dynamodb-regions' regions")
    urls = dict(p.split("=", 1) for p in parts)
    for region, url in urls.items():
        _check_redis_url(url.strip(), f"--redis-url ({region})")
    return next(iter(urls.values())), {k.strip(): v.strip() for k, v in urls.items()}


def region_settings(ns, backends, strategies, redis_url: str, per_region: dict, endpoint: str) -> RegionSettings:
    text = str(getattr(ns, "dynamodb_regions", "") or "").strip()
    remedies = [s for s in strategies if s in REGION_VARIANTS]
    home = str(getattr(ns, "home_region", "") or "").strip()
    lag = str(getattr(ns, "replication_lag", "") or "").strip()
    if not text:
        for flag, value in (("--home-region", home), ("--replication-lag", lag)):
            if value:
                raise BadInput(flag, "is for a global table's run: give --dynamodb-regions too (or drop it)")
        if per_region:
            raise BadInput("--redis-url", "REGION=URL is for a global table's run: give --dynamodb-regions too, "
                                          "or one Redis URL")
        if remedies:
            raise BadInput("--strategies", f"{remedies[0]} is a remedy for a global table's regional caches: give "
                                           "--dynamodb-regions too (or drop it)")
        return RegionSettings()
    names = tuple(r.strip() for r in text.split(",") if r.strip())
    bad = [r for r in names if not re.fullmatch(REGION_NAME, r)]
    if bad or not 2 <= len(names) <= MAX_REGIONS or len(set(names)) < len(names):
        raise BadInput("--dynamodb-regions", f"{text!r}: give two or three different AWS regions, e.g. "
                                             "us-east-1,eu-west-1" + (f" ({bad[0]!r} is not a region name)" if bad
                                                                       else ""))
    if "dynamodb" not in backends:
        raise BadInput("--dynamodb-regions", "is where DynamoDB's users run: add dynamodb to --backend")
    if str(getattr(ns, "find_capacity", "") or "").strip():
        raise BadInput("--find-capacity", "does not search a global table's regions yet: run the capacity search "
                                          "without --dynamodb-regions, or fixed-load phases with it")
    if home and home not in names:
        raise BadInput("--home-region", f"{home!r} is not one of --dynamodb-regions ({', '.join(names)})")
    if endpoint == "aws":
        if lag:
            raise BadInput("--replication-lag", "only the embedded emulation injects a lag; on AWS the lag is what "
                                                "is measured: drop it")
    elif endpoint != "embedded":
        raise BadInput("--dynamodb-regions", f"runs on the embedded emulation (one DynamoDB Local per region) or on "
                                             f"aws (the global table's replicas), not one endpoint "
                                             f"({endpoint}): use --dynamodb-endpoint embedded or aws")
    else:
        from .stores.dynamodb_global import parse_lag

        lag = lag or "40ms"
        parse_lag(lag)  # BadInput naming --replication-lag
    if per_region:
        if set(per_region) != set(names):
            raise BadInput("--redis-url", f"give REGION=URL for each of {', '.join(names)} (and no other region)")
        urls = {n: per_region[n] for n in names}
    elif endpoint == "aws":
        raise BadInput("--redis-url", "on AWS each region reads its own Redis: give REGION=URL for each of "
                                      f"{', '.join(names)} (rediss://... for ElastiCache with TLS)")
    elif "+cluster://" in redis_url or redis_url.startswith("redis+sentinel://"):
        raise BadInput("--redis-url", "one URL gives each region a database of its own, which a Redis cluster "
                                      "(database 0 only) or a sentinel URL does not number: give REGION=URL for "
                                      f"each of {', '.join(names)}")
    else:
        urls = {n: database(redis_url, i) for i, n in enumerate(names)}
    return RegionSettings(names, home, lag, urls)


def database(url: str, offset: int) -> str:
    """`url` with its database number moved on by `offset` (redis://h:6379/0 -> redis://h:6379/1): one
    Redis server holds every region's cache apart, the embedded emulation's default."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    db = (int(path) if path.isdigit() else 0) + offset
    if db > LAST_DB:
        raise BadInput("--redis-url", f"one URL gives each region its own database after /{db - offset}, and "
                                      f"there are {LAST_DB + 1}: start from a lower one or give REGION=URL for "
                                      "each region")
    return urlunsplit(parts._replace(path=f"/{db}"))
