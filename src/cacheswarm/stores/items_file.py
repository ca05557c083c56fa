"""--items-file: a JSON-lines file of the tutorial's items (one DynamoDB item per line).

Lines may be low-level DynamoDB JSON ({"PK": {"S": "REST#..."}, ...}) or plain JSON
({"PK": "REST#...", ...}). Review sort keys written with the original sample's `REVIEW#`
prefix (which sorts above `REST#` and breaks the summary query) are rewritten to `#REVIEW#`.
"""

from __future__ import annotations

import json
from decimal import Decimal

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_deserializer = TypeDeserializer()
TYPE_KEYS = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


class ItemsFileError(Exception):
    """The file cannot be loaded; str() names the line and the problem."""


def _typed(value) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in TYPE_KEYS


def read(path: str) -> list[dict]:
    """Every item of the file as a low-level DynamoDB item."""
    serializer = TypeSerializer()
    items = []
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise ItemsFileError(f"cannot read {path!r} ({e.strerror})") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line, parse_float=Decimal)
            except ValueError as e:
                raise ItemsFileError(f"{path}:{n} is not JSON ({e.msg})") from None
            if isinstance(doc, dict) and "Item" in doc and isinstance(doc["Item"], dict):
                doc = doc["Item"]  # {"Item": {...}} as `aws dynamodb put-item` takes it
            if not isinstance(doc, dict) or "PK" not in doc or "SK" not in doc:
                raise ItemsFileError(f"{path}:{n} is not an item with PK and SK")
            item = {k: (v if _typed(v) else serializer.serialize(v)) for k, v in doc.items()}
            if "S" not in item["PK"] or "S" not in item["SK"]:
                raise ItemsFileError(f"{path}:{n}: PK and SK must be strings")
            gsi1sk = item.get("GSI1SK", {}).get("S", "")
            if gsi1sk.startswith("REVIEW#"):
                item["GSI1SK"] = {"S": "#" + gsi1sk}
            items.append(item)
    if not items:
        raise ItemsFileError(f"{path!r} holds no items")
    return items


def plain(item: dict) -> dict:
    out = {k: _deserializer.deserialize(v) for k, v in item.items()}
    return {k: (int(v) if isinstance(v, Decimal) and v == v.to_integral_value() else v) for k, v in out.items()}


def split(items: list[dict]) -> tuple[list[dict], list[dict]]:
    """(restaurants in file order, reviews) as plain dicts."""
    rests, reviews = [], []
    for item in items:
        p = plain(item)
        if p["PK"].startswith("REST#") and p["PK"] == p["SK"]:
            p.setdefault("name", p["PK"][5:])
            rests.append(p)
        elif str(p.get("GSI1SK", "")).startswith("#REVIEW#"):
            p.setdefault("id", p["GSI1SK"][8:])
            p.setdefault("restaurant", str(p.get("GSI1PK", ""))[5:])
            p.setdefault("username", p["PK"][5:])
            reviews.append(p)
    return rests, reviews
