"""What every option module shares: the bad-input error, an option's declaration, value checks.

Plain Python; BadInput's text is the one line a user sees (exit code 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


class BadInput(Exception):
    """Bad option value: str(exc) is the one line shown to the user."""

    def __init__(self, option: str, message: str):
        super().__init__(f"{option}: {message}")
        self.option = option


@dataclass(frozen=True)
class Opt:
    flag: str
    default: object
    help: str
    kind: type = str
    secret: bool = False
    web_ui: bool = True
    choices: tuple = ()  # a drop-down in the web form (validated here, with our one-line error)

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def env_var(self) -> str:
        return "LOCUST_" + self.dest.upper()


def _choice(option: str, value: str, choices) -> str:
    value = str(value).strip()
    if value not in choices:
        raise BadInput(option, f"unknown value {value!r}; choose one of {', '.join(choices)}")
    return value


def _ranged(option: str, value, lo, hi, kind=float, lo_open=False, hi_open=False):
    try:
        v = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise BadInput(option, f"{value!r} is not a {'number' if kind is float else 'whole number'}") from None
    if kind is float and not math.isfinite(v):
        raise BadInput(option, f"{value!r} is not a finite number; give a plain number such as 0.5")
    bad_lo = v <= lo if lo_open else v < lo
    bad_hi = hi is not None and (v >= hi if hi_open else v > hi)
    if bad_lo or bad_hi:
        lo_s = f"greater than {lo}" if lo_open else f"at least {lo}"
        hi_s = "" if hi is None else (f" and less than {hi}" if hi_open else f" and at most {hi}")
        raise BadInput(option, f"{value} is out of range; use a value {lo_s}{hi_s}")
    return v


def _as_bool(value) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")
