"""Run many bad-input cases in one process, each through Locust's own parser (CLI arguments,
LOCUST_* variables, --config files) and cacheswarm's checks, exactly as `locust` runs them at init:
`python tests/bad_input_cases.py < cases.json` prints one JSON line per case, {"error": the line
`locust` would print, "exit": 2} or {"error": null} when the case was accepted.

tests/test_bad_input.py runs its cases here (one process instead of one Locust per case) and keeps a
few end to end, where exit code 2, no traceback and no spawn are checked on the real `locust`."""

from __future__ import annotations

import json
import os
import sys

from locust.argument_parser import get_parser

from cacheswarm import options
from cacheswarm.glue import run
from cacheswarm.lease import NamespaceBusy
from cacheswarm.runtime import Preflight


def run_case(args: list[str], env: dict) -> dict:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: v for k, v in env.items() if v is not None})
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
    try:
        parsed = get_parser(default_config_files=[]).parse_args(args)
        settings = options.settings_from(parsed)
        run.check_start(settings, parsed).close()
        return {"error": None}
    except (options.BadInput, Preflight, NamespaceBusy) as e:
        return {"error": f"cacheswarm: error: {e}", "exit": 2}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> int:
    for case in json.load(sys.stdin):
        print(json.dumps(run_case(case["args"], case.get("env") or {})), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
