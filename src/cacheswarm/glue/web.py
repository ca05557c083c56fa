"""The web UI: the start form without secrets, and a live tab of our microsecond histograms.

No Locust import: these work on Locust's WebUI object (its Flask app and template args).
"""

from __future__ import annotations

import json

from flask import request as flask_request

from .. import options
from ..options import BadInput
from ..targets import REDACTED
from ..report.live import LIVE_COLUMNS, live_rows

def restore_redacted(ns, startup: dict) -> None:
    """The web form shows URLs with the password as *** and secret fields empty; a form sent back
    with those values keeps the passwords the process started with."""
    if not startup:  # the first call (at init) records the options as given
        startup.update({d: getattr(ns, d, "") for d in (*options.URL_DESTS, *options.SECRET_DESTS)})
        return
    for dest, original in startup.items():
        value = getattr(ns, dest, "")
        if dest in options.SECRET_DESTS:
            if not value and original:
                setattr(ns, dest, original)
        elif value != original and value == options.redact_for_display(dest, original):
            setattr(ns, dest, original)
        elif REDACTED + "@" in str(value):
            raise BadInput("--" + dest.replace("_", "-"), "the password shows as *** on the web form; type it in "
                                                          "the URL again or give it with the password option")


def redact_web_form(web_ui) -> None:
    """Locust serialises every web-UI option's value into the start page (secret ones too): show
    URLs with the password as *** and secret fields empty (restore_redacted puts them back)."""
    update = web_ui.update_template_args

    def redact():
        for dest, field in (web_ui.template_args.get("extra_options") or {}).items():
            if dest in options.SECRET_DESTS:
                field["default_value"] = ""
            elif dest in options.URL_DESTS:
                field["default_value"] = options.redact_for_display(dest, field.get("default_value"))

    def update_and_redact():
        update()
        redact()

    web_ui.update_template_args = update_and_redact
    redact()
    # the page's options keep our order (the run's shape and objectives first, connections after)
    # instead of alphabetical JSON keys (Flask's provider and Jinja's tojson both sort by default)
    web_ui.app.json.sort_keys = False
    web_ui.app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}


WEB_TAB = "cacheswarm"


def install_web_tab(web_ui, live) -> None:
    """A 'cacheswarm live' tab: per phase our figures (µs precision, where Locust's own tables round
    to whole ms), hit ratio and the objectives' state so far; the report's path once written.
    `live()` -> (report so far or None, report directory or None). (No 'µs' in the tab title: the
    UI upper-cases tab titles, and an upper-case µ is a Greek capital mu, which reads as 'MS'.)"""
    web_ui.template_args["extended_tabs"] = [{"title": "cacheswarm live", "key": WEB_TAB}]
    web_ui.template_args["extended_tables"] = [
        {"key": WEB_TAB, "structure": [{"key": k, "title": t} for k, t in LIVE_COLUMNS]}]

    @web_ui.app.after_request
    def _add_our_stats(response):
        if flask_request.path != "/stats/requests" or not response.is_json:
            return response
        payload = response.get_json()
        payload["extended_stats"] = [{"key": WEB_TAB, "data": live_rows(*live())}]
        response.set_data(json.dumps(payload))
        return response
