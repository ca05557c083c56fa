"""Where the servers are: MySQL and Redis URLs (passwords, redaction), the DynamoDB endpoint.

Plain Python. Every URL shown anywhere goes through redact_url first.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import ClassVar
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .optbase import BadInput

DYNAMODB_MODES = ("embedded", "aws")


@dataclass(frozen=True)
class DatabaseTarget:
    """A SQL database to connect to; `SCHEME` names its URLs (the password never in them when shown)."""
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    database: str
    ssl_ca: str = ""
    iam_region: str = ""  # set: log in with an RDS IAM token made for this region
    # a primary and its standbys (a URL of several hosts, the first the primary as given): connections go to
    # the one that is writable, as an RDS Multi-AZ endpoint follows a failover (stores/mysql.connect)
    hosts: tuple = ()
    SCHEME: ClassVar[str] = ""

    def redacted(self) -> str:
        pw = ":***" if self.password else ""
        where = ",".join(f"{h}:{p}" for h, p in self.hosts) if self.hosts else f"{self.host}:{self.port}"
        return f"{self.SCHEME}://{quote(self.user)}{pw}@{where}/{self.database}"


@dataclass(frozen=True)
class MySQLTarget(DatabaseTarget):
    SCHEME: ClassVar[str] = "mysql"


def parse_mysql_url(url: str, password: str = "", option: str = "--mysql-url") -> MySQLTarget:
    """mysql://user:password@host:port/db; several hosts (host:port,host:port) name a primary and its standbys."""
    parts = urlsplit(url)
    _check_userinfo(option, url, parts, "--mysql-password or CACHESWARM_MYSQL_PASSWORD")
    userinfo, at, hostlist = parts.netloc.rpartition("@")
    if "," in hostlist:
        hosts = tuple(_host_port(option, url, h) for h in hostlist.split(","))
        if len(set(hosts)) != len(hosts):
            raise BadInput(option, f"{redact_url(url)!r} names a host twice; list the primary and each standby once")
        one = parse_mysql_url(urlunsplit(parts._replace(netloc=userinfo + at + "%s:%d" % hosts[0])), password, option)
        return replace(one, hosts=hosts)
    if parts.scheme not in ("mysql", "mariadb") or not parts.hostname:
        raise BadInput(option, f"{redact_url(url)!r} is not a MySQL URL; use mysql://user:password@host:3306/database")
    database = parts.path.lstrip("/")
    if not database or "/" in database:
        raise BadInput(option, f"{redact_url(url)!r} names no database; end it with /<database>, e.g. /test")
    try:
        port = parts.port or 3306
    except ValueError:
        raise BadInput(option, f"{redact_url(url)!r} has a bad port; use host:3306") from None
    pw = password or os.environ.get("CACHESWARM_MYSQL_PASSWORD", "") or unquote(parts.password or "")
    return MySQLTarget(parts.hostname, port, unquote(parts.username or "root"), pw, database)


def _host_port(option: str, url: str, text: str) -> tuple[str, int]:
    host, colon, port = text.strip().rpartition(":")
    if not colon:
        host, port = text.strip(), "3306"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BadInput(option, f"{redact_url(url)!r}: {text!r} is not host:port; write host:3306,host:3307")
    return host.strip("[]"), int(port)


REDACTED = "***"
# scheme://userinfo@rest, userinfo up to the LAST '@' (so a password holding '/', '?', '#' or '@'
# that was not percent-encoded is still covered)
_USERINFO_GREEDY = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)(.*)@")


def redact_url(url: str, whole_userinfo: bool = False) -> str:
    """The URL with any password (or, with whole_userinfo, everything before '@') replaced by ***."""
    text = str(url)
    m = _USERINFO_GREEDY.match(text)
    if not m:
        return text
    user, colon, _ = m.group(2).partition(":")
    if whole_userinfo or (not colon and "/" in user):
        shown = REDACTED
    elif colon:
        shown = f"{user.split('/')[0]}:{REDACTED}"
    else:
        return text  # a user name alone is no secret
    return f"{m.group(1)}{shown}@{text[m.end():]}"


def _check_userinfo(option: str, url: str, parts, password_option: str) -> None:
    """A password holding '/', '?' or '#' ends the URL's host part early: say how to give it."""
    if "@" in (parts.path + parts.query + parts.fragment):
        raise BadInput(option, f"{redact_url(url)!r}: the password holds '/', '?' or '#'; percent-encode them "
                               f"(%2F, %3F, %23) or give the password with {password_option}")


def _check_redis_url(url: str, option: str = "--redis-url") -> None:
    if url.startswith("redis+sentinel://"):
        try:
            parse_sentinel(url)
        except ValueError as e:
            raise BadInput(option, f"{redact_url(url)!r}: {e}; write redis+sentinel://host:26379/SERVICE") from None
        return
    parts = urlsplit(url)
    _check_userinfo(option, url, parts, "--redis-password or CACHESWARM_REDIS_PASSWORD")
    if parts.scheme not in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster") or (
            parts.scheme != "unix" and not parts.hostname):
        raise BadInput(option, f"{redact_url(url)!r} is not a Redis URL; use redis://host:6379/0 or rediss://host:6379/0 "
                               "(a cluster: redis+cluster://host:6379)")
    try:
        parts.port
    except ValueError:
        raise BadInput(option, f"{redact_url(url)!r} has a bad port; use host:6379") from None
    db = parts.path.lstrip("/")
    if parts.scheme.endswith("+cluster") and db not in ("", "0"):
        raise BadInput(option, f"{redact_url(url)!r} names database {db}; a Redis cluster has only database 0: "
                               "drop the /" + db)
    if parts.scheme != "unix" and db and not (db.isdigit() and int(db) < 1_000_000):
        raise BadInput(option, f"{redact_url(url)!r} names database {db!r}; a Redis database is a number: "
                                      "end the URL with /0 (or /1, /2 ...)")


def parse_sentinel(url: str) -> tuple[list, str, int, str]:
    """redis+sentinel://[:password@]host:port[,host:port]/SERVICE[/db] -> ([(host, port)], service, db,
    password); ValueError saying what is wrong."""
    rest = url.split("://", 1)[1]
    netloc, _, path = rest.partition("/")
    password = ""
    if "@" in netloc:
        auth, netloc = netloc.rsplit("@", 1)
        password = unquote(auth.split(":", 1)[-1])
    hosts = []
    for item in netloc.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{item.strip() or '(nothing)'} is not host:port")
        hosts.append((host, int(port)))
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("it names no service: end it with /SERVICE (the name the sentinels monitor)")
    if db and not db.isdigit():
        raise ValueError(f"database {db!r} is not a number")
    return hosts, service, int(db or 0), password



def _region(ns) -> str:
    return (str(getattr(ns, "aws_region", "") or "") or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION") or "")


def _dynamodb_endpoint(value: str) -> str:
    value = value.strip()
    if value in DYNAMODB_MODES:
        return value
    parts = urlsplit(value)
    try:
        parts.port
    except ValueError:
        parts = None
    if "@" in value:
        raise BadInput("--dynamodb-endpoint", f"{redact_url(value, whole_userinfo=True)!r} holds credentials; "
                                              "leave them out of the URL and use AWS_ACCESS_KEY_ID / "
                                              "AWS_SECRET_ACCESS_KEY or AWS_PROFILE")
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadInput("--dynamodb-endpoint", f"{redact_url(value)!r} is not usable; use embedded, aws, "
                                              "or the URL of DynamoDB Local such as http://127.0.0.1:8000")
    return value.rstrip("/")


def check_dynamodb(conn: dict) -> None:
    """DynamoDB on real AWS needs a region (credentials are checked when connecting)."""
    if conn["dynamodb_endpoint"] == "aws" and not conn["aws_region"]:
        raise BadInput("--aws-region", "--dynamodb-endpoint aws needs a region: pass --aws-region or set AWS_REGION")
